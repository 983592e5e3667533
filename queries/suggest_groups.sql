-- suggest_groups: the candidate flows of suggest_flows.sql (reason NULL) as one row per host, direction,
-- protocol, service port and kind: what a suggestion is made of.
-- Per group: its remotes (address, family, 128-bit number as hi and lo halves, internal or not, events, packets and the
-- days each was seen, as day numbers), the events and packets, the distinct UTC days (bit_count of the
-- OR of the flows' day bitmaps), first and last seen, the internal sources, and the rule that blocks
-- the most of its events today (or "no matching filter", "no policy").
-- Relations: suggest_flows. Parameters: $day0 (day number of bit 0 of the bitmaps).
WITH
per_remote AS (
    SELECT host, direction, protocol, local_port, remote_port, kind, remote_ip, family, rnum, internal,
           sum(events)::BIGINT AS events, sum(packets)::BIGINT AS packets, bit_or(days) AS days,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM suggest_flows WHERE reason IS NULL
    GROUP BY ALL
),
per_rule AS (
    SELECT host, direction, protocol, local_port, remote_port, kind, arg_max(label, (events, label)) AS blocked_by
    FROM (SELECT host, direction, protocol, local_port, remote_port, kind,
                 coalesce(rule, CASE WHEN verdict = 'no-policy' THEN 'no policy' ELSE 'no matching filter' END)
                     AS label,
                 sum(events) AS events
          FROM suggest_flows WHERE reason IS NULL GROUP BY ALL)
    GROUP BY ALL
)
SELECT p.host, p.direction, p.protocol, p.local_port, p.remote_port, p.kind,
       list({'ip': p.remote_ip, 'family': p.family, 'hi': (p.rnum >> 64)::UBIGINT, 'lo': (p.rnum & 18446744073709551615::UHUGEINT)::UBIGINT, 'internal': p.internal, 'events': p.events,
             'packets': p.packets,
             'days': list_transform(list_filter(range(bit_length(p.days)), lambda i: get_bit(p.days, i::INTEGER) = 1),
                                    lambda i: $day0 + i)} ORDER BY p.family, p.rnum) AS remotes,
       sum(p.events)::BIGINT AS events, sum(p.packets)::BIGINT AS packets, bit_count(bit_or(p.days)) AS days,
       min(p.first_seen) AS first_seen, max(p.last_seen) AS last_seen,
       count(*) FILTER (WHERE p.internal) AS internal_sources,
       any_value(r.blocked_by) AS blocked_by
FROM per_remote p
JOIN per_rule r ON r.host = p.host AND r.direction = p.direction AND r.protocol = p.protocol AND r.kind = p.kind
    AND r.local_port IS NOT DISTINCT FROM p.local_port AND r.remote_port IS NOT DISTINCT FROM p.remote_port
GROUP BY p.host, p.direction, p.protocol, p.local_port, p.remote_port, p.kind
ORDER BY events DESC, p.host, p.direction, coalesce(p.local_port, p.remote_port, 0)
