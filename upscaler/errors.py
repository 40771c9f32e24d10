"""The error hierarchy every layer shares, and the codes failures are recorded with.

A :class:`PermanentError` will fail the same way however often it is retried (a corrupt image,
an unknown model); a :class:`TransientError` may succeed later (a storage 5xx, a lost
connection). What a runner does with either is decided in one place,
``workers/core/failure_policy.decide``. Each error carries an :class:`ErrorCode` that ends up in
the jobs table, in ``upscaler status`` and in metrics.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code a job or training run can fail (or be released) with. The values are stored in
    the jobs table: never rename one. ``operator_may_retry``: whether ``upscaler retry`` puts a
    job failed with it back to the queue (a refusal made at submit would fail the same way, or
    worse, overwrite another source's output)."""

    error = "error"
    permanent = "permanent"
    transient = "transient"
    # the source and its image
    invalid_image = "invalid_image"
    image_too_large = "image_too_large"
    color_profile_mismatch = "color_profile_mismatch"
    invalid_parameters = "invalid_parameters"
    # models
    unknown_model = "unknown_model"
    bad_model_file = "bad_model_file"
    missing_weights = "missing_weights"
    # storage
    storage_error = "storage_error"
    source_missing = "source_missing"
    source_changed = "source_changed"
    storage_unavailable = "storage_unavailable"
    output_not_writable = "output_not_writable"
    unsafe_output = "unsafe_output"
    source_unreadable = "source_unreadable"   # upscale's report: a local input it cannot read
    database_unavailable = "database_unavailable"
    broker_unreachable = "broker_unreachable"
    # intake
    bad_manifest = "bad_manifest"
    bad_manifest_row = "bad_manifest_row"   # one manifest row refused (reported, no job made)
    output_inside_source = "output_inside_source"
    source_not_allowed = "source_not_allowed"
    duplicate_watch = "duplicate_watch"
    output_collision = "output_collision"
    unsafe_key = "unsafe_key"
    # running
    timeout = "timeout"
    transient_exhausted = "transient_exhausted"
    attempts_exhausted = "attempts_exhausted"
    internal_error = "internal_error"
    disk_full = "disk_full"
    interrupted = "interrupted"    # an in-process run stopped by its user: released, not failed
    # training runs
    unknown_run = "unknown_run"
    no_checkpoint = "no_checkpoint"
    lost_lease = "lost_lease"
    bad_dataset = "bad_dataset"

    @property
    def operator_may_retry(self) -> bool:
        return self not in _NOT_RETRIED


# Refusals made when the job was created: retrying cannot change them, and an output collision
# retried would overwrite another source's output.
_NOT_RETRIED = frozenset({ErrorCode.output_collision, ErrorCode.unsafe_key})


class UpscalerError(Exception):
    code: ErrorCode = ErrorCode.error

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = ErrorCode(code)


class PermanentError(UpscalerError):
    code = ErrorCode.permanent


class TransientError(UpscalerError):
    code = ErrorCode.transient


class InvalidParameters(PermanentError, ValueError):
    """A job's parameters that no run can satisfy (an unknown format, a tile below 0). Also a
    ValueError, so that code checking arguments reads it as what it is."""

    code = ErrorCode.invalid_parameters


class InvalidImageError(PermanentError):
    """The bytes are not an image we can decode (empty, truncated, wrong format)."""

    code = ErrorCode.invalid_image


class ImageTooLargeError(PermanentError):
    """The image exceeds a configured pixel or byte limit; refused before decoding."""

    code = ErrorCode.image_too_large


class ModelNotFoundError(PermanentError):
    code = ErrorCode.unknown_model


class ModelFormatError(PermanentError):
    """A weight file that is not a model we know, or whose content does not match its checksum."""

    code = ErrorCode.bad_model_file


class JobTimeoutError(PermanentError):
    """A job ran past its soft time limit (checked between tile batches and between stages)."""

    code = ErrorCode.timeout


class DiskFullError(TransientError):
    """A local disk is full (ENOSPC): space may come back (a cleanup, a bigger volume), so the job
    is retried with backoff like any transient error, under its own code for alerts."""

    code = ErrorCode.disk_full


def disk_full_in(exc: BaseException) -> OSError | None:
    """The ENOSPC error behind ``exc`` (itself, or what it was raised from), if any."""
    import errno

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        current = current.__cause__ or current.__context__
    return None
