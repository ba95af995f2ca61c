-- title: SigV2 clients
-- description: Requests signed with Signature Version 2, which AWS has deprecated, per bucket, requester and user agent.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket, requester, user_agent,
       sum(requests) AS requests, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM daily_sigv2
WHERE date BETWEEN $since AND $until
GROUP BY 1, 2, 3
ORDER BY requests DESC, bucket, requester, user_agent
