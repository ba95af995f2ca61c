-- title: Access-point use
-- description: Requests made through an access point, per access point ARN, bucket, requester and operation.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT access_point_arn, bucket, coalesce(requester, 'anonymous') AS requester, operation,
       count(*) AS requests, coalesce(sum(bytes_sent), 0) AS bytes_sent
FROM logs
WHERE date BETWEEN $since AND $until AND access_point_arn IS NOT NULL
GROUP BY 1, 2, 3, 4
ORDER BY requests DESC, access_point_arn, bucket, requester, operation
