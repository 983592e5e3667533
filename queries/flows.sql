-- flows: which flows did each host drop, and which filter of the policy in force explains them?
-- One row per host, direction, protocol, local address and port, remote address and port,
-- and winning filter (a flow whose packets met different filters, e.g. across a policy change,
-- gives one row per filter). A port is kept only where it is the service port of its end (the
-- client's ephemeral port is NULL), so retries and scans from many source ports are one flow:
-- the service end is the packet's destination, unless the packet goes from a port below 1024
-- to one above (a service's reply).
-- Drops are grouped first (flow_tuples.sql, materialised once per session and period): the policy
-- is matched once per distinct 5-tuple, drop kind and snapshot, never per drop row; the match is a
-- hash join on the filter's port (or on the host for port-less filters) with the address ranges
-- as 128-bit interval conditions. A what-if replay judges the same tuples against other filters:
-- judge_snapshots(host, snapshot) names the snapshot to judge a host's tuples by instead of the
-- one in force (empty: the policy in force).
-- Winner: the highest weight of the matching in-force filters (assigned policy of the local or
-- persistent store, active rule), as pipeline.policy.decide; an unknown protocol or port of a
-- drop (4283-4289, 4963...) matches only filters that leave it open, an unknown address any
-- (a drop with no address at all, 4292, matches none).
-- Verdicts: boot-or-block-mode (a 4292 event, or a drop within $boot_window seconds after one
--   that no block filter explains), no-policy (the host has no policy in force at the drop's
--   time: no snapshot in policy_periods), no-matching-filter (a policy, but no filter: default response),
--   blocked-by-rule (winner blocks), negotiation-required (winner negotiates; a clear-text,
--   auth or SPI kind, or any drop under a negotiate action without soft fallback),
--   permitted-by-policy (winner permits: this policy does not explain the drop).
-- Relations: flow_tuples (flow_tuples.sql's rows), filters (policy filter tables),
--   judge_snapshots(host, snapshot) (see above).
-- days_seen: the tuples' day bitmaps OR-ed per flow (`days`, the bitmap itself: bit i = day $day0 + i;
--   pipeline.correlate drops it from what it returns, and reads it for recurrence).
-- Parameters: $verdict (NULL = all), $top (NULL = all rows).
WITH
keyed AS (
    SELECT t.* REPLACE (coalesce(j.snapshot, t.snapshot) AS snapshot)
    FROM flow_tuples t
    LEFT JOIN judge_snapshots j ON lower(j.host) = lower(t.host)
),
live AS (
    SELECT f.*, row_number() OVER (ORDER BY f.host, f.snapshot, f.source_line, f.filter_index, f.mirror) AS fid,
           (f.src_lo.hi::UHUGEINT << 64) | f.src_lo.lo AS slo, (f.src_hi.hi::UHUGEINT << 64) | f.src_hi.lo AS shi,
           (f.dst_lo.hi::UHUGEINT << 64) | f.dst_lo.lo AS dlo, (f.dst_hi.hi::UHUGEINT << 64) | f.dst_hi.lo AS dhi
    FROM filters f
    WHERE f.assigned AND f.rule_active AND f.store IN ('local', 'persistent') AND f.family IS NOT NULL
),
candidates AS (
    -- filters with a destination port: joined on it
    SELECT k.tid, f.fid, f.weight FROM keyed k JOIN live f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.dst_port = k.dst_port AND f.family = k.family
    WHERE (k.s IS NOT NULL OR k.d IS NOT NULL) AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol) AND (f.src_port IS NULL OR f.src_port = k.src_port)
    UNION ALL
    -- filters with a source port only: joined on it
    SELECT k.tid, f.fid, f.weight FROM keyed k JOIN live f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.src_port = k.src_port AND f.family = k.family
    WHERE f.dst_port IS NULL AND (k.s IS NOT NULL OR k.d IS NOT NULL)
      AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
    UNION ALL
    -- port-less filters: joined on the host's snapshot, address ranges as interval conditions
    SELECT k.tid, f.fid, f.weight FROM keyed k JOIN live f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.family = k.family
    WHERE f.dst_port IS NULL AND f.src_port IS NULL AND (k.s IS NOT NULL OR k.d IS NOT NULL)
      AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
),
winners AS (
    SELECT tid, arg_max(fid, weight::HUGEINT * 4294967296 - fid) AS fid FROM candidates GROUP BY tid
),
judged AS (
    SELECT k.*, f.rule, f.filter_list, f.action, f.source_file, f.source_line, f.weight, f.mirror,
           CASE
               WHEN k.drop_kind = 'block-mode' THEN 'boot-or-block-mode'
               WHEN k.boot AND f.action IS DISTINCT FROM 'block' THEN 'boot-or-block-mode'
               WHEN k.snapshot IS NULL THEN 'no-policy'
               WHEN f.fid IS NULL THEN 'no-matching-filter'
               WHEN f.action = 'block' THEN 'blocked-by-rule'
               WHEN f.action = 'negotiate' AND (NOT f.soft OR k.drop_kind IN (
                   'bad-spi', 'clear-text-should-be-secured', 'auth-failed', 'invalid-syntax', 'bad-protocol-id',
                   'ipsec-failed-unknown', 'negotiation-no-filter', 'ipsec-integrity-check-failed',
                   'ipsec-replay-check-failed', 'ipsec-replay-sequence-too-low')) THEN 'negotiation-required'
               ELSE 'permitted-by-policy'
           END AS verdict,
           CASE WHEN k.local_ip = k.src_ip THEN k.src_port WHEN k.local_ip = k.dst_ip THEN k.dst_port
                WHEN k.direction = 'outbound' THEN k.src_port WHEN k.direction = 'inbound' THEN k.dst_port END AS lport,
           CASE WHEN k.local_ip = k.src_ip THEN k.dst_port WHEN k.local_ip = k.dst_ip THEN k.src_port
                WHEN k.direction = 'outbound' THEN k.dst_port WHEN k.direction = 'inbound' THEN k.src_port END AS rport,
           coalesce(k.local_ip = k.dst_ip, k.direction = 'inbound', false) AS k_local_is_dst,
           NOT coalesce(k.src_port < 1024 AND k.dst_port >= 1024, false) AS service_is_dst
    FROM keyed k LEFT JOIN winners w ON w.tid = k.tid LEFT JOIN live f ON f.fid = w.fid
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
           max(last_seen) AS last_seen, bit_count(bit_or(days)) AS days_seen, bit_or(days) AS days,
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
