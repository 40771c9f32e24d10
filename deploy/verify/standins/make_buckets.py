"""What the compose file's minio-buckets service does with MinIO's mc, for the S3 stand-in: the
buckets named in S3_BUCKETS, and the SQS queue EVENTS_QUEUE_URL names (the events service reads
it), on the endpoint UPSCALER_S3_ENDPOINT_URL. Already there is fine."""

import os
from urllib.parse import urlparse

import boto3

endpoint = os.environ["UPSCALER_S3_ENDPOINT_URL"]
s3 = boto3.client("s3", endpoint_url=endpoint)
for bucket in os.environ["S3_BUCKETS"].split():
    s3.create_bucket(Bucket=bucket)
    print(f"bucket {bucket}")
queue = urlparse(os.environ["EVENTS_QUEUE_URL"]).path.rstrip("/").rsplit("/", 1)[-1]
url = boto3.client("sqs", endpoint_url=endpoint).create_queue(QueueName=queue)["QueueUrl"]
print(f"queue {url}")
