-- title: Overview
-- description: Requests, bytes sent, the share of 4xx and 5xx responses, buckets, days and the first and last request in the range.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       CASE WHEN count(*) = 0 THEN 0.0
            ELSE CAST(sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS DOUBLE) / count(*)
       END AS error_rate,
       count(DISTINCT bucket) AS buckets,
       count(DISTINCT date) AS days,
       min(request_time) AS first_request,
       max(request_time) AS last_request
FROM logs
WHERE date BETWEEN $since AND $until
