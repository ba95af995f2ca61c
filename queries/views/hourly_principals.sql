-- title: Bytes sent and requests per hour and principal
-- description: A daily view (kept in the lake per day, recomputed when a day's files change) that audit/exfiltration reads: bytes sent and requests per day, hour and principal (the requester, or ip:ADDRESS for an anonymous request; ip:- when no address was logged), of the records that logged bytes sent.
SELECT date, date_trunc('hour', request_time) AS hour,
       coalesce(requester, 'ip:' || coalesce(remote_ip, '-')) AS principal,
       sum(bytes_sent) AS bytes, count(*) AS requests
FROM logs
WHERE bytes_sent IS NOT NULL
GROUP BY 1, 2, 3
