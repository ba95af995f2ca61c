-- title: Requests per day by TLS version, signature version and host header
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/tls_versions reads: requests per day, TLS version, whether a host header was logged, signature version and whether the line is S3's own (an S3.* lifecycle line, a batch delete or a copy's companion, which report/tls_versions leaves out).
SELECT date, tls_version,
       host_header IS NOT NULL AS has_host_header,
       signature_version,
       operation LIKE 'S3.%' OR operation IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET') AS by_s3,
       count(*) AS requests
FROM logs
GROUP BY 1, 2, 3, 4, 5
