-- allowed_days: the first and last day of the stored permitted traffic, as days since 1970-01-01.
-- Answers: the bounds of the per-flow day bitmaps of allowed_tuples.sql (bitstring_agg needs them as
-- constants); 0 and 0 when nothing is stored.
-- Relations: allowed (the allowed dataset with its Hive `date`). Parameters: none.
SELECT coalesce(min(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER)), 0) AS day0,
       coalesce(max(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER)), 0) AS day1
FROM allowed
