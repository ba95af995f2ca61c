-- title: Data transfer out by destination (estimate)
-- description: Bytes sent per day and bucket by destination class: private (RFC 1918, carrier-grade NAT, IPv6 unique-local and loopback addresses: inside a network, not internet egress), aws (requests made by AWS services for you), internet (everything else), none (no address, such as lifecycle lines). An estimate: the logs are best effort and do not see VPC endpoints or CloudFront pricing.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket,
       CASE
         WHEN remote_ip IS NULL THEN 'none'
         WHEN remote_ip LIKE '10.%' OR remote_ip LIKE '192.168.%' OR remote_ip LIKE '127.%'
           OR regexp_like(remote_ip, '^172\.(1[6-9]|2[0-9]|3[01])\.')
           OR regexp_like(remote_ip, '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.')
           OR regexp_like(lower(remote_ip), '^f[cd][0-9a-f]{2}:') OR remote_ip = '::1'
           THEN 'private'
         WHEN requester LIKE 'svc:%' OR requester = 'AmazonS3' THEN 'aws'
         ELSE 'internet'
       END AS destination,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       'estimate' AS basis
FROM logs
WHERE date BETWEEN $since AND $until
GROUP BY 1, 2, 3
ORDER BY date, bucket, destination
