-- title: Top key prefixes (first path segment)
-- description: The key prefixes (first path segment) with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_keys (kept per day).
SELECT CASE WHEN key IS NULL THEN '(no key)' WHEN strpos(key, '/') > 0 THEN split_part(key, '/', 1) || '/' ELSE '(top level)' END AS prefix,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent,
       sum(errors) AS errors
FROM daily_keys
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
