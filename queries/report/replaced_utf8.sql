-- title: Lines with replaced UTF-8
-- description: Records per day in which a text field held bytes that are not UTF-8 and were stored with U+FFFD replacement characters (the raw bytes of such a line are not kept), by bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, count(*) AS records
FROM logs
WHERE date BETWEEN $since AND $until
  AND strpos(concat_ws(' ', bucket_owner, bucket, remote_ip, requester, request_id, key, request_uri,
                       error_code, referer, user_agent, version_id, host_id, cipher_suite,
                       host_header, tls_version, access_point_arn, source_region, extra_fields),
             chr(65533)) > 0
GROUP BY 1, 2
ORDER BY 1, 2
