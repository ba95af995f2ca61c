-- title: Delivery lag and late records per day
-- description: Per day of the records: how long after the request its log object was written (delivery_time: the time in the object's name, SimplePrefix and PartitionedPrefix names with DeliveryTime), as the median and the largest lag in seconds, and how many records arrived in an object of a later day (late records). Records of objects named otherwise have no lag.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH delivered AS (
  SELECT date, request_time,
         delivery_time(source_file) AS delivered_at
  FROM logs
  WHERE date BETWEEN $since AND $until
)
SELECT date,
       count(*) AS records,
       median(to_unixtime(delivered_at) - to_unixtime(request_time)) AS median_lag_s,
       max(to_unixtime(delivered_at) - to_unixtime(request_time)) AS max_lag_s,
       sum(CASE WHEN CAST(delivered_at AS DATE) > date THEN 1 ELSE 0 END) AS late_records
FROM delivered
GROUP BY 1
ORDER BY 1
