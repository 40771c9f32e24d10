"""How storage fails: permanent (missing, changed, refused) or transient (S3 unavailable)."""

from __future__ import annotations

from upscaler.errors import ErrorCode, PermanentError, TransientError


class StorageError(PermanentError):
    code = ErrorCode.storage_error


class SourceMissingError(StorageError):
    code = ErrorCode.source_missing


class SourceChangedError(StorageError):
    """The source is not the version the job was created for (its ETag changed since)."""

    code = ErrorCode.source_changed


class StorageUnavailableError(TransientError):
    code = ErrorCode.storage_unavailable
