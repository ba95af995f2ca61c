-- title: Requests by network (ASN)
-- description: Requests, bytes sent and requesters by the autonomous system of the remote address (ip_asn and ip_as_name: make geo-data or --geoip), for public addresses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT ip_asn(remote_ip) AS asn,
       ip_as_name(remote_ip) AS as_name,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       count(DISTINCT coalesce(requester, 'anonymous')) AS requesters
FROM logs
WHERE date BETWEEN $since AND $until AND ip_class(remote_ip) = 'public'
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
