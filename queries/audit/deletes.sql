-- title: Who deleted or overwrote objects
-- description: Successful deletes (REST.DELETE.OBJECT, and each key of a multi-object delete, logged as BATCH.DELETE.OBJECT) and writes (PUT, COPY, completed multipart uploads) to a key already written earlier in the range, per day, bucket, requester and action.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH writes AS (
  SELECT date, bucket, key, requester, remote_ip, operation, request_time,
         row_number() OVER (PARTITION BY bucket, key ORDER BY request_time, source_file, source_line) AS nth
  FROM logs
  WHERE date BETWEEN $since AND $until
    AND http_status BETWEEN 200 AND 299
    AND operation IN ('REST.PUT.OBJECT', 'REST.COPY.OBJECT', 'REST.POST.UPLOAD',
                      'REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
)
SELECT date, bucket, coalesce(requester, 'anonymous') AS requester,
       CASE WHEN operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT') THEN 'delete' ELSE 'overwrite' END AS action,
       count(*) AS objects,
       count(DISTINCT remote_ip) AS ips,
       min(request_time) AS first_seen,
       max(request_time) AS last_seen
FROM writes
WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT') OR nth > 1
GROUP BY date, bucket, coalesce(requester, 'anonymous'), 4
ORDER BY date, objects DESC, bucket, requester, action
