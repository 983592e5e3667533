-- tuple_verdicts: which filter of the policy in force decides each distinct tuple of the period, and the verdict.
-- One row per row of flow_tuples (its columns, `tid` included) with the winning filter's rule, filter_list,
-- action, source_file, source_line, weight and mirror (NULL when no filter matches) and the verdict.
-- The stage of flows.sql that judges (flows.sql groups these rows into flows); the report joins each
-- stored drop to its tuple's row (report_drops.sql), so a drop gets exactly the rule its flow shows.
-- Matching: a hash join on the filter's destination port, else its source port, else (port-less filters) on
-- an address block of one side of the filter: the /16 (IPv4) or /32 (IPv6) blocks its source or its
-- destination range covers, a side of at most 256 blocks, the one whose blocks hold fewer of the tuples
-- (not the host's own address, which most tuples share); a filter with no such side (e.g. any to any) on
-- the host's snapshot alone; a tuple with no address on the filter's side is joined without a block. The address ranges are then checked as 128-bit interval conditions (Spark: {hi, lo} structs,
-- blocks from their halves: the same blocks in another numbering). A what-if replay
-- judges the same tuples against other filters: judge_snapshots(host, snapshot) names the snapshot to
-- judge a host's tuples by instead of the one in force (empty: the policy in force).
-- Winner: the highest weight of the matching in-force filters (assigned policy of the local or
-- persistent store, active rule), as pipeline.policy.decide; an unknown protocol or port of a
-- drop (4283-4289, 4963...) matches only filters that leave it open, an unknown address any
-- (a drop with no address at all, 4292, matches none).
-- Verdicts: boot-or-block-mode (a 4292 event, or a drop within the boot window after one
--   that no block filter explains), no-policy (the host has no policy in force at the drop's
--   time: no snapshot in policy_periods), no-matching-filter (a policy, but no filter: default response),
--   blocked-by-rule (winner blocks), negotiation-required (winner negotiates; a clear-text,
--   auth or SPI kind, or any drop under a negotiate action without soft fallback),
--   permitted-by-policy (winner permits: this policy does not explain the drop).
-- Relations: flow_tuples (flow_tuples.sql's rows), filters (policy filter tables),
--   judge_snapshots(host, snapshot). Parameters: none (pipeline.correlate creates it as a view).
WITH
keyed AS (
    SELECT t.* EXCLUDE (snapshot), coalesce(j.snapshot, t.snapshot) AS snapshot
    FROM flow_tuples t
    LEFT JOIN judge_snapshots j ON lower(j.host) = lower(t.host)
),
live AS (
    SELECT f.*, row_number() OVER (ORDER BY f.host, f.snapshot, f.source_line, f.filter_index, f.mirror) AS fid,
           (f.src_lo.hi::UHUGEINT << 64) | f.src_lo.lo AS slo, (f.src_hi.hi::UHUGEINT << 64) | f.src_hi.lo AS shi,  -- @spark: ip_key(f.src_lo) AS slo, ip_key(f.src_hi) AS shi,
           (f.dst_lo.hi::UHUGEINT << 64) | f.dst_lo.lo AS dlo, (f.dst_hi.hi::UHUGEINT << 64) | f.dst_hi.lo AS dhi  -- @spark: ip_key(f.dst_lo) AS dlo, ip_key(f.dst_hi) AS dhi
    FROM filters f
    WHERE f.assigned AND f.rule_active AND f.store IN ('local', 'persistent') AND f.family IS NOT NULL
),
spans AS (
    -- port-less filters with the first and last block of each address range
    SELECT fid, host, snapshot, family, protocol, weight, slo, shi, dlo, dhi,
           CAST(CASE WHEN family = 4 THEN slo >> 16 ELSE slo >> 96 END AS BIGINT) AS sb0,  -- @spark: CASE WHEN family = 4 THEN shiftright(slo.lo, 16) ELSE shiftright(slo.hi, 32) END AS sb0,
           CAST(CASE WHEN family = 4 THEN shi >> 16 ELSE shi >> 96 END AS BIGINT) AS sb1,  -- @spark: CASE WHEN family = 4 THEN shiftright(shi.lo, 16) ELSE shiftright(shi.hi, 32) END AS sb1,
           CAST(CASE WHEN family = 4 THEN dlo >> 16 ELSE dlo >> 96 END AS BIGINT) AS db0,  -- @spark: CASE WHEN family = 4 THEN shiftright(dlo.lo, 16) ELSE shiftright(dlo.hi, 32) END AS db0,
           CAST(CASE WHEN family = 4 THEN dhi >> 16 ELSE dhi >> 96 END AS BIGINT) AS db1  -- @spark: CASE WHEN family = 4 THEN shiftright(dhi.lo, 16) ELSE shiftright(dhi.hi, 32) END AS db1
    FROM live
    WHERE dst_port IS NULL AND src_port IS NULL
),
side_blocks AS (
    -- the blocks of each side of a port-less filter that spans at most 256 of them
    SELECT fid, host, snapshot, family, 'src' AS side, unnest(range(sb0, sb1 + 1)) AS block FROM spans WHERE sb1 - sb0 < 256
    UNION ALL
    SELECT fid, host, snapshot, family, 'dst' AS side, unnest(range(db0, db1 + 1)) AS block FROM spans WHERE db1 - db0 < 256
),
blocked AS (
    -- the tuples with an address, with the blocks of their addresses
    SELECT tid, host, snapshot, family, protocol, s, d,
           CAST(CASE WHEN family = 4 THEN s >> 16 ELSE s >> 96 END AS BIGINT) AS sb,  -- @spark: CASE WHEN family = 4 THEN shiftright(s.lo, 16) ELSE shiftright(s.hi, 32) END AS sb,
           CAST(CASE WHEN family = 4 THEN d >> 16 ELSE d >> 96 END AS BIGINT) AS db  -- @spark: CASE WHEN family = 4 THEN shiftright(d.lo, 16) ELSE shiftright(d.hi, 32) END AS db
    FROM keyed
    WHERE s IS NOT NULL OR d IS NOT NULL
),
block_counts AS (
    -- how many tuples each block holds, on each side (the host's own address is one crowded block)
    SELECT 'src' AS side, host, snapshot, family, sb AS block, count(*) AS n FROM blocked GROUP BY ALL
    UNION ALL
    SELECT 'dst' AS side, host, snapshot, family, db AS block, count(*) AS n FROM blocked GROUP BY ALL
),
chosen AS (
    -- the side a filter is joined on: the one whose blocks hold fewer tuples (source on a tie)
    SELECT fid, arg_min(side, cost) AS side
    FROM (SELECT b.fid, b.side, sum(coalesce(c.n, 0)) * 2 + CASE WHEN b.side = 'src' THEN 0 ELSE 1 END AS cost
          FROM side_blocks b LEFT JOIN block_counts c ON c.side = b.side AND c.host = b.host
              AND c.snapshot = b.snapshot AND c.family = b.family AND c.block = b.block
          GROUP BY b.fid, b.side) costs
    GROUP BY fid
),
portless AS (
    -- 'any': neither side spans 256 blocks or fewer (e.g. any to any)
    SELECT s.*, coalesce(c.side, 'any') AS side FROM spans s LEFT JOIN chosen c ON c.fid = s.fid
),
portless_blocks AS (
    -- a row per block of the chosen side (at most 256 a filter)
    SELECT f.*, b.block FROM portless f JOIN side_blocks b ON b.fid = f.fid AND b.side = f.side
),
candidates AS (
    -- filters with a destination port: joined on it
    SELECT k.tid, f.fid, f.weight FROM keyed k JOIN live f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.dst_port = k.dst_port AND f.family = k.family
    WHERE (k.s IS NOT NULL OR k.d IS NOT NULL) AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol) AND (f.src_port IS NULL OR f.src_port = k.src_port)
    UNION ALL
    -- filters with a source port only: joined on it
    SELECT k.tid, f.fid, f.weight FROM keyed k JOIN live f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.src_port = k.src_port AND f.family = k.family
    WHERE f.dst_port IS NULL AND (k.s IS NOT NULL OR k.d IS NOT NULL)
      AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
    UNION ALL
    -- port-less filters of a narrow side: joined on the tuple's block of that side
    SELECT k.tid, f.fid, f.weight FROM blocked k JOIN portless_blocks f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.family = k.family AND f.block = k.sb
    WHERE f.side = 'src' AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi) AND k.s BETWEEN f.slo AND f.shi
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
    UNION ALL
    SELECT k.tid, f.fid, f.weight FROM blocked k JOIN portless_blocks f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.family = k.family AND f.block = k.db
    WHERE f.side = 'dst' AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND k.d BETWEEN f.dlo AND f.dhi
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
    UNION ALL
    -- port-less filters wide on both sides: joined on the host's snapshot
    SELECT k.tid, f.fid, f.weight FROM blocked k JOIN portless f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.family = k.family
    WHERE f.side = 'any'
      AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
    UNION ALL
    -- tuples with no address on the filter's narrow side (rare): joined on the host's snapshot
    SELECT k.tid, f.fid, f.weight FROM (SELECT * FROM blocked WHERE s IS NULL OR d IS NULL) k JOIN portless f
        ON f.host = k.host AND f.snapshot = k.snapshot AND f.family = k.family
    WHERE ((f.side = 'src' AND k.s IS NULL) OR (f.side = 'dst' AND k.d IS NULL))
      AND (k.s IS NULL OR k.s BETWEEN f.slo AND f.shi) AND (k.d IS NULL OR k.d BETWEEN f.dlo AND f.dhi)
      AND (f.protocol IS NULL OR f.protocol = k.protocol)
),
winners AS (
    SELECT tid, arg_max(fid, CAST(weight AS DECIMAL(38, 0)) * 4294967296 - fid) AS fid FROM candidates GROUP BY tid
)
SELECT k.*, f.rule, f.filter_list, f.action, f.source_file, f.source_line, f.weight, f.mirror,
       CASE
           WHEN k.drop_kind = 'block-mode' THEN 'boot-or-block-mode'
           WHEN k.boot AND f.action IS DISTINCT FROM 'block' THEN 'boot-or-block-mode'
           WHEN k.snapshot IS NULL THEN 'no-policy'
           WHEN f.fid IS NULL THEN 'no-matching-filter'
           WHEN f.action = 'block' THEN 'blocked-by-rule'
           WHEN f.action = 'negotiate' AND (NOT f.soft OR k.drop_kind IN (
               'bad-spi', 'clear-text-should-be-secured', 'auth-failed', 'invalid-syntax', 'bad-protocol-id',
               'ipsec-failed-unknown', 'negotiation-no-filter', 'ipsec-integrity-check-failed',
               'ipsec-replay-check-failed', 'ipsec-replay-sequence-too-low')) THEN 'negotiation-required'
           ELSE 'permitted-by-policy'
       END AS verdict
FROM keyed k LEFT JOIN winners w ON w.tid = k.tid LEFT JOIN live f ON f.fid = w.fid
