-- flow_tuples: the stored drops of the period grouped into distinct tuples, the stage of flows.sql
-- that reads the drops (the policy is matched afterwards, once per tuple, by flows.sql).
-- One row per host, policy snapshot in force, direction, protocol, source and destination
-- address and port, local and remote address, drop kind and boot flag, with packets, events,
-- first/last seen, a bitmap of the days seen and the WFP filter ids; `tid` numbers the rows,
-- `s`/`d` are the addresses as 128-bit numbers (UHUGEINT; on Spark, which has no 128-bit integer,
-- ip_key(ip_number()): a struct {hi, lo} of BIGINTs with the sign bit flipped, the same order compared
-- field by field) and `family` is 4 or 6.
-- Engines: DuckDB runs this file as it is; Spark runs it transpiled by sqlglot (pipeline/spark/sql.py),
-- a line ending in `-- @spark: TEXT` replaced by TEXT there (features with no portable form).
-- Boot windows: each 4292 (Block mode) opens a window of $boot_window seconds in which drops
-- are flagged `boot` (flows.sql puts those no block filter explains down to it).
-- The snapshot in force comes from policy_periods (NULL: the host had no policy then).
-- Relations: drops (with its Hive `date`), policy_periods(host, snapshot, valid_from, valid_until).
-- ip_number() comes from macro_ip_number.sql.
-- days: each tuple keeps a bitmap of its days ($day0..$day1 from drop_days.sql), OR-ed per flow by
-- flows.sql (a list of distinct dates cost twice as much on 10 M drops).
-- Memory: `picked` and `timed` are read by two steps each but never held: NOT MATERIALIZED streams the drops
-- into the grouping (materialised, they held every drop of the period: 2 GB at 10 M drops), so memory
-- follows the distinct tuples, not the drops (Spark, which materialises no CTE, needs no hint).
-- Parameters: $day0 / $day1 (days since 1970-01-01, from drop_days.sql), $host (NULL = all,
--   case-insensitive), $since / $until (TIMESTAMPTZ, NULL = open; until exclusive), $boot_window (seconds).
WITH
picked AS NOT MATERIALIZED (  -- @spark: picked AS (
    SELECT d.host, d.event_time, d.date, d.drop_kind, d.direction, d.protocol, d.src_ip, d.src_port,
           d.dst_ip, d.dst_port, d.local_ip, d.remote_ip, d.packets, d.wfp_filter_id
    FROM drops d
    WHERE ($host IS NULL OR lower(d.host) = lower($host))
      AND ($since IS NULL OR (d.event_time >= $since AND d.date >= CAST($since AS DATE) - 1))
      AND ($until IS NULL OR (d.event_time < $until AND d.date <= CAST($until AS DATE) + 1))
),
periods AS (
    -- the policy periods numbered: the drops are grouped by this number, the snapshot joined to the tuples
    -- afterwards (a short key per drop instead of the snapshot's text)
    SELECT *, row_number() OVER (ORDER BY host, valid_from NULLS FIRST, valid_until NULLS FIRST, snapshot NULLS FIRST,
                                 source_file NULLS FIRST) AS pid
    FROM policy_periods
),
boots AS (
    SELECT DISTINCT host, event_time AS boot_time FROM picked WHERE drop_kind = 'block-mode'
),
boot_windows AS (
    -- each 4292 opens a window of $boot_window seconds (end included), cut short by the next 4292:
    -- windows never overlap, so a drop meets at most one (a range join on a handful of rows)
    SELECT host, boot_time AS opens, boot_time + $boot_window * INTERVAL 1 SECOND AS ends,
           lead(boot_time) OVER (PARTITION BY host ORDER BY boot_time) AS next_boot
    FROM boots
),
timed AS NOT MATERIALIZED (  -- @spark: timed AS (
    SELECT p.*, p2.pid,
           p.drop_kind = 'block-mode' OR b.host IS NOT NULL AS boot
    FROM picked p
    LEFT JOIN boot_windows b ON b.host = p.host AND p.event_time >= b.opens AND p.event_time <= b.ends
        AND (b.next_boot IS NULL OR p.event_time < b.next_boot)
    LEFT JOIN periods p2 ON lower(p2.host) = lower(p.host)
        AND (p2.valid_from IS NULL OR p.event_time >= p2.valid_from)
        AND (p2.valid_until IS NULL OR p.event_time < p2.valid_until)
),
grouped AS (
    SELECT host, pid, direction, protocol, src_ip, src_port, dst_ip, dst_port, local_ip, remote_ip,
           drop_kind, boot,
           sum(packets) AS packets, count(*) AS events, min(event_time) AS first_seen,
           max(event_time) AS last_seen,
           bitstring_agg(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER), $day0, $day1) AS days,  -- @spark: collect_set(unix_date(date)) AS days,
           count(wfp_filter_id) > 0 AS has_wfp
    FROM timed
    GROUP BY ALL
),
wfp_lists AS (
    -- WFP filter ids, gathered only over the drops that have one (a list per tuple of every
    -- drop would cost more than the rest of the grouping)
    SELECT host, pid, direction, protocol, src_ip, src_port, dst_ip, dst_port, local_ip, remote_ip,
           drop_kind, boot, list(DISTINCT wfp_filter_id) AS wfp_ids
    FROM timed
    WHERE wfp_filter_id IS NOT NULL
    GROUP BY ALL
),
tuples AS (
    SELECT g.host, pp.snapshot, g.* EXCLUDE (host, pid, has_wfp), w.wfp_ids
    FROM grouped g
    LEFT JOIN periods pp ON pp.pid = g.pid
    LEFT JOIN wfp_lists w ON g.has_wfp AND w.host = g.host AND w.drop_kind = g.drop_kind
        AND w.pid IS NOT DISTINCT FROM g.pid AND w.boot IS NOT DISTINCT FROM g.boot
        AND w.direction IS NOT DISTINCT FROM g.direction AND w.protocol IS NOT DISTINCT FROM g.protocol
        AND w.src_ip IS NOT DISTINCT FROM g.src_ip AND w.src_port IS NOT DISTINCT FROM g.src_port
        AND w.dst_ip IS NOT DISTINCT FROM g.dst_ip AND w.dst_port IS NOT DISTINCT FROM g.dst_port
        AND w.local_ip IS NOT DISTINCT FROM g.local_ip AND w.remote_ip IS NOT DISTINCT FROM g.remote_ip
),
keyed AS (
    SELECT *, row_number() OVER () AS tid,  -- @spark: SELECT *, monotonically_increasing_id() AS tid,
           CASE WHEN contains(coalesce(src_ip, dst_ip, ''), ':') THEN 6 ELSE 4 END AS family,
           (ip_number(src_ip).hi::UHUGEINT << 64) | ip_number(src_ip).lo AS s,  -- @spark: ip_key(ip_number(src_ip)) AS s,
           (ip_number(dst_ip).hi::UHUGEINT << 64) | ip_number(dst_ip).lo AS d  -- @spark: ip_key(ip_number(dst_ip)) AS d
    FROM tuples
)
SELECT * FROM keyed
