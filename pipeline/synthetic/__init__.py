"""Writers of realistic synthetic exports, for tests, the sample site and benchmarks.

We have no real Windows Server 2003 exports, so the readers are tested against files
built here from the cited format facts (shared/reference/log-formats.md): Log Parser
W3C/CSV exports of the System event log (:mod:`.logparser`), pfirewall.log files
(:mod:`.pfirewall`) and EVTX files read by both EVTX engines (:mod:`.evtx`).  Standard
library only; everything streams record by record.
"""

from .evtx import (
    ClassicEvent,
    EvtxWriter,
    ManifestEvent,
    classic_event,
    from_evt_record,
    ipsec_audit_drop,
    ipsec_system_event,
    logoff_event,
    logon_event,
    security_event,
    service_state_event,
    special_privileges_event,
    wfp_5152,
    wfp_5153,
    wfp_5157,
    wfp_5159,
    wfp_event,
)
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
    "ClassicEvent",
    "EvtRecord",
    "EvtxWriter",
    "FirewallLine",
    "ManifestEvent",
    "PfirewallWriter",
    "W3CWriter",
    "classic_event",
    "expand_message",
    "fold_message",
    "format_timestamp",
    "from_evt_record",
    "ipsec_audit_drop",
    "ipsec_block_mode",
    "ipsec_count_drop",
    "ipsec_packet_drop",
    "ipsec_system_event",
    "logoff_event",
    "logon_event",
    "other_event",
    "security_event",
    "service_state_event",
    "special_privileges_event",
    "wfp_5152",
    "wfp_5153",
    "wfp_5157",
    "wfp_5159",
    "wfp_event",
]
