"""Where images live: ``s3://bucket/key`` through boto3, or local paths (the embedded default).

Keys for outputs are a pure function of the job: the source key relative to the source prefix,
under the output prefix, with the output format's extension. :func:`safe_join` guarantees that
no key (from a listing, a manifest or an event) can escape the output prefix.
"""

from __future__ import annotations

import io
import mimetypes
import os
import posixpath
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError

from upscaler.errors import ImageTooLargeError, PermanentError, TransientError
from upscaler.settings import get_settings

# Error codes S3 answers for requests that will never succeed as they are.
_PERMANENT_S3_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403", "InvalidObjectState",
                       "InvalidBucketName", "AllAccessDisabled"}
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".tif": "image/tiff"}


class StorageError(PermanentError):
    code = "storage_error"


class SourceMissingError(StorageError):
    code = "source_missing"


class StorageUnavailableError(TransientError):
    code = "storage_unavailable"


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    relative_key: str   # relative to the listed prefix, '/'-separated
    etag: str
    size: int


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket name")
    return bucket, key


def safe_join(prefix: str, relative: str) -> str:
    """``prefix`` + ``relative``, refusing anything that would land outside ``prefix``."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        raise StorageError(f"key {relative!r} is empty or leaves its prefix ('..' segments)")
    joined = posixpath.join(prefix.rstrip("/"), *parts) if prefix.rstrip("/") else "/".join(parts)
    return joined


def output_uri(source_uri: str, source_prefix: str, output_prefix: str, extension: str,
               output_key: str | None = None) -> str:
    """Where a source's result goes: same relative path under ``output_prefix``, new extension."""
    if output_key:
        relative = output_key
    else:
        if not source_uri.startswith(source_prefix):
            raise StorageError(f"{source_uri} is not under {source_prefix}")
        relative = source_uri[len(source_prefix):]
        relative = posixpath.splitext(relative)[0] + extension
    return safe_join(output_prefix, relative)


def _classify(exc: Exception, uri: str) -> Exception:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "404"):
            return SourceMissingError(f"{uri}: no such object")
        if code in _PERMANENT_S3_CODES or (400 <= status < 500 and status not in (408, 429)):
            return StorageError(f"{uri}: {code or status}: {exc.response.get('Error', {}).get('Message', '')}")
        return StorageUnavailableError(f"{uri}: S3 answered {code or status}")
    return StorageUnavailableError(f"{uri}: {type(exc).__name__}: {exc}")


class Storage:
    """S3 and local files behind one small interface. Thread-safe; one per process is enough."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url if endpoint_url is not None else get_settings().s3_endpoint_url
        self._local = threading.local()

    @property
    def s3(self):
        client = getattr(self._local, "client", None)
        if client is None:
            # Adaptive retry mode backs off with jitter on throttling and 5xx before we see them.
            settings = get_settings()
            config = Config(retries={"max_attempts": settings.s3_max_attempts, "mode": "adaptive"},
                            connect_timeout=settings.s3_connect_timeout, read_timeout=settings.s3_read_timeout)
            client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, config=config)
            self._local.client = client
        return client

    # -- listing -----------------------------------------------------------------------------
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if is_s3(prefix):
            bucket, key_prefix = split_s3(prefix)
            try:
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
                    for obj in page.get("Contents", []):
                        if obj["Key"].endswith("/"):
                            continue  # "folder" placeholder objects
                        yield ObjectInfo(f"s3://{bucket}/{obj['Key']}", obj["Key"][len(key_prefix):].lstrip("/"),
                                         obj["ETag"].strip('"'), obj["Size"])
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, prefix) from exc
            return
        root = Path(prefix)
        if not root.is_dir():
            raise StorageError(f"{prefix}: no such folder")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            yield self.head(str(path), relative_to=root)

    def head(self, uri: str, relative_to: Path | None = None) -> ObjectInfo:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            try:
                meta = self.s3.head_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, uri) from exc
            return ObjectInfo(uri, posixpath.basename(key), meta["ETag"].strip('"'), meta["ContentLength"])
        path = Path(uri)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise SourceMissingError(f"{uri}: no such file") from None
        relative = path.relative_to(relative_to).as_posix() if relative_to else path.name
        # Size + modification time: changes whenever the file is replaced, without reading it.
        return ObjectInfo(str(path), relative, f"{stat.st_size:x}-{stat.st_mtime_ns:x}", stat.st_size)

    # -- data --------------------------------------------------------------------------------
    def get(self, uri: str, max_bytes: int) -> bytes:
        """The object's bytes, refused unread when it is larger than ``max_bytes``."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            try:
                response = self.s3.get_object(Bucket=bucket, Key=key)
                if response["ContentLength"] > max_bytes:
                    response["Body"].close()
                    raise ImageTooLargeError(f"{uri}: {response['ContentLength']:,} bytes is over the limit of {max_bytes:,}")
                return response["Body"].read()
            except (ClientError, BotoCoreError, BotoConnectionError) as exc:
                raise _classify(exc, uri) from exc
        path = Path(uri)
        try:
            if path.stat().st_size > max_bytes:
                raise ImageTooLargeError(f"{uri}: {path.stat().st_size:,} bytes is over the limit of {max_bytes:,}")
            return path.read_bytes()
        except FileNotFoundError:
            raise SourceMissingError(f"{uri}: no such file") from None

    def delete(self, uri: str) -> None:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            try:
                self.s3.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, uri) from exc
        else:
            Path(uri).unlink(missing_ok=True)

    def put(self, uri: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write atomically: S3 objects appear whole (multipart above 16 MiB); files via rename."""
        extension = posixpath.splitext(uri)[1].lower()
        content_type = CONTENT_TYPES.get(extension) or mimetypes.guess_type(uri)[0] or "application/octet-stream"
        if is_s3(uri):
            bucket, key = split_s3(uri)
            extra = {"ContentType": content_type, "Metadata": metadata or {}}
            config = TransferConfig(multipart_threshold=16 * 2**20, multipart_chunksize=16 * 2**20)
            try:
                self.s3.upload_fileobj(io.BytesIO(data), bucket, key, ExtraArgs=extra, Config=config)
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, uri) from exc
            except S3UploadFailedError as exc:  # boto3 wraps the ClientError of a failed upload
                cause = exc.__context__
                raise (_classify(cause, uri) if isinstance(cause, ClientError) else
                       StorageUnavailableError(f"{uri}: upload failed: {exc}")) from exc
            return
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
