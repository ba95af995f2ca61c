-- title: Cross-account requesters
-- description: Requests whose requester ARN names an AWS account other than the bucket owner's (owner_account, a 12-digit id). With owner_account left empty, every account is listed and cross_account is NULL (unknown).
-- param: since date 1970-01-01 first day (inclusive)
-- param: until date 9999-12-31 last day (inclusive)
-- param: owner_account text - the bucket owner's account id ('-' lists every account)
WITH r AS (
  SELECT bucket, requester, operation,
         regexp_match(requester, '^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):')[1] AS account
  FROM logs
  WHERE date BETWEEN $since AND $until AND requester IS NOT NULL
)
SELECT bucket, account, requester,
       CASE WHEN $owner_account = '-' THEN NULL ELSE account <> $owner_account END AS cross_account,
       count(*) AS requests, count(DISTINCT operation) AS operations
FROM r
WHERE account IS NOT NULL AND ($owner_account = '-' OR account <> $owner_account)
GROUP BY 1, 2, 3, 4
ORDER BY requests DESC, bucket, account, requester
