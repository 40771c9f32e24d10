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


class OutputNotWritableError(StorageError):
    """The output location refuses writing (permissions, a read-only file system, a file where a
    folder must be): retrying will not help until someone fixes the location."""

    code = ErrorCode.output_not_writable


class RedirectedWriteError(StorageError):
    """A local output whose real place (symlinks followed, at the moment it is written) lies
    inside the folder it must stay out of: its source's."""

    code = ErrorCode.unsafe_output


class StorageUnavailableError(TransientError):
    code = ErrorCode.storage_unavailable
