-- title: Presigned-URL use
-- description: Requests authenticated by query string (presigned URLs), per bucket, key and signer, with the expiry read from the URI (X-Amz-Expires, in seconds, for SigV4) and the number of distinct IPs that used the URL.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket, key, coalesce(requester, 'anonymous') AS signer,
       count(*) AS requests,
       count(DISTINCT remote_ip) AS distinct_ips,
       max(CAST(regexp_match(request_uri, 'X-Amz-Expires=([0-9]+)')[1] AS BIGINT)) AS expires_secs,
       min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE date BETWEEN $since AND $until
  AND authentication_type = 'QueryString'
GROUP BY 1, 2, 3
ORDER BY distinct_ips DESC, requests DESC, bucket, key, signer
