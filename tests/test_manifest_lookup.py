"""A manifest's sources are looked up in few requests: listed where they share a folder, asked
for several at a time elsewhere, not asked at all when the manifest gives their ETag."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from producer.sources import SourceImage, from_manifest
from upscaler.storage import ObjectInfo, SourceMissingError, Storage, split_s3


class CountingStorage(Storage):
    """S3 as a dict of key -> ETag; counts LIST and HEAD requests and HEADs in flight at once."""

    def __init__(self, objects: dict[str, str], head_seconds: float = 0.0, list_seconds: float = 0.0) -> None:
        super().__init__(endpoint_url="")
        self.objects, self.head_seconds, self.list_seconds = objects, head_seconds, list_seconds
        self.lists = self.heads = self.in_flight = self.most_in_flight = 0
        self.lists_in_flight = self.most_lists_in_flight = 0
        self.lock = threading.Lock()

    @property
    def s3(self):
        return None

    def list(self, prefix: str, start_after: str | None = None, recursive: bool = True):
        with self.lock:
            self.lists += 1
            self.lists_in_flight += 1
            self.most_lists_in_flight = max(self.most_lists_in_flight, self.lists_in_flight)
        time.sleep(self.list_seconds)  # the first page's round trip
        with self.lock:
            self.lists_in_flight -= 1
        folder = split_s3(prefix)[1]
        for uri in sorted(self.objects):
            key = split_s3(uri)[1]
            deeper = "/" in key[len(folder):]
            if key.startswith(folder) and (start_after is None or key > start_after) and (recursive or not deeper):
                yield ObjectInfo(uri, key[len(folder):], self.objects[uri], 10)

    def head(self, uri: str, relative_to=None) -> ObjectInfo:
        with self.lock:
            self.heads += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.head_seconds)
        with self.lock:
            self.in_flight -= 1
        if uri not in self.objects:
            raise SourceMissingError(f"{uri}: no such object")
        return ObjectInfo(uri, uri.rsplit("/", 1)[1], self.objects[uri], 10)


def manifest(tmp_path: Path, uris: list[str], extra: str = "") -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text("source_uri" + (",etag" if extra else "") + "\n"
                    + "".join(f"{u}{',' + extra if extra else ''}\n" for u in uris))
    return path


def test_sources_sharing_a_folder_are_listed_not_asked_one_by_one(tmp_path: Path) -> None:
    objects = {f"s3://cat/2026/tiles/t{i:03d}.png": f"e{i}" for i in range(60)}
    objects |= {f"s3://cat/2026/tiles/deeper/x{i}.png": "x" for i in range(5)}
    storage = CountingStorage(objects)
    wanted = [f"s3://cat/2026/tiles/t{i:03d}.png" for i in range(5, 55)] + ["s3://cat/2026/tiles/t050-gone.png"]
    images = list(from_manifest(storage, manifest(tmp_path, wanted)))
    assert [i.uri for i in images] == wanted  # in the manifest's order
    assert [i.etag for i in images[:-1]] == [f"e{i}" for i in range(5, 55)] and images[-1].etag is None
    assert (storage.lists, storage.heads) == (1, 0)


def test_folders_are_listed_several_at_a_time(tmp_path: Path) -> None:
    wanted = [f"s3://cat/supplier-{s}/t{i:03d}.png" for s in range(8) for i in range(12)]
    storage = CountingStorage({u: "e" for u in wanted}, list_seconds=0.1)
    images = list(from_manifest(storage, manifest(tmp_path, wanted)))
    assert [i.etag for i in images] == ["e"] * len(wanted)
    assert (storage.lists, storage.heads) == (8, 0) and storage.most_lists_in_flight >= 2


def test_scattered_sources_are_asked_for_several_at_a_time(tmp_path: Path) -> None:
    wanted = [f"s3://cat/supplier-{i}/photo.jpg" for i in range(24)]
    storage = CountingStorage({u: "e" for u in wanted[:-1]}, head_seconds=0.05)
    images = list(from_manifest(storage, manifest(tmp_path, wanted)))
    assert [i.etag for i in images] == ["e"] * 23 + [None]
    assert storage.heads == 24 and storage.most_in_flight >= 4


def test_an_etag_column_is_trusted(tmp_path: Path) -> None:
    storage = CountingStorage({})
    images = list(from_manifest(storage, manifest(tmp_path, [f"s3://cat/a{i}.png" for i in range(20)], "abc")))
    assert all(isinstance(i, SourceImage) and i.etag == "abc" for i in images)
    assert (storage.lists, storage.heads) == (0, 0)


def test_listing_a_folder_on_a_real_s3_endpoint(tmp_path: Path, s3, s3_endpoint: str) -> None:
    s3.create_bucket(Bucket="listed")
    for i in range(14):
        s3.put_object(Bucket="listed", Key=f"in/a{i:02d}.png", Body=f"image {i}".encode())
    s3.put_object(Bucket="listed", Key="in/a05/deeper.png", Body=b"not directly in the folder")
    wanted = [f"s3://listed/in/a{i:02d}.png" for i in range(2, 13)] + ["s3://listed/in/a05/deeper.png",
                                                                       "s3://listed/in/a07-missing.png"]
    images = list(from_manifest(Storage(endpoint_url=s3_endpoint), manifest(tmp_path, wanted)))
    heads = {u: s3.head_object(Bucket="listed", Key=split_s3(u)[1]) for u in wanted[:-1]}
    assert [(i.etag, i.size) for i in images[:-1]] == [(h["ETag"].strip('"'), h["ContentLength"]) for h in heads.values()]
    assert images[-1].etag is None


def test_lookups_in_many_threads_share_one_client(tmp_path: Path, s3, s3_endpoint: str) -> None:
    """Scattered sources are asked 16 at a time on one S3 client: a client per thread cost ~10 MB
    each (a 10,000-row manifest submit peaked 25 MB higher for its lookup threads), and boto3's
    clients are thread-safe."""
    from producer.sources import look_up

    s3.create_bucket(Bucket="shared")
    wanted = [f"s3://shared/scattered{i}/a.png" for i in range(40)]
    for uri in wanted[:-1]:
        s3.put_object(Bucket="shared", Key=split_s3(uri)[1], Body=uri.encode())
    storage = Storage(endpoint_url=s3_endpoint)
    clients: set[int] = set()
    head = Storage.head

    def counting_head(self, uri, *args, **kwargs):
        clients.add(id(self.s3))
        return head(self, uri, *args, **kwargs)

    Storage.head = counting_head
    try:
        found = look_up(storage, wanted)
    finally:
        Storage.head = head
    assert [uri for uri, info in found.items() if info is None] == [wanted[-1]]
    assert all(found[u].size == len(u) for u in wanted[:-1])
    assert len(clients) == 1
