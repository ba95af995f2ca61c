-- title: New countries and networks for a requester
-- description: Countries and networks (ASN) a requester was first seen from on a day after at least min_days days of its own earlier activity in the range: its trailing baseline did not hold them. A stolen key used from elsewhere looks like this. Needs an IP database (make geo-data or --geoip).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_days int 3 days of earlier activity a requester needs to have a baseline
WITH seen AS (
  -- From the daily view daily_origins (kept per day), whose rows are
  -- already one per requester, day, country and network of a class.
  SELECT requester, date, country, CAST(asn AS STRING) AS asn, as_name, requests
  FROM daily_origins
  WHERE date BETWEEN $since AND $until AND ip_class = 'public'
), active AS (
  -- Each day a requester was active, with how many of its active days
  -- came before it.
  SELECT requester, date,
         CAST(row_number() OVER (PARTITION BY requester ORDER BY date) AS BIGINT) - 1 AS days_before
  FROM (SELECT DISTINCT requester, date FROM seen) AS days
), origins AS (
  SELECT requester, 'country' AS kind, country AS origin, country AS detail, date, requests
  FROM seen WHERE country IS NOT NULL
  UNION ALL
  SELECT requester, 'network', asn, as_name, date, requests
  FROM seen WHERE asn IS NOT NULL
), firsts AS (
  SELECT requester, kind, origin, max(detail) AS detail, min(date) AS first_seen,
         sum(requests) AS requests
  FROM origins
  GROUP BY 1, 2, 3
)
SELECT f.first_seen, f.requester, f.kind, f.origin, f.detail, f.requests, a.days_before
FROM firsts f
JOIN active a ON a.requester = f.requester AND a.date = f.first_seen
WHERE a.days_before > 0 AND a.days_before >= $min_days
ORDER BY first_seen, requester, kind, origin
