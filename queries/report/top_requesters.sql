-- title: Top requesters
-- description: The requesters with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT coalesce(requester, 'anonymous') AS requester,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
