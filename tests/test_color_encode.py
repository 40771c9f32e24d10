"""Encoding with colour: a stand-in x4 upscale of colour-managed inputs, written ``srgb`` and
``keep``, looks like the input when each is rendered through its own profile; metadata policy."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.test_color_decode import (
    LIMITS,
    RGB_PROFILES,
    SWATCHES,
    cmyk_jpeg,
    cmyk_profile,
    default_cmyk,  # noqa: F401  (fixture)
    from_srgb_with_imagecms,
    pil_bytes,
    profile,
    render_srgb,
    swatch_rgb,
)
from upscaler.evaluation.image_metrics import color_drift
from upscaler.imageio import decode, encode
from upscaler.imageio.color.management import SRGB_DESCRIPTION, output_color, srgb_profile_bytes


def upscale_x4(pixels: np.ndarray) -> np.ndarray:
    """Stands in for the engine: bicubic x4, same dtype and channels."""
    return cv2.resize(pixels, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)


def embedded_icc(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as img:
        return img.info.get("icc_profile")


def wide_gamut_input(name: str, fmt: str = "JPEG", path=SWATCHES[0]) -> tuple[bytes, bytes]:
    icc = RGB_PROFILES[name]()
    kwargs = {"quality": 95} if fmt == "JPEG" else {}
    return pil_bytes(from_srgb_with_imagecms(swatch_rgb(path), icc), fmt, icc_profile=icc, **kwargs), icc


@pytest.mark.parametrize("out_fmt", ["png", "jpeg", "webp", "tiff"])
@pytest.mark.parametrize("color_space", ["srgb", "keep"])
@pytest.mark.parametrize("name", sorted(RGB_PROFILES))
def test_output_looks_like_the_input_through_their_profiles(name: str, color_space: str, out_fmt: str
                                                            ) -> None:
    for path in SWATCHES:
        data, icc = wide_gamut_input(name, "JPEG", path)
        decoded = decode(data, "in.jpg", LIMITS)
        out = encode(upscale_x4(decoded.pixels), out_fmt, 95, color=decoded.color, color_space=color_space)
        # Both rendered to sRGB by ImageCms through the profile each file carries, then compared
        # low-passed at 2 input pixels (8 output pixels).
        measured = color_drift(render_srgb(data), render_srgb(out))
        assert measured <= 1.0, (name, color_space, out_fmt, path.stem, measured)
        carried = embedded_icc(out)
        if color_space == "keep":
            assert carried == icc  # the source's very profile, byte for byte
        elif out_fmt != "png":
            assert carried == srgb_profile_bytes()
        else:
            assert carried is None and b"sRGB" in out[:200]  # PNG: the sRGB chunk


def test_keep_writes_sixteen_bit_for_a_sixteen_bit_input() -> None:
    import tifffile

    icc = profile("ProPhotoRGB.icc")
    rgb16 = (np.asarray(from_srgb_with_imagecms(swatch_rgb(SWATCHES[2]), icc)).astype(np.uint16) * 257)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb16, photometric="rgb", iccprofile=icc)
    decoded = decode(buffer.getvalue(), "deep.tif", LIMITS)
    upscaled = upscale_x4(decoded.pixels)
    for fmt in ("png", "tiff"):
        out = encode(upscaled, fmt, color=decoded.color, color_space="keep")
        again = decode(out, f"out.{fmt}", LIMITS)
        assert again.bit_depth == 16 and again.color.profile == icc
        # Through ProPhoto and back at 16 bits: within a few 16-bit levels of what was encoded.
        assert np.abs(again.pixels.astype(int) - upscaled).mean() < 32, fmt
        assert color_drift(decoded.pixels, again.pixels) < 0.05


def test_keep_a_gray_profile_on_gray_output() -> None:
    gray_icc = profile("Gray.icc")
    gray = np.asarray(Image.open(SWATCHES[0]).convert("L"))
    data = pil_bytes(Image.fromarray(gray, "L"), "PNG", icc_profile=gray_icc)
    decoded = decode(data, "gray.png", LIMITS)
    for fmt in ("png", "jpeg", "tiff"):
        out = encode(upscale_x4(decoded.pixels), fmt, 95, color=decoded.color, color_space="keep")
        assert embedded_icc(out) == gray_icc
        assert color_drift(render_srgb(data), render_srgb(out)) <= 1.0, fmt


@pytest.mark.parametrize("out_fmt", ["jpeg", "tiff"])
def test_keep_of_a_cmyk_input_writes_cmyk(default_cmyk: bytes, out_fmt: str) -> None:  # noqa: F811
    for path in SWATCHES:
        data = cmyk_jpeg(swatch_rgb(path), cmyk_profile())
        decoded = decode(data, "catalogue.jpg", LIMITS)
        out = encode(upscale_x4(decoded.pixels), out_fmt, 95, color=decoded.color, color_space="keep")
        with Image.open(io.BytesIO(out)) as img:
            assert img.mode == "CMYK" and img.info.get("icc_profile") == cmyk_profile()
        assert color_drift(render_srgb(data), render_srgb(out)) <= 1.0, path.stem
        assert decode(out, f"out.{out_fmt}", LIMITS).color.space == "CMYK"


@pytest.mark.parametrize("out_fmt", ["png", "webp"])
def test_keep_of_a_cmyk_input_in_an_rgb_only_format_is_srgb_with_a_warning(default_cmyk: bytes,  # noqa: F811
                                                                          out_fmt: str) -> None:
    data = cmyk_jpeg(swatch_rgb(), cmyk_profile())
    decoded = decode(data, "catalogue.jpg", LIMITS)
    target = output_color(decoded.color, decoded.pixels, "keep", out_fmt)
    assert target.is_srgb and f"cannot describe a {out_fmt.upper()} output" in target.warnings[0]
    out = encode(upscale_x4(decoded.pixels), out_fmt, 95, color=decoded.color, color_space="keep")
    assert embedded_icc(out) == (None if out_fmt == "png" else srgb_profile_bytes())
    assert color_drift(render_srgb(data), render_srgb(out)) <= 1.0


def test_s3_metadata_names_the_output_color_space() -> None:
    data, _icc = wide_gamut_input("adobe-rgb")
    decoded = decode(data, "in.jpg", LIMITS)
    srgb = output_color(decoded.color, decoded.pixels, "srgb")
    assert srgb.s3_metadata() == {"color-space": SRGB_DESCRIPTION}
    assert output_color(decoded.color, decoded.pixels, "keep").s3_metadata() == {
        "color-space": "Compatible with Adobe RGB (1998)"}
    with pytest.raises(ValueError, match="color_space 'p3'"):
        encode(decoded.pixels, "png", color=decoded.color, color_space="p3")


def photo_with_metadata(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x8298] = "(c) Stone & Co 2026"
    exif[0x013B] = "A. Mason"
    exif[0x010E] = "Sandstone, honed"
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/">'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
           'exif:GPSLatitude="51,30.0N" tiff:Orientation="6">'
           '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">(c) Stone &amp; Co 2026</rdf:li></rdf:Alt>'
           '</dc:rights></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    icc = profile("AdobeRGB1998.icc")
    img = from_srgb_with_imagecms(swatch_rgb(SWATCHES[1]).resize((40, 24)), icc)
    kwargs = {"quality": 95} if fmt == "JPEG" else {}
    return pil_bytes(img, fmt, exif=exif, xmp=xmp, icc_profile=icc, **kwargs)


@pytest.mark.parametrize("out_fmt", ["png", "jpeg", "webp", "tiff"])
def test_credits_survive_gps_goes_orientation_is_reset(out_fmt: str) -> None:
    decoded = decode(photo_with_metadata("JPEG"), "photo.jpg", LIMITS)
    assert decoded.pixels.shape[:2] == (40, 24)  # the orientation was applied
    out = encode(upscale_x4(decoded.pixels), out_fmt, 90, color=decoded.color)
    with Image.open(io.BytesIO(out)) as img:
        exif = img.getexif()
        assert exif.get(0x8298) == "(c) Stone & Co 2026" and exif.get(0x013B) == "A. Mason"
        assert exif.get(0x010E) == "Sandstone, honed"
        assert exif.get(0x0112, 1) == 1
        assert not exif.get_ifd(0x8825) and 0x8825 not in exif
        xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or getattr(img, "tag_v2", {}).get(700)
    if out_fmt != "tiff":  # TIFF keeps the credits as its own tags; its EXIF has no room for XMP here
        xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
        assert "Stone &amp; Co" in xmp and "GPS" not in xmp and 'Orientation="1"' in xmp
    again = decode(out, f"out.{out_fmt}", LIMITS)
    assert again.pixels.shape[:2] == (160, 96)  # orientation 1: not rotated a second time


def test_gps_is_kept_when_asked() -> None:
    decoded = decode(photo_with_metadata("JPEG"), "photo.jpg", LIMITS)
    out = encode(decoded.pixels, "jpeg", 90, color=decoded.color, keep_gps=True)
    with Image.open(io.BytesIO(out)) as img:
        assert img.getexif().get_ifd(0x8825)[1] == "N"
        assert b"GPSLatitude" in img.info["xmp"]


def test_untagged_encode_is_unchanged() -> None:
    """Callers that pass no colour get exactly the bytes they always had."""
    pixels = cv2.imread(str(SWATCHES[0]), cv2.IMREAD_UNCHANGED)
    for fmt in ("jpeg", "webp", "tiff"):
        expected = cv2.imencode({"jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}[fmt], pixels,
                                [cv2.IMWRITE_JPEG_QUALITY, 90] if fmt == "jpeg" else
                                [cv2.IMWRITE_WEBP_QUALITY, 90] if fmt == "webp" else [])[1].tobytes()
        assert encode(pixels, fmt, 90) == expected, fmt
    assert embedded_icc(encode(pixels, "png")) is None and b"sRGB" not in encode(pixels, "png")[:100]


def test_a_large_profile_is_split_over_jpeg_app2_segments() -> None:
    from upscaler.imageio.file_tags import FileTags, tag_jpeg

    big = cmyk_profile()  # 187 KB: three APP2 segments
    plain = encode(cv2.imread(str(SWATCHES[0]), cv2.IMREAD_UNCHANGED), "jpeg", 90)
    tagged = tag_jpeg(plain, FileTags(icc_profile=big))
    assert tagged.count(b"ICC_PROFILE\x00") == 3
    assert embedded_icc(tagged) == big
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_UNCHANGED),
                                  cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_UNCHANGED))
