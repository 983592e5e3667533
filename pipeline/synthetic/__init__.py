"""Writers of realistic synthetic exports, for tests, the sample site and benchmarks.

We have no real Windows Server 2003 exports, so the readers are tested against files
built here from the cited format facts (shared/reference/log-formats.md): Log Parser
W3C/CSV exports of the System event log (:mod:`.logparser`) and pfirewall.log files
(:mod:`.pfirewall`).  Standard library only; everything streams record by record.
"""

from .logparser import (
    EVT_FIELDS,
    IPSEC_TEMPLATES,
    CSVWriter,
    EvtRecord,
    W3CWriter,
    expand_message,
    fold_message,
    format_timestamp,
    ipsec_block_mode,
    ipsec_count_drop,
    ipsec_packet_drop,
    other_event,
)
from .pfirewall import PFIREWALL_FIELDS, FirewallLine, PfirewallWriter

__all__ = [
    "EVT_FIELDS",
    "IPSEC_TEMPLATES",
    "PFIREWALL_FIELDS",
    "CSVWriter",
    "EvtRecord",
    "FirewallLine",
    "PfirewallWriter",
    "W3CWriter",
    "expand_message",
    "fold_message",
    "format_timestamp",
    "ipsec_block_mode",
    "ipsec_count_drop",
    "ipsec_packet_drop",
    "other_event",
]
