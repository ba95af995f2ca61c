-- title: Top key prefixes (first path segment)
-- description: The key prefixes (first path segment) with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT CASE WHEN key IS NULL THEN '(no key)' WHEN strpos(key, '/') > 0 THEN split_part(key, '/', 1) || '/' ELSE '(top level)' END AS prefix,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
