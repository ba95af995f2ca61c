-- title: Access-denied and authentication-failure spikes
-- description: 403 responses and AccessDenied, SignatureDoesNotMatch and InvalidAccessKeyId errors per hour, requester and IP, with at least min_failures in the hour.
-- daily: hour
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: min_failures int 1 failures in one hour to be listed
SELECT date_trunc('hour', request_time) AS hour, bucket,
       coalesce(requester, 'anonymous') AS requester, remote_ip,
       count(*) AS failures,
       sum(CASE WHEN error_code = 'AccessDenied' THEN 1 ELSE 0 END) AS access_denied,
       sum(CASE WHEN error_code = 'SignatureDoesNotMatch' THEN 1 ELSE 0 END) AS bad_signature,
       sum(CASE WHEN error_code = 'InvalidAccessKeyId' THEN 1 ELSE 0 END) AS bad_access_key
FROM logs
WHERE date BETWEEN $since AND $until
  AND (http_status = 403 OR error_code IN ('AccessDenied', 'SignatureDoesNotMatch', 'InvalidAccessKeyId'))
GROUP BY 1, 2, 3, 4
HAVING count(*) >= $min_failures
ORDER BY failures DESC, hour, bucket, requester, remote_ip
