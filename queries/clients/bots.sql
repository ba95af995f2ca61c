-- title: Bot and crawler traffic
-- description: Requests from user agents that are bots or crawlers (ua_is_bot: isbot's patterns and woothee's crawlers; AWS SDKs, the CLI and the console are never bots), by client family and bucket.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
SELECT bucket, coalesce(ua_family(user_agent), 'unknown') AS family,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent,
       count(DISTINCT remote_ip) AS remote_ips,
       min(user_agent) AS example_user_agent
FROM daily_odd_clients
WHERE date BETWEEN $since AND $until AND is_bot
GROUP BY 1, 2
ORDER BY requests DESC, 1, 2
