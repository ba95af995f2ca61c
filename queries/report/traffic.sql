-- title: Requests and bytes over time by status class
-- description: Requests and bytes sent per hour or day (grain) and HTTP status class (2xx, 3xx, 4xx, 5xx; none when no status was logged).
-- daily: period
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: grain text day hour or day
WITH classes AS (
  -- Grouped by the status's hundreds first: the class's name is then
  -- written once per group, not once per request.
  SELECT date_trunc($grain, request_time) AS period, http_status / 100 AS class,
         count(*) AS requests,
         coalesce(sum(bytes_sent), 0) AS bytes_sent
  FROM logs
  WHERE date BETWEEN $since AND $until
  GROUP BY 1, 2
)
SELECT period,
       CASE WHEN class IS NULL THEN 'none'
            ELSE CAST(class AS STRING) || 'xx' END AS status_class,
       requests, bytes_sent
FROM classes
ORDER BY 1, 2
