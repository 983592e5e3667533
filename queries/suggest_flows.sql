-- suggest_flows: the period's candidate flows for suggestions, each classified once, in SQL.
-- Candidates: a protocol and a remote address, and the verdict blocked-by-rule or no-matching-filter
-- (kind ipsec; advfirewall when every drop of the flow was made by the Windows Firewall and no IPSec
-- filter blocks it), or no-policy from the Windows Firewall (kind advfirewall).  reason (NULL: a
-- candidate): scan (the remote scanned the host: scan_remotes), ignored (the remote in an ignored
-- network, or an excluded service port), exposure (inbound from a public address to a risky port),
-- blocked-on-purpose (the blocking filter weighs at least what a single-address permit for the flow
-- would: permit_weights).  Checked in that order.  rnum is the remote as a 128-bit number.
-- Relations: flows_result (flows.sql's rows, with their `days` bitmaps), scan_remotes(host, remote_ip),
--   ignore_ranges(family, lo, hi), internal_ranges(family, lo, hi) (first and last address as text),
--   permit_weights(protocol, has_port, weight). ip_number() from macro_ip_number.sql.
-- Parameters: $firewall_kinds (drop kinds the Windows Firewall makes), $risky_ports, $excluded_ports.
WITH
ignored AS (
    SELECT family, (ip_number(lo).hi::UHUGEINT << 64) | ip_number(lo).lo AS lo,
           (ip_number(hi).hi::UHUGEINT << 64) | ip_number(hi).lo AS hi
    FROM ignore_ranges
),
internal AS (
    SELECT family, (ip_number(lo).hi::UHUGEINT << 64) | ip_number(lo).lo AS lo,
           (ip_number(hi).hi::UHUGEINT << 64) | ip_number(hi).lo AS hi
    FROM internal_ranges
),
f AS (
    SELECT r.*,
           CASE WHEN r.direction = 'inbound' THEN r.local_port ELSE r.remote_port END AS service_port,
           CASE WHEN contains(r.remote_ip, ':') THEN 6 ELSE 4 END AS family,
           (ip_number(r.remote_ip).hi::UHUGEINT << 64) | ip_number(r.remote_ip).lo AS rnum,
           coalesce(len(r.drop_kinds) > 0 AND list_has_all($firewall_kinds, r.drop_kinds), false) AS firewall_made
    FROM flows_result r
    WHERE r.verdict IN ('blocked-by-rule', 'no-matching-filter', 'no-policy')
      AND r.protocol IS NOT NULL AND r.remote_ip IS NOT NULL
),
k AS (
    SELECT *,
           CASE WHEN verdict = 'no-policy' THEN CASE WHEN firewall_made THEN 'advfirewall' END
                WHEN verdict = 'no-matching-filter' AND firewall_made THEN 'advfirewall'
                ELSE 'ipsec' END AS kind,
           EXISTS (SELECT 1 FROM internal n WHERE n.family = f.family AND f.rnum BETWEEN n.lo AND n.hi)
               AS internal,
           EXISTS (SELECT 1 FROM ignored n WHERE n.family = f.family AND f.rnum BETWEEN n.lo AND n.hi)
               AS in_ignored
    FROM f
)
SELECT k.* EXCLUDE (firewall_made),
       CASE WHEN s.remote_ip IS NOT NULL THEN 'scan'
            WHEN k.in_ignored OR list_contains($excluded_ports, k.service_port) THEN 'ignored'
            WHEN k.direction = 'inbound' AND list_contains($risky_ports, k.service_port) AND NOT k.internal
                THEN 'exposure'
            WHEN k.kind = 'ipsec' AND k.verdict = 'blocked-by-rule' AND k.weight >= w.weight
                THEN 'blocked-on-purpose'
       END AS reason
FROM k
LEFT JOIN scan_remotes s ON lower(s.host) = lower(k.host) AND s.remote_ip = k.remote_ip
LEFT JOIN permit_weights w ON w.protocol = k.protocol AND w.has_port = (k.service_port IS NOT NULL)
WHERE k.kind IS NOT NULL
