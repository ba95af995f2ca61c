-- title: Throttling, server errors and latency by prefix
-- description: Per bucket, first key segment (prefix) and operation: requests, throttled requests (503 SlowDown), server errors (5xx), and the median and 99th percentile of total_time_ms (approximate percentiles).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket,
       CASE WHEN strpos(key, '/') > 0 THEN split_part(key, '/', 1) || '/' ELSE '' END AS prefix,
       operation,
       count(*) AS requests,
       sum(CASE WHEN http_status = 503 AND error_code = 'SlowDown' THEN 1 ELSE 0 END) AS throttled,
       sum(CASE WHEN http_status >= 500 THEN 1 ELSE 0 END) AS server_errors,
       approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY total_time_ms) AS p50_total_time_ms,
       approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY total_time_ms) AS p99_total_time_ms
FROM logs
WHERE date BETWEEN $since AND $until AND operation NOT LIKE 'S3.%'
GROUP BY 1, 2, 3
ORDER BY server_errors DESC, throttled DESC, requests DESC, bucket, prefix, operation
