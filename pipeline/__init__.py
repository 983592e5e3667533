"""ipsec-drops: which flows Windows IPSec filters and the Windows firewall drop, and why.

Library first: everything the command line does is a function here.

    >>> from pipeline import ingest, load_config, Warehouse
    >>> report = ingest(["exports/"], Warehouse("warehouse"), load_config("ipsec-drops.toml"))
    >>> report.total("drops_stored")

Data flow: ``readers`` -> ``extract`` -> ``warehouse`` (the ``drops`` dataset), and
``policy`` (netsh scripts -> model -> effective filters, ``analyse_script``), and
``correlate`` (DuckDB over both: ``flows``, ``explain``, ``sql``); suggestions and reports next.
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

if "pyarrow" not in _sys.modules:
    # Arrow allocates through mimalloc, which by default hands freed pages back to the OS
    # after 10 ms; ingestion frees and reallocates ~100 MB per block, so every block would
    # fault them in again (measured: 0.7 s of system time on a 1.3 GB export, 8% of the run).
    # Read when Arrow is first loaded, so only a process that loads Arrow through this package
    # (the CLI, a fresh notebook) is affected; an explicit setting wins.
    _os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")

from .config import Config, ConfigError, HostConfig, load_config, parse_config  # noqa: E402
from .correlate import explain, flows, sql  # noqa: E402
from .ingest import IngestReport, ingest  # noqa: E402
from .policy import PolicyAnalysis, analyse_script, decide  # noqa: E402
from .schema import DROPS_SCHEMA  # noqa: E402
from .warehouse import Warehouse, WarehouseLocked  # noqa: E402

__all__ = [
    "DROPS_SCHEMA",
    "Config",
    "ConfigError",
    "HostConfig",
    "IngestReport",
    "PolicyAnalysis",
    "Warehouse",
    "WarehouseLocked",
    "analyse_script",
    "decide",
    "explain",
    "flows",
    "ingest",
    "load_config",
    "parse_config",
    "sql",
]
