-- allowed_tuples: the observed permitted traffic of the period as tuples for the policy matcher, the allowed
-- dataset's counterpart of flow_tuples.sql (same columns, so tuple_verdicts.sql judges both: one matcher,
-- two datasets). One row per host, policy snapshot in force, direction, protocol, local and remote address
-- and port, and allow kind, with events (also as `packets`), bytes, first/last seen, the bitmap of the days
-- seen and the source formats.
-- The packet a row stands for goes from the remote end to the local end when inbound (a bind, 5158, which
-- has no direction, counts as inbound: the host listens), from the local end to the remote end when
-- outbound. Its ports are the service ports the dataset keeps: the client's ephemeral port is NULL and
-- matches only filters that leave that port open. `drop_kind` holds the allow kind (never a clear-text or
-- negotiation kind) and `boot` is false. The snapshot in force is the one at the row's last_seen (a row
-- covers at most one UTC day).
-- Relations: allowed (with its Hive `date`), policy_periods(host, snapshot, valid_from, valid_until).
-- ip_number() comes from macro_ip_number.sql.
-- Parameters: $day0 / $day1 (days since 1970-01-01, from allowed_days.sql), $host (NULL = all,
--   case-insensitive), $since / $until (TIMESTAMPTZ, NULL = open; until exclusive).
WITH
picked AS (
    SELECT a.*, coalesce(a.direction, 'inbound') = 'outbound' AS outbound
    FROM allowed a
    WHERE ($host IS NULL OR lower(a.host) = lower($host))
      AND ($since IS NULL OR a.last_seen >= $since)
      AND ($until IS NULL OR a.first_seen < $until)
),
timed AS (
    SELECT p.*, p2.snapshot
    FROM picked p
    LEFT JOIN policy_periods p2 ON lower(p2.host) = lower(p.host)
        AND (p2.valid_from IS NULL OR p.last_seen >= p2.valid_from)
        AND (p2.valid_until IS NULL OR p.last_seen < p2.valid_until)
),
grouped AS (
    SELECT host, snapshot, direction, protocol,
           CASE WHEN outbound THEN local_ip ELSE remote_ip END AS src_ip,
           CASE WHEN outbound THEN local_port ELSE remote_port END AS src_port,
           CASE WHEN outbound THEN remote_ip ELSE local_ip END AS dst_ip,
           CASE WHEN outbound THEN remote_port ELSE local_port END AS dst_port,
           local_ip, remote_ip, local_port, remote_port, allow_kind AS drop_kind, false AS boot,
           sum(events)::BIGINT AS packets, sum(events)::BIGINT AS events, sum(bytes)::BIGINT AS bytes,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen,
           bitstring_agg(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER), $day0, $day1) AS days,
           list_sort(list_distinct(list(source_format))) AS source_formats,
           CAST(NULL AS BIGINT[]) AS wfp_ids
    FROM timed
    GROUP BY host, snapshot, direction, protocol, outbound, local_ip, local_port, remote_ip, remote_port, allow_kind
)
SELECT *, row_number() OVER () AS tid,
       CASE WHEN contains(coalesce(src_ip, dst_ip, ''), ':') THEN 6 ELSE 4 END AS family,
       (ip_number(src_ip).hi::UHUGEINT << 64) | ip_number(src_ip).lo AS s,
       (ip_number(dst_ip).hi::UHUGEINT << 64) | ip_number(dst_ip).lo AS d
FROM grouped
