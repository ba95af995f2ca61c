-- title: Requests of bots and unknown clients per day
-- description: A daily view (kept in the lake per day, recomputed when a day's files change or the enrichment data does) that clients/bots and clients/unknown_clients read: requests and bytes sent per day, bucket, user agent, requester (NULL when anonymous) and remote IP, for the requests whose user agent is a bot's (is_bot) or of no known family, not counting S3's own lines (unknown).
SELECT date, bucket, user_agent, requester, remote_ip,
       coalesce(ua_is_bot(user_agent), false) AS is_bot,
       ua_family(user_agent) IS NULL
         AND operation NOT LIKE 'S3.%'
         AND operation NOT IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET') AS unknown,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent
FROM logs
WHERE ua_is_bot(user_agent)
   OR (ua_family(user_agent) IS NULL
       AND operation NOT LIKE 'S3.%'
       AND operation NOT IN ('BATCH.DELETE.OBJECT', 'REST.COPY.OBJECT_GET'))
GROUP BY 1, 2, 3, 4, 5, 6, 7
