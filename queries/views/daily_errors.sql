-- title: Error responses per day, error code, status and requester
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/top_error_codes reads: requests per day, error code, HTTP status and requester ('anonymous' when none), for the requests that logged an error code.
SELECT date, error_code, http_status,
       coalesce(requester, 'anonymous') AS requester,
       count(*) AS requests
FROM logs
WHERE error_code IS NOT NULL
GROUP BY 1, 2, 3, 4
