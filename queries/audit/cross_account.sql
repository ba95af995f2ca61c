-- title: Cross-account requesters
-- description: Requests whose requester ARN names an AWS account other than the bucket owner's (owner_account, a 12-digit id). With owner_account left empty, every account is listed and cross_account is NULL (unknown).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: owner_account text - the bucket owner's account id ('-' lists every account)
WITH by_requester AS (
  -- From the daily view daily_requesters (kept per day).
  SELECT bucket, requester, sum(requests) AS requests, count(DISTINCT operation) AS operations
  FROM daily_requesters
  WHERE date BETWEEN $since AND $until AND requester IS NOT NULL
  GROUP BY 1, 2
), r AS (
  -- The account is read once per requester, not once per request.
  SELECT bucket, requester, requests, operations,
         regexp_match(requester, '^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):')[1] AS account
  FROM by_requester
)
SELECT bucket, account, requester,
       CASE WHEN $owner_account = '-' THEN NULL ELSE account <> $owner_account END AS cross_account,
       requests, operations
FROM r
WHERE account IS NOT NULL AND ($owner_account = '-' OR account <> $owner_account)
ORDER BY requests DESC, bucket, account, requester
