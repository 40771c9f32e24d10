"""Outputs are written as they are produced: PNG is encoded in strips of rows, and S3 objects are
uploaded in parts while they are written, appearing only whole; memory stays at a few strips
and parts, whatever the image's size."""

from __future__ import annotations

import io
import os
import sys
import tracemalloc
import uuid
import zlib
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from tests.services import Process, free_port, wait_for
from tests.support import texture
from upscaler.imageio import png
from upscaler.storage import store as storage
from upscaler.imageio import encode, encode_to
from upscaler.storage import MIN_PART_SIZE, Storage, StorageError, StorageUnavailableError

MiB = 2**20


def decode_unchanged(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def cv2_png(pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    return buf.tobytes()


class EncoderFailed(Exception):
    pass


class CountingSink:
    """A binary file that keeps nothing: how many bytes, in how many writes, the largest."""

    def __init__(self) -> None:
        self.size = self.writes = self.largest_write = 0

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        self.size += size
        self.writes += 1
        self.largest_write = max(self.largest_write, size)
        return size


# -- PNG ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("channels", [1, 3, 4], ids=["gray", "bgr", "bgra"])
@pytest.mark.parametrize("height,width", [(1, 1), (1, 37), (41, 1), (29, 103)])
def test_png_round_trips_exactly(height: int, width: int, channels: int, dtype, monkeypatch) -> None:
    monkeypatch.setattr(png, "PNG_STRIP_BYTES", 1000)  # a few rows per strip: many strip boundaries
    pixels = texture(height, width, channels, seed=height + width, dtype=dtype)
    data = encode(pixels, "png")
    decoded = decode_unchanged(data)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, pixels)


def test_png_crosses_strip_boundaries_at_the_default_strip_size() -> None:
    width = 211   # a row of 633 bytes: strips end at no round number
    rows_per_strip = png.PNG_STRIP_BYTES // (width * 3)
    pixels = texture(2 * rows_per_strip + 5, width, seed=3)
    np.testing.assert_array_equal(decode_unchanged(encode(pixels, "png")), pixels)


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_png_decodes_with_pillow(channels: int, mode: str) -> None:
    pixels = texture(37, 53, channels, seed=channels)
    data = encode(pixels, "png")
    with Image.open(io.BytesIO(data)) as img:
        img.verify()  # every chunk's CRC
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == mode and img.size == (53, 37)
        expected = pixels if channels == 1 else pixels[..., [2, 1, 0, 3][:channels]]
        np.testing.assert_array_equal(np.asarray(img), expected)


def test_sixteen_bit_gray_png_decodes_with_pillow() -> None:
    pixels = texture(19, 23, 1, dtype=np.uint16)
    with Image.open(io.BytesIO(encode(pixels, "png"))) as img:
        np.testing.assert_array_equal(np.asarray(img).astype(np.uint16), pixels)


def test_paeth_predictor_is_the_png_specs_for_every_byte_triple() -> None:
    left, above = (grid.astype(np.uint8) for grid in np.mgrid[0:256, 0:256])
    for above_left in range(256):
        a, b, c = left.astype(int), above.astype(int), above_left
        p = a + b - c   # the specification's predictor, in plain integers
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        expected = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        got = png._paeth(left, above, np.full_like(left, above_left))
        np.testing.assert_array_equal(got, expected, err_msg=f"above_left={above_left}")


def test_png_sizes_are_close_to_opencvs() -> None:
    photo_like = cv2.resize(texture(96, 128, seed=4), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    for pixels in (photo_like, texture(256, 256, 4, seed=5), texture(200, 160, 1, seed=6, dtype=np.uint16)):
        ratio = len(encode(pixels, "png")) / len(cv2_png(pixels))
        assert 0.95 < ratio < 1.05, (pixels.shape, pixels.dtype, ratio)


def idat_payload(data: bytes) -> bytes:
    """The zlib stream of a PNG: its IDAT chunks' payloads joined."""
    position, payload = len(png.PNG_SIGNATURE), []
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        if data[position + 4 : position + 8] == b"IDAT":
            payload.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return b"".join(payload)


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_png_strips_compressed_in_parallel_form_one_valid_zlib_stream(threads: int, monkeypatch) -> None:
    monkeypatch.setattr(png, "PNG_THREADS", threads)
    monkeypatch.setattr(png, "PNG_STRIP_BYTES", 40_000)  # ~50 segments, each primed with the rows before it
    pixels = cv2.resize(texture(150, 160, seed=8), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    data = encode(pixels, "png")
    stream = idat_payload(data)
    raw = zlib.decompress(stream)  # checks the header and the Adler-32 of the whole stream
    assert raw == png._scanlines(pixels, 0, pixels.shape[0], 3).tobytes()
    one_compressor = zlib.compress(raw, png.PNG_ZLIB_LEVEL)
    assert len(stream) < 1.01 * len(one_compressor), (len(stream), len(one_compressor))
    np.testing.assert_array_equal(decode_unchanged(data), pixels)


def test_a_failing_strip_fails_the_encode_and_stops_the_rest(monkeypatch) -> None:
    monkeypatch.setattr(png, "PNG_THREADS", 2)
    monkeypatch.setattr(png, "PNG_STRIP_BYTES", 1000)  # 3 rows a strip
    strips = []
    real = png._deflate_strip

    def failing(pixels, top, *args):
        strips.append(top)
        if len(strips) == 5:
            raise EncoderFailed(f"strip at row {top}")
        return real(pixels, top, *args)

    monkeypatch.setattr(png, "_deflate_strip", failing)
    pixels = texture(400, 100, seed=9)       # 134 strips
    with pytest.raises(EncoderFailed):
        png.write_png(pixels, CountingSink())
    assert len(strips) <= 5 + 2 * png.PNG_THREADS  # the strips already started, not all 134


def peak_memory_to_encode_png(pixels: np.ndarray) -> tuple[int, CountingSink]:
    sink = CountingSink()
    tracemalloc.start()
    try:
        assert encode_to(pixels, "png", 95, sink) == sink.size
        return tracemalloc.get_traced_memory()[1], sink
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_png_memory_does_not_grow_with_the_image(monkeypatch) -> None:
    # Small strips and IDAT chunks, so that any copy of the whole image or file would stand out.
    monkeypatch.setattr(png, "PNG_STRIP_BYTES", 64 * 2**10)
    monkeypatch.setattr(png, "PNG_IDAT_BYTES", 256 * 2**10)
    # Two strips filtered and compressed at once, four waiting: the working set is a few MiB
    # whatever the image, so the image must be large enough for that to be small beside it.
    monkeypatch.setattr(png, "PNG_THREADS", 2)
    pixels = texture(3072, 3072, seed=7)   # 27 MiB of pixels, noisy: ~20 MiB of PNG
    small_peak, _ = peak_memory_to_encode_png(pixels[:384])
    big_peak, sink = peak_memory_to_encode_png(pixels)
    assert big_peak < 1.25 * small_peak, f"{small_peak / MiB:.1f} MiB, 384 rows; {big_peak / MiB:.1f}, 3072"
    assert big_peak < sink.size / 4, f"{big_peak / MiB:.1f} MiB held to write {sink.size / MiB:.1f} MiB"
    assert sink.writes > 30 and sink.largest_write < MiB


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "tiff", "png"])
def test_encode_to_writes_what_encode_returns(fmt: str) -> None:
    pixels = texture(30, 40, seed=8)
    out = io.BytesIO()
    written = encode_to(pixels, fmt, 90, out)
    assert out.getvalue() == encode(pixels, fmt, 90) and written == len(out.getvalue())


# -- S3 -------------------------------------------------------------------------------------
@pytest.fixture
def bucket(s3) -> str:
    name = f"stream-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def pending_uploads(s3, bucket: str) -> list:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def exists(s3, bucket: str, key: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


def test_s3_stream_is_uploaded_in_parts_while_written(s3, s3_endpoint: str, bucket: str) -> None:
    data = np.random.default_rng(0).integers(0, 256, 13 * MiB + 12345, dtype=np.uint8).tobytes()
    with Storage(s3_endpoint).open_write(f"s3://{bucket}/out/big.png", {"job-id": "42"},
                                         part_size=MIN_PART_SIZE) as out:
        out.write(memoryview(data)[:3 * MiB])           # larger than the stream's buffer
        for start in range(3 * MiB, 11 * MiB, 777_777):  # odd sizes across part boundaries
            out.write(data[start:min(start + 777_777, 11 * MiB)])
        wait_for(lambda: pending_uploads(s3, bucket), 10, "the multipart upload to start")
        assert not exists(s3, bucket, "out/big.png")   # not before it is whole
        out.write(data[11 * MiB:])
    obj = s3.get_object(Bucket=bucket, Key="out/big.png")
    assert obj["Body"].read() == data
    assert obj["ETag"].strip('"').endswith("-3")       # 5 + 5 + 3 MiB
    assert obj["ContentType"] == "image/png" and obj["Metadata"] == {"job-id": "42"}
    assert pending_uploads(s3, bucket) == []


@pytest.mark.parametrize("written", [100, 12 * MiB], ids=["before-any-part", "after-parts"])
def test_s3_stream_that_raises_leaves_nothing(s3, s3_endpoint: str, bucket: str, written: int) -> None:
    s3.put_object(Bucket=bucket, Key="kept.png", Body=b"the previous output")
    for key in ("new.png", "kept.png"):
        with pytest.raises(EncoderFailed), \
                Storage(s3_endpoint).open_write(f"s3://{bucket}/{key}", part_size=MIN_PART_SIZE) as out:
            out.write(b"\1" * written)
            raise EncoderFailed("halfway")
    assert not exists(s3, bucket, "new.png")
    assert s3.get_object(Bucket=bucket, Key="kept.png")["Body"].read() == b"the previous output"
    assert pending_uploads(s3, bucket) == []


@pytest.mark.parametrize("size", [10, 6 * MiB], ids=["single-put", "multipart"])
def test_s3_errors_are_classified_as_put_classifies_them(s3_endpoint: str, size: int) -> None:
    with pytest.raises(StorageError, match="NoSuchBucket"), \
            Storage(s3_endpoint).open_write("s3://no-such-bucket/x.png", part_size=MIN_PART_SIZE) as out:
        out.write(b"\0" * size)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        Storage(s3_endpoint).put("s3://no-such-bucket/x.png", b"\0" * size)


def test_upload_that_dies_stops_the_writer(s3_endpoint: str, bucket: str, monkeypatch) -> None:
    def throttled(**kwargs):
        slow_down = {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
        raise ClientError(slow_down, "UploadPart")

    target = Storage(s3_endpoint)
    monkeypatch.setattr(target.s3, "upload_part", throttled)
    with pytest.raises(StorageUnavailableError, match="SlowDown"), \
            target.open_write(f"s3://{bucket}/x.png", part_size=MIN_PART_SIZE) as out:
        for _ in range(100):   # far more than the stream holds: write() must fail, not wait
            out.write(b"\0" * MiB)


def test_put_keeps_content_type_and_metadata(s3, s3_endpoint: str, bucket: str) -> None:
    Storage(s3_endpoint).put(f"s3://{bucket}/a/b.jpg", b"jpeg bytes", {"model": "m"})
    obj = s3.get_object(Bucket=bucket, Key="a/b.jpg")
    assert obj["Body"].read() == b"jpeg bytes"
    assert obj["ContentType"] == "image/jpeg" and obj["Metadata"] == {"model": "m"}


def test_part_size_under_s3s_minimum_is_refused(s3_endpoint: str) -> None:
    with pytest.raises(ValueError, match="minimum"), \
            Storage(s3_endpoint).open_write("s3://bucket/x.png", part_size=MIN_PART_SIZE - 1):
        pass


def test_encoded_png_streams_to_s3(s3, s3_endpoint: str, bucket: str) -> None:
    pixels = texture(1400, 1900, seed=9)   # ~5.8 MiB of PNG: two parts
    with Storage(s3_endpoint).open_write(f"s3://{bucket}/img.png", part_size=MIN_PART_SIZE) as out:
        written = encode_to(pixels, "png", 95, out)
    data = s3.get_object(Bucket=bucket, Key="img.png")["Body"].read()
    assert len(data) == written > MIN_PART_SIZE
    np.testing.assert_array_equal(decode_unchanged(data), pixels)


# -- local files ----------------------------------------------------------------------------
def test_local_file_appears_only_when_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.png"
    with Storage("").open_write(str(target)) as out:
        out.write(b"first half, ")
        assert not target.exists() and len(list(target.parent.iterdir())) == 1   # a temporary file
        out.write(b"second half")
    assert target.read_bytes() == b"first half, second half"
    assert [p.name for p in target.parent.iterdir()] == ["a.png"]


def test_local_file_write_that_raises_leaves_nothing(tmp_path: Path) -> None:
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"the previous output")
    for target in (tmp_path / "new.png", kept):
        with pytest.raises(EncoderFailed), Storage("").open_write(str(target)) as out:
            out.write(b"half an image")
            raise EncoderFailed("halfway")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.png"]
    assert kept.read_bytes() == b"the previous output"


# -- memory ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def separate_s3(tmp_path_factory: pytest.TempPathFactory) -> str:
    """moto in its own process, so that its memory is not counted with ours."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = Process([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                     env, tmp_path_factory.mktemp("moto") / "moto.log")
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")

    def created() -> bool:
        try:
            client.create_bucket(Bucket="memory")
            return True
        except (BotoCoreError, ClientError):  # not listening yet
            return False
    wait_for(created, 30, "moto_server")
    yield endpoint
    server.stop()


def test_streaming_memory_is_a_few_parts_not_the_object(separate_s3: str, monkeypatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    target = Storage(separate_s3)
    target.put("s3://memory/warm-up", b"client and service models loaded")
    block = os.urandom(MiB)
    total = 80 * MiB
    tracemalloc.start()
    try:
        with target.open_write("s3://memory/big.bin", part_size=MIN_PART_SIZE) as out:
            for _ in range(total // MiB):
                out.write(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert target.head("s3://memory/big.bin").size == total
    # In the stream: its buffer, the part being read, one waiting for room, the parts being sent.
    bound = (storage.PARTS_IN_FLIGHT + 2) * MIN_PART_SIZE + storage.PIPE_CAPACITY
    assert out.peak_unsent_bytes <= bound, out.peak_unsent_bytes / MiB
    assert peak < total / 2, f"{peak / MiB:.1f} MiB held to stream {total / MiB:.0f} MiB"


def test_a_refused_part_stops_the_writer_at_once(s3, s3_endpoint: str, bucket: str, monkeypatch) -> None:
    """S3 refusing one part fails the upload at once: the writer is stopped within a few parts
    rather than made to encode the rest of an object nobody will store, and nothing is left."""
    target = Storage(s3_endpoint)
    upload_part = target.s3.upload_part

    def refuse_part_two(**kwargs):
        if kwargs["PartNumber"] == 2:
            denied = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            raise ClientError(denied, "UploadPart")
        return upload_part(**kwargs)

    monkeypatch.setattr(target.s3, "upload_part", refuse_part_two)
    written = 0
    with pytest.raises(StorageError, match="AccessDenied"), \
            target.open_write(f"s3://{bucket}/refused.png", part_size=MIN_PART_SIZE) as out:
        for _ in range(60):
            out.write(b"\1" * MiB)
            written += 1
    assert written <= 6 * MIN_PART_SIZE // MiB, f"{written} MiB written after part 2 was refused"
    assert not exists(s3, bucket, "refused.png")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
