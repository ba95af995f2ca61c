-- title: Data transfer out by destination (estimate)
-- description: Bytes sent per day and bucket by destination class: private (RFC 1918, carrier-grade NAT, IPv6 unique-local and loopback addresses: inside a network, not internet egress), aws (requests made by AWS services for you), internet (everything else), none (no address, such as lifecycle lines). With cloud IP ranges (--ip-ranges with AWS's ip-ranges.json), AWS addresses are classed too: cloudfront (origin fetches, free), aws_same_region (free; the bucket's region is the region parameter, else the one in the request's host header, else us-east-1) and aws_other_region (inter-region transfer); basis says which was used. An estimate: the logs are best effort and do not see VPC endpoints or CloudFront pricing.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: region text - the buckets' region ('-': from the host header, else us-east-1)
WITH requests AS (
  SELECT date, bucket, remote_ip, requester, bytes_sent,
         coalesce(nullif($region, '-'),
                  endpoint_region(host_header),
                  'us-east-1') AS bucket_region
  FROM logs
  WHERE date BETWEEN $since AND $until
)
SELECT date, bucket,
       CASE
         WHEN remote_ip IS NULL THEN 'none'
         WHEN ip_class(remote_ip) IN ('private', 'loopback', 'shared') THEN 'private'
         WHEN requester LIKE 'svc:%' OR requester = 'AmazonS3' THEN 'aws'
         WHEN ip_cloud_provider(remote_ip) = 'aws' AND ip_cloud_service(remote_ip) LIKE 'CLOUDFRONT%' THEN 'cloudfront'
         WHEN ip_cloud_provider(remote_ip) = 'aws' AND ip_cloud_region(remote_ip) = bucket_region THEN 'aws_same_region'
         WHEN ip_cloud_provider(remote_ip) = 'aws' AND ip_cloud_region(remote_ip) IS NOT NULL THEN 'aws_other_region'
         ELSE 'internet'
       END AS destination,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       CASE WHEN ip_ranges_loaded() THEN 'estimate, with IP ranges' ELSE 'estimate' END AS basis
FROM requests
GROUP BY 1, 2, 3
ORDER BY date, bucket, destination
