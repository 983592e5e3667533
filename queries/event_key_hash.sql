-- event_key_hash: the MD5 digest (hex) of each drop's identity text.
-- Answers: which stored event is this? Two rows with the same identity text
-- (host, log, record number; or host, line text, occurrence) get the same digest.
-- The 64-bit key stored in the warehouse is the digest's last 8 bytes read
-- little-endian, i.e. DuckDB's md5_number_lower(event_key); it is decoded from
-- the hex in numpy (keys.py) because md5_number_lower costs three times md5 in
-- DuckDB 2. MD5 is used because it is stable across versions (keys are persisted).
-- Parameters: a registered Arrow table `identities` with one string column `event_key`.
SELECT md5(event_key) AS digest
FROM identities
