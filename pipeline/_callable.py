"""Modules that can be called like their main function (``pipeline.suggest(...)`` = ``pipeline.suggest.suggest(...)``).

The public API names ``ingest`` and ``suggest`` are both a function and the module that
defines it.  Python sets the package attribute to the *module* whenever the module is
imported, so ``from pipeline import suggest`` could give either.  Making those modules
callable removes the difference: both spellings work, whatever was imported first.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def callable_module(name: str, function: Callable[..., Any]) -> None:
    """Let ``sys.modules[name](...)`` call ``function(...)``."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    CallableModule.__doc__ = function.__doc__
    sys.modules[name].__class__ = CallableModule
