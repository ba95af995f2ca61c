-- title: TLS versions and plain HTTP
-- description: Requests by TLS version and signature version; plain HTTP is a request with a host header and no TLS version (as audit/plain_http counts it), and S3's own lines (lifecycle, batch deletes, copy companions) are left out.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT CASE WHEN tls_version IS NOT NULL THEN tls_version
            WHEN host_header IS NOT NULL THEN 'plain HTTP'
            ELSE 'not logged' END AS tls_version,
       coalesce(signature_version, 'none') AS signature_version,
       count(*) AS requests
FROM logs
WHERE date BETWEEN $since AND $until
  AND operation NOT LIKE 'S3.%'
  AND operation NOT IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET')
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
