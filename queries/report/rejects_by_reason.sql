-- title: Rejected lines by reason
-- description: Lines that could not be read as records, by reason code, with the objects they came from; the day is that of the log object's name (lines of objects named otherwise are always counted).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT reason,
       count(*) AS lines,
       count(DISTINCT source_file) AS objects
FROM rejects
WHERE coalesce(CAST(regexp_match(source_file, '(\d{4}-\d{2}-\d{2})-\d{2}-\d{2}-\d{2}-[0-9A-Za-z]+$')[1] AS DATE), $since)
      BETWEEN $since AND $until
GROUP BY 1
ORDER BY lines DESC, 1
