-- blocked_drops: how many stored drops of some hosts the policy in force leaves blocked (every verdict
-- but permitted-by-policy), as the replay's "before" (suggest_before: the judged flows of the period).
-- Relations: suggest_before. Parameters: $hosts (lower-case host names).
SELECT sum(events) FILTER (WHERE verdict <> 'permitted-by-policy')::BIGINT AS blocked
FROM suggest_before WHERE list_contains($hosts, lower(host))
