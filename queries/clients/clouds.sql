-- title: Requests by cloud provider and service
-- description: Requests and bytes sent by the cloud range of the remote address (ip_cloud_provider, ip_cloud_service, ip_cloud_region from --ip-ranges files); addresses outside every range are grouped by their class (public, private, …).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH by_ip AS (
  -- One row per address first: the functions then run once per address
  -- and group, not once per request.
  SELECT remote_ip, sum(requests) AS requests, sum(bytes_sent) AS bytes_sent
  FROM daily_remote_ips
  WHERE date BETWEEN $since AND $until
  GROUP BY 1
)
SELECT coalesce(ip_cloud_provider(remote_ip), '(' || ip_class(coalesce(remote_ip, '-')) || ')') AS provider,
       ip_cloud_service(remote_ip) AS service,
       ip_cloud_region(remote_ip) AS region,
       sum(requests) AS requests,
       sum(bytes_sent) AS bytes_sent
FROM by_ip
GROUP BY 1, 2, 3
ORDER BY requests DESC, 1, 2, 3
