-- title: SigV2 requests per day, bucket, requester and user agent
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that audit/sigv2 reads: requests signed with Signature Version 2 per day, bucket, requester ('anonymous' when none) and user agent, with the first and last request time.
SELECT date, bucket, coalesce(requester, 'anonymous') AS requester, user_agent,
       count(*) AS requests,
       min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE signature_version = 'SigV2'
GROUP BY 1, 2, 3, 4
