"""The error hierarchy every layer shares.

A :class:`PermanentError` will fail the same way however often it is retried (a corrupt image,
an unknown model); a :class:`TransientError` may succeed later (a storage 5xx, a lost
connection). The queue layer maps the two onto "fail now" and "retry with backoff". Each error
carries a short machine-readable ``code`` that ends up in the jobs table and in metrics.
"""

from __future__ import annotations


class UpscalerError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PermanentError(UpscalerError):
    code = "permanent"


class TransientError(UpscalerError):
    code = "transient"


class InvalidImageError(PermanentError):
    """The bytes are not an image we can decode (empty, truncated, wrong format)."""

    code = "invalid_image"


class ImageTooLargeError(PermanentError):
    """The image exceeds a configured pixel or byte limit; refused before decoding."""

    code = "image_too_large"


class ModelNotFoundError(PermanentError):
    code = "unknown_model"


class ModelFormatError(PermanentError):
    """A weight file that is not a model we know, or whose content does not match its checksum."""

    code = "bad_model_file"


class JobTimeoutError(PermanentError):
    """A job ran past its soft time limit (checked between tile batches and between stages)."""

    code = "timeout"


class DiskFullError(TransientError):
    """A local disk is full (ENOSPC): space may come back (a cleanup, a bigger volume), so the job
    is retried with backoff like any transient error, under its own code for alerts."""

    code = "disk_full"


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
