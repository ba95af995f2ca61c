-- title: Presigned-URL requests per day, object, signer and address
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that audit/presigned_urls reads: requests authenticated by query string (presigned URLs) per day, bucket, key, signer ('anonymous' when none) and remote address, with the largest X-Amz-Expires seen and the first and last request.
SELECT date, bucket, key, coalesce(requester, 'anonymous') AS signer, remote_ip,
       count(*) AS requests,
       max(CAST(regexp_match(request_uri, 'X-Amz-Expires=([0-9]+)')[1] AS BIGINT)) AS expires_secs,
       min(request_time) AS first_seen, max(request_time) AS last_seen
FROM logs
WHERE authentication_type = 'QueryString'
GROUP BY 1, 2, 3, 4, 5
