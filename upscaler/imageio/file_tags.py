"""Color profiles and metadata written into encoded files, without re-encoding their pixels.

OpenCV encodes JPEG and WebP (the encoders and settings outputs have always had) but cannot
embed an ICC profile or metadata; both containers are simple enough to add them to the encoded
bytes: JPEG as APP1 (EXIF, XMP), APP2 (ICC, split into 64 KB segments as ICC.1 Annex B says)
and APP13 (IPTC) segments after the JFIF header; WebP by turning the simple RIFF into the
extended one (VP8X header, ICCP before the bitstream, EXIF and XMP after). PNG chunks are
written by :mod:`upscaler.imageio.png`; TIFF by tifffile, which writes the ICC tag (34675) itself.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np

_ICC_SEGMENT = b"ICC_PROFILE\x00"
_ICC_CHUNK_BYTES = 65_519            # 65535 - 2 (length) - 12 (marker name) - 2 (sequence, count)
_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass(frozen=True)
class FileTags:
    """What to embed: an ICC profile (or PNG's sRGB chunk), EXIF (TIFF structure), XMP, IPTC."""

    icc_profile: bytes | None = None
    icc_name: str = "ICC profile"
    png_srgb: bool = False           # PNG: the sRGB chunk (plus gAMA/cHRM) instead of iCCP
    exif: bytes | None = None
    xmp: bytes | None = None
    iptc_app13: bytes | None = None  # JPEG only


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > 65_533:
        raise ValueError(f"a JPEG APP segment holds at most 65533 bytes, not {len(payload)}")
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg_segments(tags: FileTags) -> bytes:
    out = []
    if tags.exif:
        out.append(_jpeg_segment(0xE1, _EXIF_HEADER + tags.exif))
    if tags.xmp and len(_XMP_HEADER) + len(tags.xmp) <= 65_533:
        out.append(_jpeg_segment(0xE1, _XMP_HEADER + tags.xmp))
    if tags.icc_profile:
        chunks = [tags.icc_profile[i : i + _ICC_CHUNK_BYTES]
                  for i in range(0, len(tags.icc_profile), _ICC_CHUNK_BYTES)]
        if len(chunks) > 255:
            raise ValueError(f"an ICC profile of {len(tags.icc_profile):,} bytes is too big for JPEG")
        out += [_jpeg_segment(0xE2, _ICC_SEGMENT + bytes([n, len(chunks)]) + chunk)
                for n, chunk in enumerate(chunks, 1)]
    if tags.iptc_app13:
        out.append(_jpeg_segment(0xED, tags.iptc_app13))
    return b"".join(out)


def tag_jpeg(data: bytes | memoryview, tags: FileTags) -> bytes:
    """``data`` (a JPEG) with ``tags``' segments after SOI and the JFIF APP0, if there is one."""
    data = bytes(data)
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    insert_at = 2
    if data[2:4] == b"\xff\xe0":
        insert_at = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:insert_at] + jpeg_segments(tags) + data[insert_at:]


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def tag_webp(data: bytes | memoryview, tags: FileTags, width: int, height: int, alpha: bool) -> bytes:
    """``data`` (a WebP from libwebp) as an extended WebP carrying ``tags``."""
    data = bytes(data)
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP (no RIFF/WEBP header)")
    chunks = [(k, p) for k, p in _riff_chunks(data) if k not in (b"VP8X", b"ICCP", b"EXIF", b"XMP ")]
    flags = ((0x20 if tags.icc_profile else 0) | (0x10 if alpha else 0) | (0x08 if tags.exif else 0)
             | (0x04 if tags.xmp else 0))
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    header = struct.pack("<B3x", flags) + canvas
    body = [_riff_chunk(b"VP8X", header)]
    if tags.icc_profile:
        body.append(_riff_chunk(b"ICCP", tags.icc_profile))
    body += [_riff_chunk(kind, payload) for kind, payload in chunks]
    if tags.exif:
        body.append(_riff_chunk(b"EXIF", tags.exif))
    if tags.xmp:
        body.append(_riff_chunk(b"XMP ", tags.xmp))
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def cmyk_jpeg_bytes(cmyk: np.ndarray, quality: int) -> bytes:
    """A CMYK JPEG (HxWx4 uint8, 0 = no ink) by Pillow's libjpeg, which OpenCV cannot write; stored
    inverted with an Adobe segment, as Photoshop writes CMYK and every decoder expects."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_chunks(tags: FileTags) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the chunks to write between IHDR and IDAT (colour chunks must come
    before the image data; eXIf and iTXt may, so all go there)."""
    chunks: list[tuple[bytes, bytes]] = []
    if tags.png_srgb:
        # sRGB, with the gAMA and cHRM the PNG spec asks to go with it for older decoders.
        chunks.append((b"sRGB", b"\x00"))  # rendering intent: perceptual
        chunks.append((b"gAMA", struct.pack(">I", 45455)))
        chunks.append((b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)))
    elif tags.icc_profile:
        # iCCP's name: 1-79 Latin-1 bytes, no NUL.
        name = tags.icc_name.encode("latin-1", "replace").replace(b"\x00", b" ")[:79].strip()
        name = name or b"ICC profile"
        chunks.append((b"iCCP", name + b"\x00\x00" + zlib.compress(tags.icc_profile, 9)))
    if tags.exif:
        chunks.append((b"eXIf", tags.exif))
    if tags.xmp:
        chunks.append((b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + tags.xmp))
    return chunks


def tiff_bytes(pixels: np.ndarray, tags: FileTags, artist: str | None, copyright: str | None,
               description: str | None, cmyk: bool = False) -> bytes:
    """A deflate-compressed TIFF of OpenCV-layout ``pixels`` (8/16-bit; ``cmyk``: HxWx4 C, M, Y, K)
    with the ICC profile, XMP and the EXIF credits as TIFF tags (TIFF has its own Artist, Copyright
    and ImageDescription)."""
    import tifffile

    if pixels.ndim == 3 and not cmyk:
        order = [2, 1, 0, 3][: pixels.shape[2]]
        pixels = pixels[:, :, order]
    extratags = []
    if artist:
        extratags.append((315, "s", 0, artist, True))
    if copyright:
        extratags.append((33432, "s", 0, copyright, True))
    if tags.xmp:
        extratags.append((700, "B", len(tags.xmp), tags.xmp, True))
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, pixels, photometric="separated" if cmyk else "minisblack" if pixels.ndim == 2 else "rgb",
        # Alpha as an unspecified extra sample, as OpenCV writes it: OpenCV reads a TIFF marked
        # "unassociated alpha" premultiplied, which would darken a round trip through the decoder.
        extrasamples=("unspecified",) if pixels.ndim == 3 and pixels.shape[2] == 4 and not cmyk else None,
        compression="zlib", iccprofile=tags.icc_profile, description=description, metadata=None,
        software=False, extratags=extratags,
    )
    return buffer.getvalue()
