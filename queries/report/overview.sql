-- title: Overview
-- description: Requests, bytes sent, the share of 4xx and 5xx responses, buckets, days and the first and last request in the range.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT coalesce(sum(requests), 0) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       CASE WHEN coalesce(sum(requests), 0) = 0 THEN 0.0
            ELSE CAST(sum(errors) AS DOUBLE) / sum(requests)
       END AS error_rate,
       count(DISTINCT bucket) AS buckets,
       count(DISTINCT date) AS days,
       min(first_request) AS first_request,
       max(last_request) AS last_request
FROM hourly_buckets
WHERE date BETWEEN $since AND $until
