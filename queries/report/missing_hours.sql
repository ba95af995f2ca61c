-- title: Possible missing deliveries
-- description: Hours whose record count falls far below their own trailing baseline (the mean of the 24 hours with records before them), and runs of hours without any record after an hour whose baseline is at least min_baseline, including the hours from the last record to the end of an until that is given (or to three hours before now, when that is earlier: AWS delivers most records within a few hours). AWS delivers server access logs best effort, so a gap can be lost logs rather than a quiet bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: ratio float 0.2 an hour under this share of its baseline is listed
-- param: min_baseline float 10 records an hour of baseline for an hour to be judged
WITH hours AS (
  SELECT hour, sum(requests) AS records
  FROM hourly_buckets
  WHERE date BETWEEN $since AND $until
  GROUP BY 1
), judged AS (
  SELECT hour, records,
         avg(records) OVER (ORDER BY hour ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) AS baseline,
         avg(records) OVER (ORDER BY hour ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS baseline_after,
         -- After the last hour with records: the end of the range, when
         -- the range has one (the logs stopping is the gap that matters
         -- most), but not the hours whose records may not be delivered yet.
         coalesce(lead(hour) OVER (ORDER BY hour),
                  CASE WHEN $until < DATE '9999-12-31' THEN
                    least(arrow_cast($until, 'Timestamp(Microsecond, Some("UTC"))') + INTERVAL '1 day',
                          arrow_cast(date_trunc('hour', now()), 'Timestamp(Microsecond, Some("UTC"))') - INTERVAL '3 hours')
                  END) AS next_hour
  FROM hours
)
SELECT hour AS start, 'low' AS kind, CAST(1 AS BIGINT) AS hours, records, baseline
FROM judged
WHERE baseline >= $min_baseline AND records < $ratio * baseline
UNION ALL
SELECT hour + INTERVAL '1 hour' AS start, 'no records' AS kind,
       CAST((to_unixtime(next_hour) - to_unixtime(hour)) / 3600 - 1 AS BIGINT) AS hours,
       CAST(0 AS BIGINT) AS records, baseline_after AS baseline
FROM judged
WHERE next_hour > hour + INTERVAL '1 hour' AND baseline_after >= $min_baseline
ORDER BY start, kind
