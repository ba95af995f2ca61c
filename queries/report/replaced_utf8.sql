-- title: Lines with replaced UTF-8
-- description: Records per day in which a text field held bytes that are not UTF-8 and were stored with U+FFFD replacement characters (the raw bytes of such a line are not kept), by bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, count(*) AS records
FROM logs
WHERE date BETWEEN $since AND $until
  AND (bucket_owner LIKE '%�%' OR bucket LIKE '%�%' OR remote_ip LIKE '%�%'
       OR requester LIKE '%�%' OR request_id LIKE '%�%' OR key LIKE '%�%'
       OR request_uri LIKE '%�%' OR error_code LIKE '%�%' OR referer LIKE '%�%'
       OR user_agent LIKE '%�%' OR version_id LIKE '%�%' OR host_id LIKE '%�%'
       OR cipher_suite LIKE '%�%' OR host_header LIKE '%�%' OR tls_version LIKE '%�%'
       OR access_point_arn LIKE '%�%' OR source_region LIKE '%�%' OR extra_fields LIKE '%�%')
GROUP BY 1, 2
ORDER BY 1, 2
