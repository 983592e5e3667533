-- host_newest: the newest stored observation of one host, permitted traffic or drop: where the window of
-- `policy lint --warehouse` ("the last N days") ends, so that it means the same on an archived warehouse.
-- Relations: allowed, drops. Parameters: $host (case-insensitive).
SELECT max(t) AS newest FROM (
    SELECT max(last_seen) AS t FROM allowed WHERE lower(host) = lower($host)
    UNION ALL
    SELECT max(event_time) AS t FROM drops WHERE lower(host) = lower($host)
)
