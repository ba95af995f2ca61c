-- title: Requests by country
-- description: Requests, bytes sent and requesters by the country of the remote address (ip_country: make geo-data or --geoip; NULL without a database), with the address class for addresses no country holds (private, documentation, …).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_origins (kept per day).
SELECT coalesce(country, '(' || ip_class || ')') AS country,
       sum(requests) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       count(DISTINCT requester) AS requesters
FROM daily_origins
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
