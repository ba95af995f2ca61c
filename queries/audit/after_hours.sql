-- title: Requests outside business hours
-- description: Requests by people and roles (not S3 itself) outside start_hour to end_hour (UTC hours, end exclusive) on weekdays, or at any time on weekends, per requester and bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: start_hour int 8 business hours start (UTC)
-- param: end_hour int 18 business hours end (UTC, exclusive)
-- From the daily view hourly_requesters (kept per day).
SELECT requester, bucket,
       sum(requests) AS requests,
       sum(CASE WHEN extract(dow FROM hour) IN (0, 6) THEN requests ELSE 0 END) AS on_weekends,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM hourly_requesters
WHERE date BETWEEN $since AND $until
  AND (extract(dow FROM hour) IN (0, 6)
       OR extract(hour FROM hour) < $start_hour
       OR extract(hour FROM hour) >= $end_hour)
GROUP BY 1, 2
ORDER BY requests DESC, requester, bucket
