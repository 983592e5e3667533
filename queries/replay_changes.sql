-- replay_changes: which flows of some hosts their candidate policies open: per flow (5-tuple as the flows view
-- keys it), the events blocked before (suggest_before: the flows judged by the current policy) and after
-- (flows_result: the same tuples judged by the candidate), the rule that decides it after, and the
-- suggestion it belongs to (a candidate flow of suggest_flows.sql of the suggestion's service whose
-- remote is inside one of its networks, suggestion_ranges; NULL: opened beyond what was suggested).
-- A flow is blocked under every verdict but permitted-by-policy.
-- Relations: suggest_before, flows_result, suggest_flows, suggestion_ranges(host, kind, direction, protocol,
--   local_port, remote_port, suggestion, family, lo, hi: first and last address as text). ip_number() from macro_ip_number.sql.
-- Parameters: $hosts (lower-case host names).
WITH
b AS (
    SELECT host, direction, protocol, local_ip, local_port, remote_ip, remote_port,
           sum(events) FILTER (WHERE verdict <> 'permitted-by-policy')::BIGINT AS blocked
    FROM suggest_before WHERE list_contains($hosts, lower(host)) GROUP BY ALL
),
a AS (
    SELECT host, direction, protocol, local_ip, local_port, remote_ip, remote_port,
           coalesce(sum(events) FILTER (WHERE verdict <> 'permitted-by-policy'), 0)::BIGINT AS blocked,
           arg_max(rule, events) FILTER (WHERE verdict = 'permitted-by-policy') AS rule_after
    FROM flows_result WHERE list_contains($hosts, lower(host)) GROUP BY ALL
),
opened AS (
    SELECT b.*, coalesce(a.blocked, 0) AS blocked_after, a.rule_after,
           CASE WHEN contains(coalesce(b.remote_ip, ''), ':') THEN 6 ELSE 4 END AS family,
           (ip_number(b.remote_ip).hi::UHUGEINT << 64) | ip_number(b.remote_ip).lo AS rnum
    FROM b
    LEFT JOIN a ON a.host = b.host AND a.direction IS NOT DISTINCT FROM b.direction
        AND a.protocol IS NOT DISTINCT FROM b.protocol AND a.local_ip IS NOT DISTINCT FROM b.local_ip
        AND a.local_port IS NOT DISTINCT FROM b.local_port AND a.remote_ip IS NOT DISTINCT FROM b.remote_ip
        AND a.remote_port IS NOT DISTINCT FROM b.remote_port
    WHERE coalesce(b.blocked, 0) > coalesce(a.blocked, 0)
)
SELECT o.host, o.direction, o.protocol, o.local_ip, o.local_port, o.remote_ip, o.remote_port,
       o.blocked - o.blocked_after AS events, o.rule_after,
       CASE WHEN EXISTS (SELECT 1 FROM suggest_flows c WHERE c.reason IS NULL AND c.host = o.host
                         AND c.direction = o.direction AND c.protocol = o.protocol AND c.local_ip IS NOT DISTINCT FROM
                         o.local_ip AND c.local_port IS NOT DISTINCT FROM o.local_port AND c.remote_ip = o.remote_ip
                         AND c.remote_port IS NOT DISTINCT FROM o.remote_port) THEN s.suggestion END AS suggestion
FROM opened o
LEFT JOIN suggestion_ranges s ON lower(s.host) = lower(o.host) AND s.kind = 'ipsec' AND s.direction = o.direction
    AND s.protocol = o.protocol AND s.local_port IS NOT DISTINCT FROM o.local_port
    AND s.remote_port IS NOT DISTINCT FROM o.remote_port AND s.family = o.family
    AND o.rnum BETWEEN (ip_number(s.lo).hi::UHUGEINT << 64) | ip_number(s.lo).lo
                   AND (ip_number(s.hi).hi::UHUGEINT << 64) | ip_number(s.hi).lo
ORDER BY events DESC, o.remote_ip
