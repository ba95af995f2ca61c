-- title: Requests per day, bucket, requester and operation
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that report/top_operations, report/replaced_utf8 and audit/cross_account read: requests, bytes sent, 4xx/5xx responses and records with replaced UTF-8 (a text field that held bytes that are not UTF-8, stored with U+FFFD) per day, bucket, requester (NULL when anonymous) and operation.
SELECT date, bucket, requester, operation,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent,
       sum(CASE WHEN http_status >= 400 THEN 1 ELSE 0 END) AS errors,
       sum(CASE WHEN bucket_owner LIKE '%�%' OR bucket LIKE '%�%' OR remote_ip LIKE '%�%'
                  OR requester LIKE '%�%' OR request_id LIKE '%�%' OR key LIKE '%�%'
                  OR request_uri LIKE '%�%' OR error_code LIKE '%�%' OR referer LIKE '%�%'
                  OR user_agent LIKE '%�%' OR version_id LIKE '%�%' OR host_id LIKE '%�%'
                  OR cipher_suite LIKE '%�%' OR host_header LIKE '%�%' OR tls_version LIKE '%�%'
                  OR access_point_arn LIKE '%�%' OR source_region LIKE '%�%' OR extra_fields LIKE '%�%'
                THEN 1 ELSE 0 END) AS replaced_utf8
FROM logs
GROUP BY 1, 2, 3, 4
