-- snapshot_at: which policy snapshot of a host is in force at an instant?
-- Answers from policy_periods (config history, else the warehouse's current snapshot);
-- no row when the host has no period covering the instant.
-- Relations: policy_periods(host, snapshot, valid_from, valid_until, source_file).
-- Parameters: $host (case-insensitive), $at (TIMESTAMPTZ).
SELECT host, snapshot, valid_from, valid_until, source_file
FROM policy_periods
WHERE lower(host) = lower($host)
  AND (valid_from IS NULL OR $at >= valid_from)
  AND (valid_until IS NULL OR $at < valid_until)
