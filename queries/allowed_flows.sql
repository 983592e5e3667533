-- allowed_flows: the observed permitted flows and the filter of the policy in force that decides each, the
-- allowed dataset's flows view. One row per host, direction, protocol, local address and port, remote address
-- and port, and winning filter, with events, bytes (NULL: not logged), first/last seen, days seen, the allow
-- kinds and source formats, and `policy_blocks`: the policy says this traffic should have been blocked
-- (blocked-by-rule, or negotiation-required: it would have needed IPsec), yet it was seen permitted.
-- The tuples are judged by tuple_verdicts.sql (the drops' matcher) over allowed_tuples.sql's rows.
-- Relations: tuple_verdicts (the view of tuple_verdicts.sql over the allowed tuples, filters, judge_snapshots).
-- Parameters: $verdict (NULL = all), $top (NULL = all rows).
WITH
flows AS (
    SELECT host, direction, protocol, local_ip, local_port, remote_ip, remote_port,
           sum(events)::BIGINT AS events, sum(bytes)::BIGINT AS bytes, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, bit_count(bit_or(days)) AS days_seen, bit_or(days) AS days,
           verdict, rule, filter_list, action, source_line, source_file, snapshot, weight, mirror,
           list_sort(list_distinct(list(drop_kind))) AS allow_kinds,
           list_sort(list_distinct(flatten(list(source_formats)))) AS source_formats,
           verdict IN ('blocked-by-rule', 'negotiation-required') AS policy_blocks
    FROM tuple_verdicts
    GROUP BY host, direction, protocol, local_ip, local_port, remote_ip, remote_port,
             verdict, rule, filter_list, action, source_line, source_file, snapshot, weight, mirror
)
SELECT * FROM flows
WHERE $verdict IS NULL OR verdict = $verdict
ORDER BY events DESC, host, direction, protocol, local_ip, local_port, remote_ip, remote_port, first_seen
LIMIT $top
