-- title: Presigned-URL use
-- description: Requests authenticated by query string (presigned URLs), per bucket, key and signer, with the expiry read from the URI (X-Amz-Expires, in seconds, for SigV4) and the number of distinct IPs that used the URL.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH by_ip AS (
  -- One row per address first: counting distinct addresses is then a
  -- count of rows (cheaper than a set per URL). From the daily view
  -- daily_presigned (kept per day).
  SELECT bucket, key, signer, remote_ip,
         sum(requests) AS requests,
         max(expires_secs) AS expires_secs,
         min(first_seen) AS first_seen, max(last_seen) AS last_seen
  FROM daily_presigned
  WHERE date BETWEEN $since AND $until
  GROUP BY 1, 2, 3, 4
)
SELECT bucket, key, signer,
       sum(requests) AS requests,
       count(remote_ip) AS distinct_ips,
       max(expires_secs) AS expires_secs,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM by_ip
GROUP BY 1, 2, 3
ORDER BY distinct_ips DESC, requests DESC, bucket, key, signer
