-- title: Anonymous access
-- description: Requests without a requester (unauthenticated), per day, bucket, operation and status, excluding S3's own lifecycle lines.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, operation, http_status,
       count(*) AS requests, count(DISTINCT remote_ip) AS ips,
       coalesce(sum(bytes_sent), 0) AS bytes_sent
FROM logs
WHERE date BETWEEN $since AND $until
  AND requester IS NULL
  AND operation NOT LIKE 'S3.%'
GROUP BY 1, 2, 3, 4
ORDER BY date, requests DESC, bucket, operation, http_status
