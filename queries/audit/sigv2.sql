-- title: SigV2 clients
-- description: Requests signed with Signature Version 2, which AWS has deprecated, per bucket, requester and user agent.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket, coalesce(requester, 'anonymous') AS requester, user_agent,
       count(*) AS requests, min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE date BETWEEN $since AND $until
  AND signature_version = 'SigV2'
GROUP BY 1, 2, 3
ORDER BY requests DESC, bucket, requester, user_agent
