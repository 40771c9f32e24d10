"""Where images live: ``s3://bucket/key`` through boto3, or local paths (the embedded default).

``store`` reads, lists and writes (streamed uploads, see ``upload_stream``); ``keys`` names
objects and compares names; ``errors`` says how storage fails.
"""

from upscaler.storage.errors import (
           OutputNotWritableError,
           SourceChangedError,
           SourceMissingError,
           StorageError,
           StorageUnavailableError,
)
from upscaler.storage.keys import collision_key, is_inside, is_s3, safe_join, split_s3
from upscaler.storage.store import MIN_PART_SIZE, ObjectInfo, Storage, open_local_write

__all__ = ["MIN_PART_SIZE", "ObjectInfo", "OutputNotWritableError", "SourceChangedError", "SourceMissingError", "Storage",
           "StorageError", "StorageUnavailableError", "collision_key", "is_inside", "is_s3",
           "open_local_write", "safe_join", "split_s3"]
