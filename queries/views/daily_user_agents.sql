-- title: Requests per day and user agent
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/top_user_agents reads: requests, bytes sent and 4xx/5xx responses per day and user agent (NULL when none was logged).
SELECT date, user_agent,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
GROUP BY 1, 2
