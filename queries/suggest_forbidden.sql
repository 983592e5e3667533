-- suggest_forbidden: per host, the remote addresses a suggestion's network must never cover: those of
-- its scans, exposures, ignored traffic and deliberately blocked flows (suggest_flows.sql's reasons).
-- Relations: suggest_flows. Parameters: none.
SELECT DISTINCT lower(host) AS host, family, rnum FROM suggest_flows WHERE reason IS NOT NULL
ORDER BY host, family, rnum
