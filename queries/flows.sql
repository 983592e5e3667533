-- flows: which flows did each host drop, and which filter of the policy in force explains them?
-- One row per host, direction, protocol, local address and port, remote address and port,
-- and winning filter (a flow whose packets met different filters, e.g. across a policy change,
-- gives one row per filter). A port is kept only where it is the service port of its end (the
-- client's ephemeral port is NULL), so retries and scans from many source ports are one flow:
-- the service end is the packet's destination, unless the packet goes from a port below 1024
-- to one above (a service's reply).
-- Drops are grouped first (flow_tuples.sql, materialised once per session and period): the policy
-- is matched once per distinct 5-tuple, drop kind and snapshot, never per drop row, by
-- tuple_verdicts.sql (the winning filter and the verdict of each tuple; see there for the matching
-- rules and the verdicts); this query groups the judged tuples into flows.
-- Relations: tuple_verdicts (the view of tuple_verdicts.sql over flow_tuples, filters, judge_snapshots).
-- days_seen: the tuples' day bitmaps OR-ed per flow (`days`, the bitmap itself: bit i = day $day0 + i;
--   pipeline.correlate drops it from what it returns, and reads it for recurrence).
-- Parameters: $verdict (NULL = all), $top (NULL = all rows).
-- Engines: as flow_tuples.sql (Spark: days is the list of day numbers, not a bitmap).
WITH
judged AS (
    SELECT *,
           CASE WHEN k.local_ip = k.src_ip THEN k.src_port WHEN k.local_ip = k.dst_ip THEN k.dst_port
                WHEN k.direction = 'outbound' THEN k.src_port WHEN k.direction = 'inbound' THEN k.dst_port END AS lport,
           CASE WHEN k.local_ip = k.src_ip THEN k.dst_port WHEN k.local_ip = k.dst_ip THEN k.src_port
                WHEN k.direction = 'outbound' THEN k.dst_port WHEN k.direction = 'inbound' THEN k.src_port END AS rport,
           coalesce(k.local_ip = k.dst_ip, k.direction = 'inbound', false) AS k_local_is_dst,
           NOT coalesce(k.src_port < 1024 AND k.dst_port >= 1024, false) AS service_is_dst
    FROM tuple_verdicts k
),
ported AS (
    -- the service end is the packet's destination (a drop is nearly always of a first packet),
    -- unless the packet comes from a port below 1024 to one above (a service's reply)
    SELECT *,
           CASE WHEN lport IS NULL OR rport IS NULL OR k_local_is_dst = service_is_dst THEN lport END
               AS local_service_port,
           CASE WHEN lport IS NULL OR rport IS NULL OR k_local_is_dst <> service_is_dst THEN rport END
               AS remote_service_port
    FROM judged
),
flows AS (
    SELECT host, direction, protocol, local_ip, local_service_port AS local_port, remote_ip,
           remote_service_port AS remote_port,
           sum(packets)::BIGINT AS packets, sum(events)::BIGINT AS events, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, bit_count(bit_or(days)) AS days_seen, bit_or(days) AS days,  -- @spark: max(last_seen) AS last_seen, size(array_distinct(flatten(collect_list(days)))) AS days_seen, array_distinct(flatten(collect_list(days))) AS days,
           verdict, rule, filter_list, action, source_line,
           source_file, snapshot, weight, mirror,
           list_sort(list_distinct(flatten(list(wfp_ids)))) AS wfp_filter_ids,
           list_sort(list_distinct(list(drop_kind))) AS drop_kinds
    FROM ported
    GROUP BY host, direction, protocol, local_ip, local_service_port, remote_ip, remote_service_port,
             verdict, rule, filter_list, action, source_line, source_file, snapshot, weight, mirror
)
SELECT * FROM flows
WHERE $verdict IS NULL OR verdict = $verdict
ORDER BY packets DESC, events DESC, host, direction, protocol, local_ip, local_port, remote_ip, remote_port,
         first_seen
LIMIT $top
