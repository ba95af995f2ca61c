-- title: Lines with replaced UTF-8
-- description: Records per day in which a text field held bytes that are not UTF-8 and were stored with U+FFFD replacement characters (the raw bytes of such a line are not kept), by bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- From the daily view daily_requesters (kept per day).
SELECT date, bucket, sum(replaced_utf8) AS records
FROM daily_requesters
WHERE date BETWEEN $since AND $until
GROUP BY 1, 2
HAVING sum(replaced_utf8) > 0
ORDER BY 1, 2
