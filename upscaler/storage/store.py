"""Reading, listing and writing objects: ``s3://bucket/key`` through boto3, or local paths.

Writes stream: :meth:`Storage.open_write` uploads an object part by part while its writer is
still producing it (a big PNG, say), holding a few parts in memory, and the object appears only
whole; ``put`` is that with bytes in hand.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
import threading
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import ProgressCallbackInvoker, TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from upscaler.errors import ImageTooLargeError
from upscaler.settings import get_settings
from upscaler.storage.errors import (
    OutputNotWritableError,
    RedirectedWriteError,
    SourceChangedError,
    SourceMissingError,
    StorageError,
    StorageUnavailableError,
)
from upscaler.storage.keys import is_inside, is_s3, real_local_path, split_s3
from upscaler.storage.upload_stream import PIPE_CAPACITY, BackgroundUpload, UploadStopped, UploadStream

# Error codes S3 answers for requests that will never succeed as they are.
_PERMANENT_S3_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403", "InvalidObjectState",
                       "InvalidBucketName", "AllAccessDisabled"}
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".tif": "image/tiff"}

DEFAULT_PART_SIZE = 16 * 2**20   # bytes per multipart part, and the size from which uploads are multipart
MIN_PART_SIZE = 5 * 2**20        # S3 refuses smaller parts (but the last)
PARTS_IN_FLIGHT = 2              # parts boto3 may hold, read but not yet sent, per streamed upload


# A local file's ETag: "sha256:" and the hex digest of its bytes (an S3 ETag never has a colon).
LOCAL_ETAG_PREFIX = "sha256:"


def local_etag_of(hex_digest: str) -> str:
    return LOCAL_ETAG_PREFIX + hex_digest


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    relative_key: str   # relative to the listed prefix, '/'-separated
    etag: str
    size: int


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


# AWS refuses an upload whose user metadata (keys and values, UTF-8 bytes) passes 2 KB; its
# headers carry the keys as x-amz-meta-<key>, counted here too, to stay clear of the bound.
METADATA_LIMIT = 2048
_METADATA_PREFIX = "x-amz-meta-"


def fit_metadata(metadata: dict[str, str], limit: int = METADATA_LIMIT) -> dict[str, str]:
    """``metadata`` as S3 takes it: ASCII values (HTTP headers), at most ``limit`` bytes in all.
    The longest values (a colour profile's description, say) are shortened first, ending in
    ``...``; a value with nothing left is dropped."""
    fitted = {k: v.encode("ascii", "replace").decode("ascii") for k, v in metadata.items()}

    def size() -> int:
        return sum(len((_METADATA_PREFIX + k).encode()) + len(v) for k, v in fitted.items())

    while fitted and (excess := size() - limit) > 0:
        key = max(fitted, key=lambda k: len(fitted[k]))
        keep = len(fitted[key]) - excess - 3
        if keep > 0:
            fitted[key] = fitted[key][:keep] + "..."
        else:
            del fitted[key]
    return fitted


def _content_type(uri: str) -> str:
    extension = posixpath.splitext(uri)[1].lower()
    return CONTENT_TYPES.get(extension) or mimetypes.guess_type(uri)[0] or "application/octet-stream"


def _raise_upload_error(error: BaseException, uri: str) -> NoReturn:
    """Raise an upload's failure as our error types, as ``put`` always has."""
    if isinstance(error, (ClientError, BotoCoreError)):
        raise _classify(error, uri) from error
    if isinstance(error, S3UploadFailedError):  # boto3 wraps the ClientError of a failed upload
        cause = error.__context__
        raise (_classify(cause, uri) if isinstance(cause, ClientError) else
               StorageUnavailableError(f"{uri}: upload failed: {error}")) from error
    raise error


class Storage:
    """S3 and local files behind one small interface. Thread-safe; one per process is enough."""

    # Requests in flight at once on the one client (its connection pool): more threads than this
    # wait for a connection rather than open and drop extra ones.
    MAX_CONNECTIONS = 32

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url if endpoint_url is not None else get_settings().s3_endpoint_url
        self._client = None
        self._client_lock = threading.Lock()

    @property
    def s3(self):
        """One client for every thread (boto3's clients are thread-safe; its sessions are not, so
        the client is made once, under a lock). A client per thread cost ~10 MB each: a submit's
        listing and HEAD threads alone took 40 MB more than the rest of a 10,000-row intake."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    # Adaptive retry mode backs off with jitter on throttling and 5xx before we see them.
                    settings = get_settings()
                    config = Config(retries={"max_attempts": settings.s3_max_attempts, "mode": "adaptive"},
                                    connect_timeout=settings.s3_connect_timeout,
                                    read_timeout=settings.s3_read_timeout, max_pool_connections=self.MAX_CONNECTIONS)
                    self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url,
                                                                  config=config)
        return self._client

    # -- listing -----------------------------------------------------------------------------
    def list(self, prefix: str, start_after: str | None = None, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` in key order. S3 only: from the first key after ``start_after``
        (a full key), and with ``recursive=False`` only those directly under it (no deeper "/")."""
        if is_s3(prefix):
            bucket, key_prefix = split_s3(prefix)
            options = {"Bucket": bucket, "Prefix": key_prefix}
            if start_after:
                options["StartAfter"] = start_after
            if not recursive:
                options["Delimiter"] = "/"
            try:
                for page in self.s3.get_paginator("list_objects_v2").paginate(**options):
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
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            raise SourceMissingError(f"{uri}: no such file") from None
        relative = path.relative_to(relative_to).as_posix() if relative_to else path.name
        # The content's hash: a file replaced by other bytes of the same size and modification
        # time (a copy with -p, a restore, a clock set back) is another version. Read once here
        # (at submit, at a scan) and once more by the worker, which hashes the bytes it reads.
        return ObjectInfo(str(path), relative, local_etag_of(digest), size)

    # -- data --------------------------------------------------------------------------------
    def get(self, uri: str, max_bytes: int, if_match: str | None = None) -> bytes:
        """The object's bytes, refused unread when it is larger than ``max_bytes``; with
        ``if_match`` (an ETag), only that version: another one raises SourceChangedError."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            try:
                conditions = {"IfMatch": f'"{if_match}"'} if if_match else {}
                response = self.s3.get_object(Bucket=bucket, Key=key, **conditions)
                if response["ContentLength"] > max_bytes:
                    response["Body"].close()
                    raise ImageTooLargeError(f"{uri}: {response['ContentLength']:,} bytes is over the limit of {max_bytes:,}")
                return response["Body"].read()
            except ClientError as exc:
                if if_match and exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                    raise SourceChangedError(f"{uri}: changed since the job was created (ETag {if_match} is "
                                             "gone); the new version is a new job") from exc
                raise _classify(exc, uri) from exc
            except (BotoCoreError, BotoConnectionError) as exc:
                raise _classify(exc, uri) from exc
        path = Path(uri)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > max_bytes:
                    raise ImageTooLargeError(f"{uri}: {size:,} bytes is over the limit of {max_bytes:,}")
                stat_before = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            raise SourceMissingError(f"{uri}: no such file") from None
        # A local file's ETag is its content's hash: the bytes read are the version the job was
        # made for exactly when their hash is the one recorded at submit.
        if if_match and if_match.startswith(LOCAL_ETAG_PREFIX):
            if local_etag_of(hashlib.sha256(data).hexdigest()) != if_match:
                raise SourceChangedError(f"{uri}: changed since the job was created (its content's hash differs); "
                                         "the new version is a new job")
        elif if_match and if_match != f"{stat_before.st_size:x}-{stat_before.st_mtime_ns:x}":
            # A job made before local ETags were content hashes: its size and modification time.
            raise SourceChangedError(f"{uri}: changed since the job was created; the new version is a new job")
        return data

    def delete(self, uri: str, keep_out_of: Sequence[str] = ()) -> None:
        """Delete an object; a local one whose real place lies inside ``keep_out_of`` while its
        path does not (see :meth:`open_write`) is refused."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            try:
                self.s3.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, uri) from exc
        else:
            refuse_redirected(Path(uri), keep_out_of)
            Path(uri).unlink(missing_ok=True)

    def delete_folder(self, prefix: str) -> None:
        """Delete everything under the folder ``prefix`` (a job's own staging folder), and the
        folder; nothing there is no error."""
        if is_s3(prefix):
            for info in list(self.list(prefix.rstrip("/") + "/")):
                self.delete(info.uri)
        else:
            shutil.rmtree(prefix, ignore_errors=True)

    def remove_empty_folder(self, folder: str) -> None:
        """A local folder left empty (S3 has no folders to remove)."""
        if not is_s3(folder):
            try:
                Path(folder).rmdir()
            except OSError:
                pass  # not empty, or not there

    def move(self, source: str, destination: str, keep_out_of: Sequence[str] = ()) -> None:
        """Make ``source``'s object ``destination``'s, whole or not at all: a rename on a local
        disk (checked against ``keep_out_of`` as :meth:`open_write` does), a server-side copy
        and a delete on S3."""
        if is_s3(source) != is_s3(destination):
            raise StorageError(f"{source} -> {destination}: a move stays on one storage")
        if is_s3(source):
            (bucket, key), (to_bucket, to_key) = split_s3(source), split_s3(destination)
            try:
                head = self.s3.head_object(Bucket=bucket, Key=key)
                # Stated, not left to the copy: a multipart copy would not carry them over.
                self.s3.copy({"Bucket": bucket, "Key": key}, to_bucket, to_key,
                             ExtraArgs={"ContentType": head["ContentType"], "Metadata": head.get("Metadata", {}),
                                        "MetadataDirective": "REPLACE"})
                self.s3.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise _classify(exc, destination) from exc
            return
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        refuse_redirected(target, keep_out_of)
        os.replace(source, target)

    def put(self, uri: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write ``data`` atomically: see :meth:`open_write`, which this goes through."""
        with self.open_write(uri, metadata) as out:
            out.write(data)

    @contextmanager
    def open_write(self, uri: str, metadata: dict[str, str] | None = None,
                   part_size: int = DEFAULT_PART_SIZE, keep_out_of: Sequence[str] = ()) -> Iterator[BinaryIO]:
        """A writable binary file whose bytes are uploaded while they are written.

        The object appears only whole: S3 completes the upload when the ``with`` block ends
        normally (one PutObject below ``part_size`` bytes, else a multipart upload in parts of
        ``part_size`` bytes, 16 MiB by default, 5 MiB at least); if the block raises, the upload
        is aborted and the exception propagates. Local files are written to a temporary name and
        renamed; with ``keep_out_of`` (local folders), the rename is refused with
        :class:`RedirectedWriteError` when the file's real place, symlinks followed at that
        moment, lies inside one of them and its path as given does not (a folder swapped for a
        symlink after the job was checked). S3 holds at most a few parts in memory, whatever
        the object's size. S3 user metadata is cut to what AWS accepts (:func:`fit_metadata`).
        """
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size {part_size:,} is under S3's minimum of {MIN_PART_SIZE:,} bytes")
        if is_s3(uri):
            with self._open_s3_write(uri, _content_type(uri), fit_metadata(metadata or {}), part_size) as out:
                yield out
        else:
            with open_local_write(Path(uri), keep_out_of) as out:
                yield out

    @contextmanager
    def _open_s3_write(self, uri: str, content_type: str, metadata: dict[str, str],
                       part_size: int) -> Iterator[UploadStream]:
        bucket, key = split_s3(uri)
        stream = UploadStream(min(part_size, PIPE_CAPACITY))
        # What client.upload_fileobj does, keeping the transfer's future: the stream's reader
        # watches it, so that a refused part stops the writer at once (upload_stream.py).
        manager = create_transfer_manager(self.s3, _transfer_config(part_size))
        transfer = manager.upload(stream.reader, bucket, key,
                                  extra_args={"ContentType": content_type, "Metadata": metadata},
                                  subscribers=[ProgressCallbackInvoker(stream.count_sent)])
        stream.watch_transfer(transfer.done)

        def finish_transfer() -> None:
            try:
                transfer.result()
            finally:
                manager.shutdown()

        upload = BackgroundUpload(finish_transfer, on_exit=stream.stop_reading)
        try:
            yield stream
        except BaseException as exc:
            stream.abort()   # the upload's next read fails, and boto3 aborts the multipart upload
            upload.wait()
            if isinstance(exc, UploadStopped) and upload.error is not None:
                _raise_upload_error(upload.error, uri)
            raise
        stream.close()
        upload.wait()
        if upload.error is not None:
            _raise_upload_error(upload.error, uri)


def _transfer_config(part_size: int) -> TransferConfig:
    # The classic transfer manager reads a non-seekable stream part by part; CRT's would not
    # bound what it reads ahead the same way.
    config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size,
                            max_concurrency=PARTS_IN_FLIGHT, preferred_transfer_client="classic")
    # Parts read from the stream but not yet sent: boto3's default of 10 would buffer 160 MiB.
    config.max_in_memory_upload_chunks = PARTS_IN_FLIGHT
    return config


def refuse_redirected(path: Path, keep_out_of: Sequence[str]) -> None:
    """Raise when ``path`` would really be written inside one of the folders ``keep_out_of``
    (symlinks followed now) while the path as given lies outside it: it was redirected."""
    real = real_local_path(path)
    for folder in keep_out_of:
        given_inside = is_inside(os.path.abspath(path), os.path.abspath(folder), resolve=False)
        if not given_inside and is_inside(real, real_local_path(folder), resolve=False):
            raise RedirectedWriteError(f"{path} is really {real}, inside {folder}: a symlink on its way leads "
                                       "there; refused, so that nothing there is overwritten")


@contextmanager
def open_local_write(path: Path, keep_out_of: Sequence[str] = ()) -> Iterator[BinaryIO]:
    """A file that appears under ``path`` only once it is whole; nothing is left if writing fails.
    ``keep_out_of``: see :meth:`Storage.open_write`, checked just before the rename. A location
    that refuses the file (permissions, read-only, a file where a folder must be) is an
    :class:`OutputNotWritableError` naming it, raised before anything is written."""
    # Process and thread in the name: a worker's threads may write outputs at the same time.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tmp.open("wb")
    except OSError as exc:
        raise OutputNotWritableError(f"{path}: cannot write there: {exc.strerror or exc}") from exc
    try:
        with handle as out:
            yield out
        refuse_redirected(path, keep_out_of)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
