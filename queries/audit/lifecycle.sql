-- title: Lifecycle activity
-- description: What S3 lifecycle rules did (expirations, transitions, delete markers), per day, bucket and operation, with the objects' total size.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, operation, count(*) AS objects, coalesce(sum(object_size), 0) AS bytes
FROM logs
WHERE date BETWEEN $since AND $until
  AND (operation LIKE 'S3.EXPIRE.%' OR operation LIKE 'S3.TRANSITION%' OR operation LIKE 'S3.CREATE.DELETEMARKER%')
GROUP BY 1, 2, 3
ORDER BY date, bucket, operation
