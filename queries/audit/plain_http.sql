-- title: Plain-HTTP requests (no TLS)
-- description: Requests from records that carry the TLS field (24 fields or more) with no TLS version, per day, bucket, requester and IP. Lifecycle, batch-delete and copy-GET lines carry '-' there and are left out.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, coalesce(requester, 'anonymous') AS requester, remote_ip,
       count(*) AS requests
FROM logs
WHERE date BETWEEN $since AND $until
  AND host_header IS NOT NULL
  AND tls_version IS NULL
  AND operation NOT LIKE 'S3.%'
  AND operation NOT IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET')
GROUP BY 1, 2, 3, 4
ORDER BY date, requests DESC, bucket, requester, remote_ip
