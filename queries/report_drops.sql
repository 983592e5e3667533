-- report_drops: the stored drops of one window (a day of a report) with the verdict and the deciding rule of each,
-- in time order per host.
-- Answers: which rule of the policy dropped this one packet? Exactly the rule its flow shows: each drop is
-- given the key of its tuple as flow_tuples.sql computes it (the policy snapshot in force at its time, from
-- policy_periods, and the boot flag: a 4292 of the period at most $boot_window seconds before it, cut short
-- by the next 4292) and joined to that tuple's judged row (report_verdicts: tuple_verdicts.sql's rows for
-- the period). The snapshot and boot steps repeat flow_tuples.sql's `picked`/`timed`; tests/test_report.py
-- checks that the drops' verdicts and rules add up to the flows' events.
-- local_port / remote_port: the drop's own ports of this host's end and of the peer (not service ports).
-- Relations: drops (with its Hive `date`), policy_periods, report_verdicts.
-- Parameters: $host (NULL = all, case-insensitive), $since / $until (the report's period, NULL = open; boots
--   outside it open no window, as in flows), $start / $end (the window, end exclusive), $boot_window (seconds).
WITH
period AS (
    SELECT d.* FROM drops d
    WHERE ($host IS NULL OR lower(d.host) = lower($host))
      AND ($since IS NULL OR d.event_time >= $since) AND ($until IS NULL OR d.event_time < $until)
      AND d.date >= CAST($start AS DATE) - 2 AND d.date <= CAST($end AS DATE) + 1
),
picked AS (
    SELECT * FROM period WHERE event_time >= $start AND event_time < $end
),
boot_windows AS (
    SELECT host, boot_time AS opens, boot_time + to_seconds(CAST($boot_window AS DOUBLE)) AS ends,
           lead(boot_time) OVER (PARTITION BY host ORDER BY boot_time) AS next_boot
    FROM (SELECT DISTINCT host, event_time AS boot_time FROM period
          WHERE drop_kind = 'block-mode' AND event_time < $end
            AND event_time >= $start - to_seconds(CAST($boot_window AS DOUBLE)))
),
timed AS (
    SELECT p.*, p2.snapshot, p.drop_kind = 'block-mode' OR b.host IS NOT NULL AS boot
    FROM picked p
    LEFT JOIN boot_windows b ON b.host = p.host AND p.event_time >= b.opens AND p.event_time <= b.ends
        AND (b.next_boot IS NULL OR p.event_time < b.next_boot)
    LEFT JOIN policy_periods p2 ON lower(p2.host) = lower(p.host)
        AND (p2.valid_from IS NULL OR p.event_time >= p2.valid_from)
        AND (p2.valid_until IS NULL OR p.event_time < p2.valid_until)
)
SELECT t.event_time, t.host, t.source_format, t.source_file, t.source_record, t.event_id, t.drop_kind, t.direction,
       t.protocol, t.src_ip, t.src_port, t.dst_ip, t.dst_port, t.local_ip, t.remote_ip,
       CASE WHEN t.local_ip = t.src_ip THEN t.src_port WHEN t.local_ip = t.dst_ip THEN t.dst_port
            WHEN t.direction = 'outbound' THEN t.src_port WHEN t.direction = 'inbound' THEN t.dst_port END AS local_port,
       CASE WHEN t.local_ip = t.src_ip THEN t.dst_port WHEN t.local_ip = t.dst_ip THEN t.src_port
            WHEN t.direction = 'outbound' THEN t.dst_port WHEN t.direction = 'inbound' THEN t.src_port END AS remote_port,
       t.packets, t.wfp_filter_id, t.wfp_layer, t.process_id, t.application, t.message,
       v.verdict, v.rule, v.filter_list, v.action, v.source_file AS policy_file, v.source_line AS policy_line
FROM timed t
LEFT JOIN (SELECT * FROM report_verdicts WHERE first_seen < $end AND last_seen >= $start) v  -- the window's tuples
    ON v.host = t.host AND v.snapshot IS NOT DISTINCT FROM t.snapshot
    AND v.drop_kind = t.drop_kind AND v.boot = t.boot
    AND v.direction IS NOT DISTINCT FROM t.direction AND v.protocol IS NOT DISTINCT FROM t.protocol
    AND v.src_ip IS NOT DISTINCT FROM t.src_ip AND v.src_port IS NOT DISTINCT FROM t.src_port
    AND v.dst_ip IS NOT DISTINCT FROM t.dst_ip AND v.dst_port IS NOT DISTINCT FROM t.dst_port
    AND v.local_ip IS NOT DISTINCT FROM t.local_ip AND v.remote_ip IS NOT DISTINCT FROM t.remote_ip
ORDER BY t.host, t.event_time, t.source_file, t.source_record
