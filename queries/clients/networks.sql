-- title: Requests by network (ASN)
-- description: Requests, bytes sent and requesters by the autonomous system of the remote address (ip_asn and ip_as_name: make geo-data or --geoip), for public addresses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_origins (kept per day).
SELECT asn, as_name,
       sum(requests) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       count(DISTINCT requester) AS requesters
FROM daily_origins
WHERE date BETWEEN $since AND $until AND ip_class = 'public'
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
