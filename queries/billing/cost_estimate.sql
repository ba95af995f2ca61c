-- title: Cost estimate per bucket, prefix, requester and day
-- description: Request charges (Tier 1 and Tier 2 per 1,000, by the classes of billing/requests_by_class) and internet egress, priced from the pricing table (--pricing, default us-east-1 S3 Standard). Internet egress leaves out private addresses, AWS's own requests and, with --ip-ranges, every AWS address (CloudFront, same- and other-region AWS; see billing/transfer_out), and basis says which was used. Egress is priced per calendar month through the tiers (the first 100 GB of a month free) and shared out by bytes. An estimate: the logs are best effort, the free tier is shared with other AWS services, and storage is not included.
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
WITH grouped AS (
  -- Classes and internet bytes from the daily view daily_billing.
  SELECT date, bucket, prefix, requester, tier1_requests, tier2_requests, internet_bytes
  FROM daily_billing
  WHERE date BETWEEN $since AND $until
), monthly AS (
  -- The month's internet egress beside each group (grouped is read once).
  SELECT date, bucket, prefix, requester, tier1_requests, tier2_requests, internet_bytes,
         sum(internet_bytes) OVER (PARTITION BY extract(year FROM date), extract(month FROM date)) / 1e9 AS gb
  FROM grouped
), priced AS (
  -- What the month's egress costs, tier by tier.
  SELECT m.date, m.bucket, m.prefix, m.requester, m.tier1_requests, m.tier2_requests,
         m.internet_bytes, m.gb,
         sum(greatest(0.0, least(m.gb, p.to_gb) - p.from_gb) * p.usd) AS usd
  FROM monthly m LEFT JOIN pricing p ON p.item = 'egress_internet_per_gb'
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), prices AS (
  SELECT max(CASE WHEN item = 'tier1_per_1000' THEN usd END) AS tier1,
         max(CASE WHEN item = 'tier2_per_1000' THEN usd END) AS tier2,
         max(plan) AS plan
  FROM pricing
)
SELECT g.date, g.bucket, g.prefix, g.requester,
       g.tier1_requests, g.tier2_requests, g.internet_bytes,
       round(g.tier1_requests / 1000.0 * p.tier1 + g.tier2_requests / 1000.0 * p.tier2, 6) AS request_usd,
       round(CASE WHEN g.gb > 0 AND g.usd IS NOT NULL THEN g.usd * (g.internet_bytes / 1e9) / g.gb ELSE 0 END, 6) AS egress_usd,
       round(g.tier1_requests / 1000.0 * p.tier1 + g.tier2_requests / 1000.0 * p.tier2
             + CASE WHEN g.gb > 0 AND g.usd IS NOT NULL THEN g.usd * (g.internet_bytes / 1e9) / g.gb ELSE 0 END, 6) AS total_usd,
       p.plan AS pricing,
       CASE WHEN ip_ranges_loaded() THEN 'estimate, with IP ranges' ELSE 'estimate' END AS basis
FROM priced g
CROSS JOIN prices p
ORDER BY g.date, g.bucket, g.prefix, g.requester
