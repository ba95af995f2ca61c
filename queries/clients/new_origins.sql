-- title: New countries and networks for a requester
-- description: Countries and networks (ASN) a requester was first seen from on a day after at least min_days days of its own earlier activity in the range: its trailing baseline did not hold them. A stolen key used from elsewhere looks like this. Needs an IP database (make geo-data or --geoip).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_days int 3 days of earlier activity a requester needs to have a baseline
WITH seen AS (
  -- From the daily view daily_origins (kept per day).
  SELECT requester, date, country, CAST(asn AS STRING) AS asn, as_name,
         sum(requests) AS requests
  FROM daily_origins
  WHERE date BETWEEN $since AND $until AND ip_class = 'public'
  GROUP BY 1, 2, 3, 4, 5
), tagged AS (
  -- Each row of seen three times: as its country, as its network, and as
  -- a day the requester was active (so seen is read once).
  SELECT s.requester, k.kind,
         CASE k.kind WHEN 'country' THEN s.country WHEN 'network' THEN s.asn END AS origin,
         CASE k.kind WHEN 'country' THEN s.country WHEN 'network' THEN s.as_name END AS detail,
         s.date, s.requests
  FROM seen s CROSS JOIN (VALUES ('country'), ('network'), ('day')) AS k(kind)
), ranked AS (
  -- The requester's active days before this one.
  SELECT requester, kind, origin, detail, date, requests,
         CAST(dense_rank() OVER (PARTITION BY requester ORDER BY date) AS BIGINT) - 1 AS days_before
  FROM tagged
), firsts AS (
  SELECT requester, kind, origin, max(detail) AS detail, min(date) AS first_seen,
         sum(requests) AS requests, min(days_before) AS days_before
  FROM ranked
  WHERE kind <> 'day' AND origin IS NOT NULL
  GROUP BY 1, 2, 3
)
SELECT first_seen, requester, kind, origin, detail, requests, days_before
FROM firsts
WHERE days_before > 0 AND days_before >= $min_days
ORDER BY first_seen, requester, kind, origin
