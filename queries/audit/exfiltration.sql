-- title: Possible exfiltration
-- description: Hours in which a requester (or, for anonymous requests, an IP) was sent more than factor times its own trailing baseline (the mean of its previous 24 active hours) and at least min_bytes. A principal's first hour has no baseline and is listed when over min_bytes.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: factor float 10 how many times the baseline
-- param: min_bytes int 1000000000 bytes in the hour, at least
WITH hourly AS (
  -- From the daily view hourly_principals (kept per day).
  SELECT principal, hour, bytes, requests
  FROM hourly_principals
  WHERE date BETWEEN $since AND $until
), scored AS (
  SELECT principal, hour, bytes, requests,
         avg(bytes) OVER (PARTITION BY principal ORDER BY hour ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) AS baseline
  FROM hourly
)
SELECT principal, hour, bytes, requests, CAST(baseline AS BIGINT) AS baseline_bytes,
       CASE WHEN baseline > 0 THEN bytes / baseline END AS ratio
FROM scored
WHERE bytes >= $min_bytes AND (baseline IS NULL OR bytes > $factor * baseline)
ORDER BY bytes DESC, principal, hour
