-- title: New countries and networks for a requester
-- description: Countries and networks (ASN) a requester was first seen from on a day after at least min_days days of its own earlier activity in the range: its trailing baseline did not hold them. A stolen key used from elsewhere looks like this. Needs an IP database (make geo-data or --geoip).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_days int 3 days of earlier activity a requester needs to have a baseline
WITH seen AS (
  SELECT coalesce(requester, 'anonymous') AS requester, date,
         ip_country(remote_ip) AS country, CAST(ip_asn(remote_ip) AS STRING) AS asn,
         ip_as_name(remote_ip) AS as_name, count(*) AS requests
  FROM logs
  WHERE date BETWEEN $since AND $until AND ip_class(remote_ip) = 'public'
  GROUP BY 1, 2, 3, 4, 5
), origins AS (
  SELECT requester, 'country' AS kind, country AS origin, country AS detail, date, requests
  FROM seen WHERE country IS NOT NULL
  UNION ALL
  SELECT requester, 'network' AS kind, asn AS origin, as_name AS detail, date, requests
  FROM seen WHERE asn IS NOT NULL
), firsts AS (
  SELECT requester, kind, origin, max(detail) AS detail, min(date) AS first_seen, sum(requests) AS requests
  FROM origins
  GROUP BY 1, 2, 3
), history AS (
  SELECT DISTINCT requester, date FROM seen
)
SELECT f.first_seen, f.requester, f.kind, f.origin, f.detail, f.requests,
       count(h.date) AS days_before
FROM firsts f
JOIN history h ON h.requester = f.requester AND h.date < f.first_seen
GROUP BY 1, 2, 3, 4, 5, 6
HAVING count(h.date) >= $min_days
ORDER BY f.first_seen, f.requester, f.kind, f.origin
