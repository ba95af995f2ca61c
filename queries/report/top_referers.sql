-- title: Top referers
-- description: The referers (the Referer header, as logged) with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT referer AS referer,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent,
       sum(errors) AS errors
FROM daily_referers
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
