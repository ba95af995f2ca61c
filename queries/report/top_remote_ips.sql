-- title: Top remote IPs
-- description: The remote IPs with the most requests, with bytes sent and 4xx/5xx responses.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT coalesce(remote_ip, 'none') AS remote_ip,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent,
       sum(errors) AS errors
FROM daily_remote_ips
WHERE date BETWEEN $since AND $until
GROUP BY 1
ORDER BY requests DESC, 1
LIMIT 15
