-- scan_sources: which remote addresses scanned a host, i.e. touched at least $scan_ports distinct
-- local service ports of it (protocol and port) within one UTC day?
-- Answers: one row per host and scanning remote with the most ports it touched in a day, that day,
-- and the events of all its inbound drops. Only remotes that touched that many ports over the whole
-- period are looked at day by day (a tuple keeps a bitmap of its days, bit i = day $day0 + i).
-- Relations: flow_tuples (flow_tuples.sql's rows for the period). Parameters: $scan_ports, $day0.
WITH
inbound AS (
    SELECT host, remote_ip, protocol, dst_port AS port, days, events
    FROM flow_tuples
    WHERE direction = 'inbound' AND remote_ip IS NOT NULL AND dst_port IS NOT NULL
),
wide AS (
    SELECT host, remote_ip FROM inbound GROUP BY ALL HAVING count(DISTINCT (protocol, port)) >= $scan_ports
),
per_day AS (
    SELECT i.host, i.remote_ip, t.d AS day, count(DISTINCT (i.protocol, i.port)) AS ports
    FROM inbound i
    JOIN wide w ON w.host = i.host AND w.remote_ip = i.remote_ip
    CROSS JOIN unnest(list_filter(range(bit_length(i.days)), lambda x: get_bit(i.days, x::INTEGER) = 1)) AS t(d)
    GROUP BY ALL
),
scans AS (
    SELECT host, remote_ip, max(ports) AS ports, arg_max(day, ports) AS day
    FROM per_day WHERE ports >= $scan_ports GROUP BY ALL
)
SELECT s.host, s.remote_ip, s.ports, DATE '1970-01-01' + ($day0 + s.day)::INTEGER AS day,
       (SELECT sum(events) FROM inbound i WHERE i.host = s.host AND i.remote_ip = s.remote_ip)::BIGINT AS events
FROM scans s
ORDER BY s.host, s.ports DESC, s.remote_ip
