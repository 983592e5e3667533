-- flow_groups: the flows view summarised by one key, most packets first: how many flows, events and
-- packets each group holds, how many hosts, and when it was first and last seen.
-- Keys ($by): verdict; rule (host, rule, verdict: a rule name belongs to its host's policy); host;
--   port (direction, protocol and the service port: the local port of inbound flows, else the remote one);
--   remote-network (the remote's /24, or /64 for IPv6, from flow_networks).
-- Relations: flow_rows (rows of flows.sql), flow_networks(remote_ip, remote_network).
-- Parameters: $by.
SELECT
    CASE WHEN $by IN ('rule', 'host') THEN f.host END AS host,
    CASE WHEN $by = 'port' THEN f.direction END AS direction,
    CASE WHEN $by = 'port' THEN f.protocol END AS protocol,
    CASE WHEN $by = 'port' THEN coalesce(f.local_port, f.remote_port) END AS port,
    CASE WHEN $by = 'remote-network' THEN coalesce(n.remote_network, '(no address)') END AS remote_network,
    CASE WHEN $by = 'rule' THEN coalesce(f.rule, '(no rule)') END AS rule,
    CASE WHEN $by IN ('verdict', 'rule') THEN f.verdict END AS verdict,
    count(*)::BIGINT AS flows,
    sum(f.events)::BIGINT AS events,
    sum(f.packets)::BIGINT AS packets,
    count(DISTINCT f.host)::BIGINT AS hosts,
    count(DISTINCT f.remote_ip)::BIGINT AS remotes,
    min(f.first_seen) AS first_seen,
    max(f.last_seen) AS last_seen
FROM flow_rows f
LEFT JOIN flow_networks n ON n.remote_ip = f.remote_ip
GROUP BY ALL
ORDER BY packets DESC, events DESC, host, direction, protocol, port, remote_network, rule, verdict
