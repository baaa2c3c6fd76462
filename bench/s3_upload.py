"""The bare comparison for S3: ``pg_dump -Fc | python s3_upload.py s3://bucket/key``.

Streams stdin with boto3's upload_fileobj and its default TransferConfig (8 MiB parts, 10 threads),
which is also what ``aws s3 cp - s3://…`` does.
"""

from __future__ import annotations

import sys

import boto3


def main() -> int:
    bucket, _, key = sys.argv[1].removeprefix("s3://").partition("/")
    boto3.client("s3").upload_fileobj(sys.stdin.buffer, bucket, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
