-- title: TLS versions and plain HTTP
-- description: Requests by TLS version and signature version; plain HTTP is a request with a host header and no TLS version (as audit/plain_http counts it), and S3's own lines (lifecycle, batch deletes, copy companions) are left out.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_protocols (kept per day).
SELECT CASE WHEN tls_version IS NOT NULL THEN tls_version
            WHEN has_host_header THEN 'plain HTTP'
            ELSE 'not logged' END AS tls_version,
       coalesce(signature_version, 'none') AS signature_version,
       sum(requests) AS requests
FROM daily_protocols
WHERE date BETWEEN $since AND $until AND NOT by_s3
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
