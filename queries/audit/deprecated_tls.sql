-- title: Deprecated TLS
-- description: Requests over TLS versions below 1.2 (TLSv1, TLSv1.1; compared case-insensitively, as AWS writes both TLSv and TLSV), per day, bucket, requester and user agent.
-- daily: date
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT date, bucket, coalesce(requester, 'anonymous') AS requester, tls_version, user_agent,
       count(*) AS requests
FROM logs
WHERE date BETWEEN $since AND $until
  AND upper(tls_version) IN ('TLSV1', 'TLSV1.0', 'TLSV1.1', 'SSLV3')
GROUP BY 1, 2, 3, 4, 5
ORDER BY date, requests DESC, bucket, requester, tls_version, user_agent
