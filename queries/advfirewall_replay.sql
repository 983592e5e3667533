-- advfirewall_replay: which stored Windows Firewall drops each suggested `netsh advfirewall` rule would let
-- through.  The correlation does not model the Windows Firewall, so a rule's own criteria are matched:
-- the flows (suggest_before) of its host whose drops were all made by the firewall and are blocked, of
-- its direction and protocol, service port, and with the remote inside one of its networks.
-- suggestion is the rule; own tells the rule's own flows (candidates of its service, suggest_flows)
-- from others it would open too.
-- Relations: suggest_before, suggest_flows, suggestion_ranges. ip_number() from macro_ip_number.sql.
-- Parameters: $firewall_kinds.
WITH
fw AS (
    SELECT b.*, CASE WHEN contains(b.remote_ip, ':') THEN 6 ELSE 4 END AS family,
           (ip_number(b.remote_ip).hi::UHUGEINT << 64) | ip_number(b.remote_ip).lo AS rnum,
           CASE WHEN b.direction = 'inbound' THEN b.local_port ELSE b.remote_port END AS service_port
    FROM suggest_before b
    WHERE b.verdict <> 'permitted-by-policy' AND b.remote_ip IS NOT NULL AND len(b.drop_kinds) > 0
      AND list_has_all($firewall_kinds, b.drop_kinds)
)
SELECT s.suggestion, f.host, f.direction, f.protocol, f.local_ip, f.local_port, f.remote_ip, f.remote_port,
       sum(f.events)::BIGINT AS events,
       EXISTS (SELECT 1 FROM suggest_flows c WHERE c.reason IS NULL AND c.kind = 'advfirewall' AND c.host = f.host
               AND c.direction = f.direction AND c.protocol = f.protocol AND c.remote_ip = f.remote_ip
               AND c.local_port IS NOT DISTINCT FROM f.local_port AND c.remote_port IS NOT DISTINCT FROM f.remote_port)
           AS own
FROM fw f
JOIN suggestion_ranges s ON s.kind = 'advfirewall' AND lower(s.host) = lower(f.host) AND s.direction = f.direction
    AND s.protocol = f.protocol AND (s.service_port IS NULL OR s.service_port = f.service_port)
    AND s.family = f.family
    AND f.rnum BETWEEN (ip_number(s.lo).hi::UHUGEINT << 64) | ip_number(s.lo).lo
                   AND (ip_number(s.hi).hi::UHUGEINT << 64) | ip_number(s.hi).lo
GROUP BY ALL
ORDER BY s.suggestion, events DESC
