"""Modules imported on first use, so that ``ipsec-drops --help`` does not load Arrow or DuckDB.

Start-up time is what an admin feels on every command; pyarrow alone costs a quarter
of a second to import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports the module when an attribute is first used."""
    return _LazyModule(name)
