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
