-- title: Requests by price class (estimate)
-- description: Requests per day, bucket, prefix and requester by S3 price class. Tier 1: PUT, COPY, POST and LIST; Tier 2: GET, SELECT, HEAD and everything else; DELETE free (a multi-object delete counts once, as its POST; its BATCH.DELETE.OBJECT lines are not requests); not billed: copy-GET companions, 5xx responses and S3's own lifecycle lines. An estimate: AWS delivers these logs best effort.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH classified AS (
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
         END AS class
  FROM logs
  WHERE date BETWEEN $since AND $until
)
SELECT date, bucket, prefix, requester,
       sum(CASE WHEN class = 'tier1' THEN 1 ELSE 0 END) AS tier1_requests,
       sum(CASE WHEN class = 'tier2' THEN 1 ELSE 0 END) AS tier2_requests,
       sum(CASE WHEN class = 'free' THEN 1 ELSE 0 END) AS free_requests,
       sum(CASE WHEN class = 'not_billed' THEN 1 ELSE 0 END) AS not_billed,
       'estimate' AS basis
FROM classified
GROUP BY 1, 2, 3, 4
ORDER BY date, bucket, prefix, requester
