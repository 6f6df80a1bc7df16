"""Blob storage for containers and masks: files under the data dir, or an S3-API bucket.

Both stores are write-once-per-key in practice (latents are content-addressed, masks are keyed by
frame id and deterministic), so an overwrite by a retry or a second replica is harmless.
:meth:`BlobStore.put` returns only once the bytes are durable: for files, after fsyncing the file
and its directory (the rename that publishes it is itself only durable once the directory is);
for S3, a successful PUT is durable by the service's contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_service.core.config import Settings
from latentlink.durable import write_atomically

S3_CONNECTIONS = 64
"""boto3's connection pool per process; above the request thread pool, so no thread waits."""


class BlobNotFound(KeyError):
    """No blob under this key."""


class BlobStore(Protocol):
    """Where container and mask bytes live; keys are '/'-separated relative names."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` and return once it is durable."""

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises :class:`BlobNotFound`."""


def latent_key(sha256: str) -> str:
    """Content-addressed key of a received container (identical uploads share one blob)."""
    return f"latents/{sha256[:2]}/{sha256}.msgpack"


def mask_key(frame_id: int) -> str:
    """Key of a frame's label mask (PNG of class indices)."""
    return f"masks/{frame_id // 1000:06d}/{frame_id}.png"


class FileBlobStore:
    """Blobs as files under ``root``, published by an atomic rename after fsync."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error


class S3BlobStore:
    """Blobs as objects in a bucket through the S3 API (AWS, MinIO, Ceph, ...)."""

    def __init__(self, client: BaseClient, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from error
            raise
        return response["Body"].read()


def make_blob_store(settings: Settings) -> BlobStore:
    """The S3 bucket when one is configured, else files in ``<data dir>/blobs``."""
    if settings.s3_bucket is None:
        return FileBlobStore(settings.data_dir / "blobs")
    secret = settings.s3_secret_access_key
    client = boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(max_pool_connections=S3_CONNECTIONS, retries={"mode": "standard"}),
    )
    return S3BlobStore(client, settings.s3_bucket, settings.s3_prefix)
