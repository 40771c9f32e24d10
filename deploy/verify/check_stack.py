"""The end-to-end checks of deploy/verify.sh, run inside the stack's own CPU image with the stack's
settings (UPSCALER_DATABASE_URL, UPSCALER_S3_ENDPOINT_URL, AWS_*):

  check_stack.py upload DIR s3://BUCKET/PREFIX/   put every image under DIR into the stack's S3
  check_stack.py jobs BATCH_ID COUNT              the batch has COUNT jobs in PostgreSQL, every one
                                                  succeeded, and every output is in S3, an image
                                                  four times its source's width and height

The checks read PostgreSQL and S3 directly (SQL and boto3), not through the upscaler commands whose
work they check. Exit status 1 with one line per problem.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import boto3
import psycopg
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}
SCALE = 4


def s3_client():
    return boto3.client("s3", endpoint_url=os.environ["UPSCALER_S3_ENDPOINT_URL"])


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def upload(folder: str, prefix_uri: str) -> int:
    bucket, prefix = split_uri(prefix_uri)
    s3 = s3_client()
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in files:
        s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())
    print(f"uploaded {len(files)} images to {prefix_uri}")
    return 0 if files else 1


def image_size(s3, uri: str) -> tuple[int, int]:
    bucket, key = split_uri(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(body)) as image:
        return image.size


def check_jobs(batch_id: str, expected: int) -> int:
    url = os.environ["UPSCALER_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT source_uri, output_uri, status, error_code, error_message FROM jobs "
                            "WHERE batch_id = %s ORDER BY source_uri", (batch_id,)).fetchall()
    problems = [] if len(rows) == expected else [f"batch {batch_id}: {len(rows)} jobs in PostgreSQL, expected {expected}"]
    s3 = s3_client()
    for source, output, status, error_code, error in rows:
        if status != "succeeded":
            problems.append(f"{source}: status {status} in PostgreSQL ({error_code}: {error})")
            continue
        try:
            source_size, output_size = image_size(s3, source), image_size(s3, output)
        except Exception as exc:  # a missing or unreadable object is the finding, whatever its kind
            problems.append(f"{output}: not a readable image in S3 ({exc})")
            continue
        if output_size != (source_size[0] * SCALE, source_size[1] * SCALE):
            problems.append(f"{output}: {output_size[0]}x{output_size[1]}, expected x{SCALE} of "
                            f"{source_size[0]}x{source_size[1]}")
        else:
            print(f"ok  {source} -> {output} ({output_size[0]}x{output_size[1]})")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "upload":
        return upload(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "jobs":
        return check_jobs(argv[1], int(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
