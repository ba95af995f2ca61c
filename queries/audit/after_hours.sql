-- title: Requests outside business hours
-- description: Requests by people and roles (not S3 itself) outside start_hour to end_hour (UTC hours, end exclusive) on weekdays, or at any time on weekends, per requester and bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: start_hour int 8 business hours start (UTC)
-- param: end_hour int 18 business hours end (UTC, exclusive)
SELECT coalesce(requester, 'anonymous') AS requester, bucket,
       count(*) AS requests,
       sum(CASE WHEN extract(dow FROM request_time) IN (0, 6) THEN 1 ELSE 0 END) AS on_weekends,
       min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE date BETWEEN $since AND $until
  AND operation NOT LIKE 'S3.%'
  AND (extract(dow FROM request_time) IN (0, 6)
       OR extract(hour FROM request_time) < $start_hour
       OR extract(hour FROM request_time) >= $end_hour)
GROUP BY 1, 2
ORDER BY requests DESC, requester, bucket
