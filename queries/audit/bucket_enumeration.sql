-- title: Bucket enumeration
-- description: Listing requests (REST.GET.BUCKET, ListObjects) per hour, bucket, requester and IP, with at least min_lists in the hour.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_lists int 1 listings in one hour to be listed
SELECT date_trunc('hour', request_time) AS hour, bucket,
       coalesce(requester, 'anonymous') AS requester, remote_ip,
       count(*) AS lists,
       sum(CASE WHEN http_status = 403 THEN 1 ELSE 0 END) AS denied
FROM logs
WHERE date BETWEEN $since AND $until AND operation = 'REST.GET.BUCKET'
GROUP BY 1, 2, 3, 4
HAVING count(*) >= $min_lists
ORDER BY lists DESC, hour, bucket, requester, remote_ip
