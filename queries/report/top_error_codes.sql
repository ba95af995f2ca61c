-- title: Top error codes
-- description: The S3 error codes returned most often, with their HTTP status and the requesters that got them.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT error_code, http_status,
       sum(requests) AS requests,
       count(DISTINCT requester) AS requesters
FROM daily_errors
WHERE date BETWEEN $since AND $until
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
LIMIT 15
