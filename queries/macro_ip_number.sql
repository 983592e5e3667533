-- macro_ip_number: ip_number(ip) is the 128-bit number of an address given as text, as
-- STRUCT(hi UBIGINT, lo UBIGINT) like the policy tables' address bounds (IPv4: its 32-bit
-- number in lo, hi = 0). Answers: where does a drop's address fall among the filter ranges?
-- IPv6 is expanded in SQL: '::' becomes the missing zero groups, a dotted IPv4 tail
-- ('::ffff:1.2.3.4') becomes two groups. NULL or '' gives NULL, and so does text that is not
-- an address (the warehouse holds canonical addresses only: this is a guard, not a parser).
-- Parameters: none. A macro, created once per connection by pipeline/correlate.py.
CREATE OR REPLACE TEMP MACRO ip_number(ip) AS (
    CASE
        WHEN ip IS NULL OR ip = '' THEN NULL
        WHEN NOT contains(ip, ':') THEN list_transform(
            [list_transform(string_split(ip, '.'), lambda x: TRY_CAST(x AS UBIGINT))],
            lambda p: CASE WHEN len(p) = 4 AND list_bool_and(list_transform(p, lambda x: coalesce(x <= 255, false)))
                      THEN {'hi': 0::UBIGINT, 'lo': (p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4]} END)[1]
        ELSE list_transform(
            -- the groups before and after '::' (or all of them), dotted IPv4 parts as two groups
            [list_transform(string_split(lower(ip), '::'), lambda part:
                CASE WHEN part = '' THEN []::VARCHAR[]
                     ELSE flatten(list_transform(string_split(part, ':'), lambda x:
                         CASE WHEN contains(x, '.') THEN list_transform(
                                  [list_transform(string_split(x, '.'), lambda y: TRY_CAST(y AS INTEGER))],
                                  lambda q: CASE WHEN len(q) = 4 AND list_bool_and(list_transform(q, lambda y: coalesce(y BETWEEN 0 AND 255, false)))
                                            THEN [printf('%x', q[1] * 256 + q[2]), printf('%x', q[3] * 256 + q[4])]
                                            ELSE ['not-an-address'] END)[1]
                              ELSE [x] END)) END)],
            lambda s: list_transform(
                [list_transform(
                    CASE WHEN len(s) = 1 THEN s[1]
                         WHEN len(s) = 2 AND len(s[1]) + len(s[2]) < 8
                         THEN list_concat(s[1], list_transform(range(8 - len(s[1]) - len(s[2])), lambda z: '0'), s[2]) END,
                    lambda x: CASE WHEN length(x) BETWEEN 1 AND 4 THEN TRY_CAST('0x' || x AS UBIGINT) END)],
                lambda g: CASE WHEN len(g) = 8 AND list_bool_and(list_transform(g, lambda x: x IS NOT NULL))
                          THEN {'hi': (g[1] << 48) | (g[2] << 32) | (g[3] << 16) | g[4],
                                'lo': (g[5] << 48) | (g[6] << 32) | (g[7] << 16) | g[8]} END)[1])[1]
    END
)
