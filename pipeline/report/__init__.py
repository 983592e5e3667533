"""Reports: the drops of a period as ISA Server logs, CSV for Excel, charts and a one-page summary.

:func:`write_report` writes, into ``out``, per host and per day of the period (days of the report's
zone: UTC unless ``tz``):

* ``<HOST>/IPPEXTD<yyyymmdd>.log`` — ISA Server 2000 packet filter log (:mod:`.isa`);
* ``<HOST>/ISALOG_<yyyymmdd>_FWS_000.w3c`` — ISA Server 2004/2006 Firewall log (:mod:`.isa`);
* ``drops-<yyyymmdd>.csv`` (every host), ``flows.csv``, ``suggestions.csv`` — CSV for Excel (:mod:`.tables`);
* ``charts/*.png`` (:mod:`.charts`) and ``report.html`` (:mod:`.html`).

``<HOST>`` is the host name as a safe file-name component (:func:`pipeline.policy.store.safe_name`).
The drops are read one day at a time (``queries/report_drops.sql``), each with the verdict and rule of
its flow, and streamed to the files of that day, so memory does not grow with the period.
"""

from __future__ import annotations

import importlib
from typing import Any

OUTPUTS = ("isa2000", "isa2004", "csv", "charts", "html")
ISA_STYLES = ("w3c", "native")


def __getattr__(name: str) -> Any:
    # The job (and Arrow, DuckDB, matplotlib with it) is imported on first use, so the command line's
    # --help does not pay for it.
    if name.startswith("__"):
        raise AttributeError(name)
    writer = importlib.import_module(".writer", __name__)
    try:
        value = getattr(writer, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value
