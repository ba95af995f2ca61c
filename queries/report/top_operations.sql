-- title: Top operations
-- description: The operations with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_requesters (kept per day).
SELECT operation AS operation,
       sum(requests) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(errors) AS errors
FROM daily_requesters
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
