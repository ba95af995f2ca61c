-- title: Top keys
-- description: The keys with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_keys (kept per day).
SELECT key,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent,
       sum(errors) AS errors
FROM daily_keys
WHERE date BETWEEN $since AND $until AND key IS NOT NULL
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
