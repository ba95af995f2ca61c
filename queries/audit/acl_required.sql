-- title: Requests that needed an ACL
-- description: Requests for which S3 needed an access control list to authorize (aclRequired = Yes), per bucket, requester and operation: what still depends on ACLs before they are disabled.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket, coalesce(requester, 'anonymous') AS requester, operation, count(*) AS requests
FROM logs
WHERE date BETWEEN $since AND $until AND acl_required
GROUP BY 1, 2, 3
ORDER BY requests DESC, bucket, requester, operation
