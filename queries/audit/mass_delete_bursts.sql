-- title: Mass-delete bursts
-- description: Requesters that deleted at least min_deletes objects in one hour (each key of a multi-object delete counts).
-- daily: hour
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_deletes int 100 deletes in one hour that make a burst
WITH by_ip AS (
  SELECT date_trunc('hour', request_time) AS hour, bucket,
         coalesce(requester, 'anonymous') AS requester, remote_ip,
         count(*) AS deletes
  FROM logs
  WHERE date BETWEEN $since AND $until
    AND operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
    AND http_status BETWEEN 200 AND 299
  GROUP BY 1, 2, 3, 4
)
SELECT hour, bucket, requester,
       sum(deletes) AS deletes, count(remote_ip) AS ips
FROM by_ip
GROUP BY 1, 2, 3
HAVING sum(deletes) >= $min_deletes
ORDER BY deletes DESC, hour, bucket, requester
