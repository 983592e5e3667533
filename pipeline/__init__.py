"""ipsec-drops: which flows Windows IPSec filters and the Windows firewall drop, and why.

Library first: everything the command line does is a function here, and the notebooks
use the same functions::

    from pipeline import Warehouse, ingest, load_config, open_warehouse
    report = ingest(["exports/"], Warehouse("warehouse"), load_config("ipsec-drops.toml"))
    inv = open_warehouse("warehouse", "ipsec-drops.toml")
    inv.flows(host="WEB01")

Data flow: ``readers`` -> ``extract`` -> ``warehouse`` (the ``drops`` dataset), and
``policy`` (netsh scripts -> model -> effective filters, ``analyse_script``), then
``correlate`` (DuckDB over both: ``flows``, ``explain``, ``sql``), ``suggest`` (permit
filters and their replay, ``whatif``), ``report`` and ``investigate`` (the notebook API).

The names below are imported when first used, so ``ipsec-drops --version`` starts without
loading DuckDB or Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Config": "config", "ConfigError": "config", "HostConfig": "config", "load_config": "config",
    "parse_config": "config",
    "explain": "correlate", "flows": "correlate", "sql": "correlate", "open_session": "correlate",
    "Session": "correlate",
    "IngestReport": "ingest", "ingest": "ingest",
    "PolicyAnalysis": "policy", "analyse_script": "policy", "decide": "policy",
    "DROPS_SCHEMA": "schema",
    "Warehouse": "warehouse", "WarehouseLocked": "warehouse",
    "suggest": "suggest", "whatif": "suggest",
    "Investigation": "investigate", "open_warehouse": "investigate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    imported = importlib.import_module(f".{module}", __name__)
    # ``suggest`` is the module (callable like its function: see pipeline._callable)
    value = imported if module == name else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from .config import Config, ConfigError, HostConfig, load_config, parse_config  # noqa: F401
    from .correlate import Session, explain, flows, open_session, sql  # noqa: F401
    from .ingest import IngestReport, ingest  # noqa: F401
    from .investigate import Investigation, open_warehouse  # noqa: F401
    from .policy import PolicyAnalysis, analyse_script, decide  # noqa: F401
    from .schema import DROPS_SCHEMA  # noqa: F401
    from .suggest import suggest, whatif  # noqa: F401
    from .warehouse import Warehouse, WarehouseLocked  # noqa: F401
