-- title: Requests per day, requester and network origin
-- description: A daily view (kept in the lake per day, recomputed when a day's files change or the enrichment data does) that clients/countries, clients/networks and clients/new_origins read: requests and bytes sent per day, requester ('anonymous' when none), the address's class (ip_class; 'invalid' when no address was logged), country, autonomous system number and name.
SELECT date, coalesce(requester, 'anonymous') AS requester,
       ip_class(coalesce(remote_ip, '-')) AS ip_class,
       ip_country(remote_ip) AS country,
       ip_asn(remote_ip) AS asn,
       ip_as_name(remote_ip) AS as_name,
       count(*) AS requests,
       coalesce(sum(bytes_sent), 0) AS bytes_sent
FROM logs
GROUP BY 1, 2, 3, 4, 5, 6
