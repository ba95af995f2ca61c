-- title: Requests by price class and internet egress per day, bucket, prefix and requester
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that billing/cost_estimate reads (billing/requests_by_class computes the same classes from logs, in SQL other engines run too). Each request is classed as S3 prices it: tier1 (PUT, COPY, POST, LIST), tier2 (GET and the rest), free (DELETE) or not_billed (5xx responses, S3's own copies and batch deletes, S3.* lifecycle lines). internet_bytes is the bytes sent to addresses that are not private, not AWS services (svc:…, AmazonS3) and, with --ip-ranges, not AWS's. prefix is the key's first path segment with its slash ('' for a top-level key or none).
SELECT date, bucket, prefix, requester,
       sum(CASE WHEN class = 'tier1' THEN 1 ELSE 0 END) AS tier1_requests,
       sum(CASE WHEN class = 'tier2' THEN 1 ELSE 0 END) AS tier2_requests,
       sum(CASE WHEN class = 'free' THEN 1 ELSE 0 END) AS free_requests,
       sum(CASE WHEN class = 'not_billed' THEN 1 ELSE 0 END) AS not_billed,
       sum(internet_bytes) AS internet_bytes
FROM (
  SELECT date, bucket,
         CASE WHEN strpos(key, '/') > 0 THEN split_part(key, '/', 1) || '/' ELSE '' END AS prefix,
         coalesce(requester, 'anonymous') AS requester,
         CASE
           WHEN http_status >= 500 THEN 'not_billed'
           WHEN operation IN ('REST.COPY.OBJECT_GET', 'BATCH.DELETE.OBJECT') THEN 'not_billed'
           WHEN operation LIKE 'S3.%' THEN 'not_billed'
           WHEN operation LIKE 'REST.DELETE.%' OR operation = 'REST.POST.MULTI_OBJECT_DELETE' THEN 'free'
           WHEN operation LIKE 'REST.PUT.%' OR operation LIKE 'REST.COPY.%' OR operation LIKE 'REST.POST.%'
             OR operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS', 'REST.GET.UPLOADS', 'REST.GET.UPLOAD', 'REST.GET.SERVICE')
             THEN 'tier1'
           ELSE 'tier2'
         END AS class,
         CASE
           WHEN remote_ip IS NULL THEN 0
           WHEN ip_class(remote_ip) IN ('private', 'loopback', 'shared') THEN 0
           WHEN requester LIKE 'svc:%' OR requester = 'AmazonS3' THEN 0
           -- With --ip-ranges: AWS addresses are not internet egress
           -- (CloudFront origin fetches and same-region transfer are free;
           -- inter-region transfer is priced apart and not counted here).
           WHEN ip_cloud_provider(remote_ip) = 'aws' THEN 0
           ELSE coalesce(bytes_sent, 0)
         END AS internet_bytes
  FROM logs
) AS classified
GROUP BY date, bucket, prefix, requester
