"""The S3 adapter of the ``BlobStore`` port (the claim check for large bodies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.sqs import storage_error as _storage_error
from chalicelib.errors import NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.ports import BlobStore


class S3BlobStore:
    """A BlobStore on one S3 bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns the bucket name."""
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream"
            )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("S3", "PutObject", exc) from exc
        return self.bucket

    def get(self, key: str) -> bytes:
        """The bytes under a key, or NotFoundError."""
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError(f"no stored body {key!r}", code="body_not_found") from exc
            raise _storage_error("S3", "GetObject", exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("S3", "GetObject", exc) from exc


class LazyBlobStore:
    """A BlobStore whose S3 client is made on first use: most webhooks never need the claim check."""

    def __init__(self, make: Callable[[], BlobStore]) -> None:
        self._make = make
        self._made: BlobStore | None = None

    def _blobs(self) -> BlobStore:
        if self._made is None:
            self._made = self._make()
        return self._made

    def put(self, key: str, data: bytes) -> str:
        """Store bytes (see S3BlobStore.put)."""
        return self._blobs().put(key, data)

    def get(self, key: str) -> bytes:
        """Read bytes (see S3BlobStore.get)."""
        return self._blobs().get(key)
