-- title: Requests per day and referer
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/top_referers reads: requests, bytes sent and 4xx/5xx responses per day and referer, for the requests that logged one.
SELECT date, referer,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors
FROM logs
WHERE referer IS NOT NULL
GROUP BY 1, 2
