-- new_flows: which of the night's flows were never seen before?
-- A flow of the night (flows.sql over the days that received new drops, in the temp table
-- night_flows) is new when no stored drop of the same host, direction, protocol, local and
-- remote address came before its first appearance with its service port at that end (the
-- client's ephemeral port is NULL in a flow and matches any port), and it first appeared in
-- this run's drops (first_seen at or after the host's earliest new drop, `night_start`).
-- Answers the nightly summary's "new flows never seen before" per host; most packets first.
-- Relations: drops; night_flows(host, direction, protocol, local_ip, local_port, remote_ip,
--   remote_port, packets, first_seen, verdict, rule, night_start). Parameters: none.
SELECT f.*
FROM night_flows f
WHERE f.first_seen >= f.night_start
  AND NOT EXISTS (
    SELECT 1 FROM drops d
    WHERE lower(d.host) = lower(f.host)
      AND d.event_time < f.first_seen
      AND d.direction IS NOT DISTINCT FROM f.direction
      AND d.protocol IS NOT DISTINCT FROM f.protocol
      AND d.local_ip IS NOT DISTINCT FROM f.local_ip
      AND d.remote_ip IS NOT DISTINCT FROM f.remote_ip
      AND (f.local_port IS NULL OR f.local_port = d.src_port OR f.local_port = d.dst_port)
      AND (f.remote_port IS NULL OR f.remote_port = d.src_port OR f.remote_port = d.dst_port)
  )
ORDER BY f.host, f.packets DESC
