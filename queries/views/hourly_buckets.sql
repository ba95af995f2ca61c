-- title: Requests per hour and bucket
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/overview and report/missing_hours read: requests, bytes sent, 4xx/5xx responses and the first and last request time per hour and bucket.
SELECT date, date_trunc('hour', request_time) AS hour, bucket,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors,
       min(request_time) AS first_request,
       max(request_time) AS last_request
FROM logs
GROUP BY 1, 2, 3
