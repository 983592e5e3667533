-- suggest_refused: the flows of suggest_flows.sql that are never suggested, with their evidence.
-- Scans: one row per host and scanning remote (every flow of it), with the ports it touched in one
-- day and that day (scan_remotes).  Other reasons (ignored, exposure, blocked-on-purpose): one row
-- per host, reason, direction, protocol and service ports (and, for blocked-on-purpose, the rule and
-- its line).  remotes: most events first.
-- Relations: suggest_flows, scan_remotes(host, remote_ip, ports, day). Parameters: $excluded_ports.
WITH
tagged AS (
    SELECT f.*,
           CASE WHEN f.reason = 'scan' THEN NULL ELSE f.direction END AS g_direction,
           CASE WHEN f.reason = 'scan' THEN NULL ELSE f.protocol END AS g_protocol,
           CASE WHEN f.reason = 'scan' THEN NULL ELSE f.local_port END AS g_local_port,
           CASE WHEN f.reason = 'scan' THEN NULL ELSE f.remote_port END AS g_remote_port,
           CASE WHEN f.reason = 'scan' THEN f.remote_ip END AS g_scanner,
           CASE WHEN f.reason = 'blocked-on-purpose' THEN f.rule END AS g_rule,
           CASE WHEN f.reason = 'blocked-on-purpose' THEN f.source_line END AS g_line
    FROM suggest_flows f WHERE f.reason IS NOT NULL
),
per_remote AS (
    SELECT host, reason, g_direction, g_protocol, g_local_port, g_remote_port, g_scanner, g_rule, g_line,
           remote_ip, sum(events)::BIGINT AS events, sum(packets)::BIGINT AS packets, bit_or(days) AS days,
           bool_or(list_contains($excluded_ports, service_port)) AS excluded
    FROM tagged GROUP BY ALL
)
SELECT p.host, p.reason, coalesce(p.g_direction, CASE WHEN p.reason = 'scan' THEN 'inbound' END) AS direction,
       p.g_protocol AS protocol, p.g_local_port AS local_port, p.g_remote_port AS remote_port,
       list(p.remote_ip ORDER BY p.events DESC, p.remote_ip) AS remotes, sum(p.events)::BIGINT AS events,
       sum(p.packets)::BIGINT AS packets, bit_count(bit_or(p.days)) AS days,
       any_value(p.g_rule) AS rule, any_value(p.g_line) AS source_line, bool_or(p.excluded) AS excluded,
       any_value(s.ports) AS scan_ports, any_value(s.day) AS scan_day
FROM per_remote p
LEFT JOIN scan_remotes s ON p.reason = 'scan' AND lower(s.host) = lower(p.host) AND s.remote_ip = p.g_scanner
GROUP BY p.host, p.reason, p.g_direction, p.g_protocol, p.g_local_port, p.g_remote_port, p.g_scanner, p.g_rule,
         p.g_line
ORDER BY p.host, p.reason, events DESC
