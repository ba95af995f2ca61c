"""Creates a bucket on an S3-compatible endpoint and uploads a folder into it.

    seed.py ENDPOINT BUCKET FOLDER [KEY_PREFIX]

Keys are the files' paths below FOLDER (after KEY_PREFIX). Used by the S3
tests and benchmark against moto's server; credentials are moto's dummies.
"""

import os
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, folder = sys.argv[1:4]
    prefix = sys.argv[4] if len(sys.argv) > 4 else ""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(max_pool_connections=32),
    )
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    files = []
    for root, _, names in os.walk(folder):
        for n in names:
            files.append(os.path.join(root, n))
    from concurrent.futures import ThreadPoolExecutor

    def put(path):
        key = prefix + os.path.relpath(path, folder).replace(os.sep, "/")
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, sorted(files)))
    print(len(files))


if __name__ == "__main__":
    main()
