-- explain: which filters of a host's policy match one packet, best first (like Batfish
-- testFilters / Aerleon aclcheck)? Every filter row of the snapshot in force at $at whose
-- addresses, protocol and ports match; in-force filters (assigned policy of the local or
-- persistent store, active rule) first, by weight (highest wins, as pipeline.policy.decide;
-- equal weights in script order), then the ones that would match but are not in force.
-- A NULL port matches only filters that leave that port open.
-- Relations: filters, policy_periods. ip_number() comes from macro_ip_number.sql.
-- Parameters: $host, $src, $dst (address text), $proto (NULL = unknown), $sport, $dport, $at.
WITH
snap AS (
    SELECT host, snapshot FROM policy_periods
    WHERE lower(host) = lower($host)
      AND (valid_from IS NULL OR $at >= valid_from) AND (valid_until IS NULL OR $at < valid_until)
),
packet AS (
    SELECT CASE WHEN contains($src, ':') THEN 6 ELSE 4 END AS family,
           (ip_number($src).hi::UHUGEINT << 64) | ip_number($src).lo AS s,
           (ip_number($dst).hi::UHUGEINT << 64) | ip_number($dst).lo AS d
)
SELECT (f.assigned AND f.rule_active AND f.store IN ('local', 'persistent')) AS in_force,
       f.rule, f.filter_list, f.filter_index, f.action, f.mirror, f.src, f.dst, f.src_mask, f.dst_mask,
       f.protocol, f.src_port, f.dst_port, f.weight, f.policy, f.store, f.assigned, f.rule_active,
       f.soft, f.inpass, f.description, f.source_file, f.source_line, f.snapshot
FROM filters f
JOIN snap ON f.host = snap.host AND f.snapshot = snap.snapshot
CROSS JOIN packet p
WHERE f.family = p.family
  AND p.s BETWEEN (f.src_lo.hi::UHUGEINT << 64) | f.src_lo.lo AND (f.src_hi.hi::UHUGEINT << 64) | f.src_hi.lo
  AND p.d BETWEEN (f.dst_lo.hi::UHUGEINT << 64) | f.dst_lo.lo AND (f.dst_hi.hi::UHUGEINT << 64) | f.dst_hi.lo
  AND (f.protocol IS NULL OR f.protocol = $proto)
  AND (f.src_port IS NULL OR f.src_port = $sport)
  AND (f.dst_port IS NULL OR f.dst_port = $dport)
ORDER BY in_force DESC, f.weight DESC, f.source_line, f.filter_index, f.mirror
