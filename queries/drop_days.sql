-- drop_days: the first and last day of the stored drops, as days since 1970-01-01.
-- Answers: the bounds of the per-flow day bitmaps of flows.sql (bitstring_agg needs them as
-- constants); 0 and 0 for an empty warehouse.
-- Relations: drops (the drops dataset with its Hive `date`). Parameters: none.
SELECT coalesce(min(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER)), 0) AS day0,
       coalesce(max(CAST(CAST(date AS DATE) - DATE '1970-01-01' AS INTEGER)), 0) AS day1
FROM drops
