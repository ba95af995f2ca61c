-- title: Unknown clients
-- description: Requests with no user agent, or one no rule recognises (ua_family is NULL): neither an AWS SDK, the CLI or the console, a known S3 tool, an HTTP library, a browser nor a crawler. Lines of S3 itself (lifecycle, batch deletes) are left out.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT coalesce(user_agent, '(none)') AS user_agent,
       sum(requests) AS requests,
       count(DISTINCT coalesce(requester, 'anonymous')) AS requesters,
       count(DISTINCT remote_ip) AS remote_ips,
       min(date) AS first_seen
FROM daily_odd_clients
WHERE date BETWEEN $since AND $until AND unknown
GROUP BY 1
ORDER BY requests DESC, 1
