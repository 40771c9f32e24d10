"""Where images live: ``s3://bucket/key`` through boto3, or local paths (the embedded default).

``store`` reads, lists and writes (streamed uploads, see ``upload_stream``); ``keys`` names
objects and compares names; ``errors`` says how storage fails.
"""

from upscaler.storage.errors import (
    OutputNotWritableError,
    RedirectedWriteError,
    SourceChangedError,
    SourceMissingError,
    StorageError,
    StorageUnavailableError,
)
from upscaler.storage.keys import (
    ancestor_folders,
    collision_key,
    folder_key,
    is_inside,
    is_s3,
    real_local_path,
    safe_join,
    set_folder,
    split_s3,
)
from upscaler.storage.store import MIN_PART_SIZE, ObjectInfo, Storage, open_local_write

__all__ = ["MIN_PART_SIZE", "ObjectInfo", "OutputNotWritableError", "RedirectedWriteError", "SourceChangedError",
           "SourceMissingError", "Storage", "StorageError", "StorageUnavailableError", "ancestor_folders",
           "collision_key", "folder_key", "is_inside", "is_s3", "open_local_write", "real_local_path", "safe_join",
           "set_folder", "split_s3"]
