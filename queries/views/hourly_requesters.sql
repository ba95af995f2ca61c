-- title: Requests per hour, requester and bucket
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that audit/after_hours reads: requests by people and roles (not S3's own S3.* lines) per day, hour, requester ('anonymous' when none) and bucket, with the first and last request.
SELECT date, date_trunc('hour', request_time) AS hour,
       coalesce(requester, 'anonymous') AS requester, bucket,
       count(*) AS requests,
       min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE operation NOT LIKE 'S3.%'
GROUP BY 1, 2, 3, 4
