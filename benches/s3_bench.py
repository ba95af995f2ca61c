"""Helpers of benches/s3.sh, against an S3-compatible endpoint (moto's).

    s3_bench.py ENDPOINT history BUCKET PREFIX COUNT DAYS LINE_FILE
        COUNT one-line log objects named over DAYS days from 2024-01-01
        (SimplePrefix names), COUNT / DAYS a day.
    s3_bench.py ENDPOINT hour BUCKET PREFIX DAY LINE_FILE
        12 objects delivered over the first hour of DAY (days after the
        history's first day).
    s3_bench.py ENDPOINT get-all BUCKET PREFIX
        GETs every object under PREFIX, 16 at a time; prints seconds and MB.
    s3_bench.py ENDPOINT list-all BUCKET PREFIX
        Lists every key under PREFIX; prints seconds and LIST requests.
"""

import datetime
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(max_pool_connections=32),
    )


def ensure_bucket(s3, bucket):
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)


def name(day, second, i):
    t = datetime.datetime(2024, 1, 1) + datetime.timedelta(days=day, seconds=second)
    return t.strftime("%Y-%m-%d-%H-%M-%S") + "-%016X" % i


def put_all(s3, bucket, items):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))


def main():
    endpoint, what, bucket, prefix = sys.argv[1:5]
    s3 = client(endpoint)
    if what == "history":
        count, days, line = int(sys.argv[5]), int(sys.argv[6]), open(sys.argv[7], "rb").read()
        ensure_bucket(s3, bucket)
        per_day = max(1, count // days)
        items = (
            (prefix + name(i // per_day, (i % per_day) * 86400 // per_day, i), line)
            for i in range(count)
        )
        put_all(s3, bucket, items)
    elif what == "hour":
        day, line = int(sys.argv[5]), open(sys.argv[6], "rb").read()
        put_all(s3, bucket, [(prefix + name(day, 300 * i, 10**9 + i), line) for i in range(12)])
    elif what == "get-all":
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        started = time.time()
        with ThreadPoolExecutor(16) as pool:
            sizes = list(
                pool.map(lambda k: len(s3.get_object(Bucket=bucket, Key=k)["Body"].read()), keys)
            )
        print("%.2f %.1f" % (time.time() - started, sum(sizes) / 1e6))
    elif what == "list-all":
        started, requests, keys = time.time(), 0, 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            requests += 1
            keys += len(page.get("Contents", []))
        print("%.2f %d %d" % (time.time() - started, requests, keys))


if __name__ == "__main__":
    main()
