-- event_key_hash: the 64-bit de-duplication key of each drop's identity text.
-- Answers: which stored event is this? Two rows with the same identity text
-- (host, log, record number; or host, line text, occurrence) get the same key.
-- MD5 is used because it is stable across DuckDB versions (keys are persisted).
-- Parameters: a registered Arrow table `identities` with one string column `event_key`.
SELECT md5_number_lower(event_key) AS key_hash
FROM identities
