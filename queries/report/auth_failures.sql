-- title: 403 and authentication failures over time
-- description: Responses with status 401 or 403, or an AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId or ExpiredToken error, per hour or day (grain) and error code.
-- daily: period
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: grain text day hour or day
SELECT date_trunc($grain, request_time) AS period,
       coalesce(error_code, CAST(http_status AS STRING), 'none') AS error_code,
       count(*) AS failures
FROM logs
WHERE date BETWEEN $since AND $until
  AND (http_status IN (401, 403)
       OR error_code IN ('AccessDenied', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'ExpiredToken'))
GROUP BY 1, 2
ORDER BY 1, 2
