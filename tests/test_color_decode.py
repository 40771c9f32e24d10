"""Decoding colour-managed inputs made from real ICC profiles: the pixels come back as the sRGB
swatch they were made from. Also the helpers the other tests/test_color_*.py files share."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from upscaler.imageio.color import lcms
from upscaler.errors import InvalidImageError, PermanentError
from upscaler.evaluation.image_metrics import color_drift
from upscaler.imageio import Limits, decode, encode
from upscaler.imageio.color.management import ColorProfileError, srgb_profile_bytes
from upscaler.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
ICC = Path(__file__).resolve().parent / "data" / "icc"
FETCHED_ICC = Path(__file__).resolve().parent / ".icc"
SWATCHES = sorted((ROOT / "samples" / "colour").glob("*.png"))
LIMITS = Limits(max_input_pixels=10_000_000, max_output_pixels=160_000_000, max_input_bytes=50_000_000)
RELATIVE_BPC = dict(renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                    flags=ImageCms.Flags.BLACKPOINTCOMPENSATION)


def profile(name: str) -> bytes:
    return (ICC / name).read_bytes()


def display_p3() -> bytes:
    """Display P3 (DCI-P3 primaries, D65, the sRGB curve), built by LittleCMS: no freely licensed
    file of it is packaged, and it is fully defined by these published numbers."""
    with lcms.rgb_profile((0.3127, 0.3290), ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), None,
                          "Display P3") as p3:
        return p3.to_bytes()


def cmyk_profile() -> bytes:
    path = FETCHED_ICC / "default_cmyk.icc"
    assert path.exists(), "run tests/fetch_icc_profiles.sh first (Ghostscript's CMYK profile)"
    return path.read_bytes()


@pytest.fixture(autouse=True)
def settings_read_again():
    """UPSCALER_CMYK_PROFILE is a setting: read again after a test sets it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture()
def default_cmyk(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The decoder's default CMYK profile pointed at the fetched copy (installed: libgs-common's)."""
    cmyk_profile()
    monkeypatch.setenv("UPSCALER_CMYK_PROFILE", str(FETCHED_ICC / "default_cmyk.icc"))
    get_settings.cache_clear()
    return cmyk_profile()


def swatch_rgb(path: Path = SWATCHES[0]) -> Image.Image:
    return Image.open(path).convert("RGB")


def cms(data: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(data))


def from_srgb_with_imagecms(img: Image.Image, target: bytes, mode: str = "RGB") -> Image.Image:
    return ImageCms.profileToProfile(img, cms(srgb_profile_bytes()), cms(target), outputMode=mode,
                                     **RELATIVE_BPC)


def pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def render_srgb(data: bytes) -> np.ndarray:
    """What a colour-managed viewer shows: the file through its own profile (Pillow + ImageCms,
    independent of our decoder), as BGR uint8. Untagged and PNG-sRGB files are sRGB already."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        icc = img.info.get("icc_profile")
        if img.mode == "I;16":
            img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8), "L")
        if icc:
            img = ImageCms.profileToProfile(img, cms(icc), cms(srgb_profile_bytes()), outputMode="RGB",
                                            **RELATIVE_BPC)
        return np.asarray(img.convert("RGB"))[:, :, ::-1].copy()


def bgr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))[:, :, ::-1].copy()


def drift(reference_bgr: np.ndarray, pixels: np.ndarray) -> float:
    """Mean CIEDE2000 after a Gaussian low-pass of 2 reference pixels (quality.color_drift)."""
    return color_drift(reference_bgr, pixels)


def png_with_iccp(pixels: np.ndarray, icc: bytes, name: bytes = b"profile") -> bytes:
    """A PNG written by OpenCV with an iCCP chunk spliced in after IHDR (independent of our writer)."""
    ok, buf = cv2.imencode(".png", pixels)
    assert ok
    data = buf.tobytes()
    payload = name + b"\x00\x00" + zlib.compress(icc)
    crc = struct.pack(">I", zlib.crc32(b"iCCP" + payload))
    chunk = struct.pack(">I", len(payload)) + b"iCCP" + payload + crc
    return data[:33] + chunk + data[33:]


# Wide-gamut RGB inputs, made by ImageCms from the sRGB swatches (8-bit).
RGB_PROFILES = {
    "adobe-rgb": lambda: profile("AdobeRGB1998.icc"),
    "prophoto": lambda: profile("ProPhotoRGB.icc"),
    "wide-gamut": lambda: profile("WideGamutRGB.icc"),
    "eci-rgb-v2": lambda: profile("ECI-RGBv2.icc"),
    "display-p3": display_p3,
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
@pytest.mark.parametrize("name", sorted(RGB_PROFILES))
def test_wide_gamut_inputs_decode_to_the_srgb_swatch(name: str, fmt: str) -> None:
    icc = RGB_PROFILES[name]()
    for path in SWATCHES:
        swatch = swatch_rgb(path)
        kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        data = pil_bytes(from_srgb_with_imagecms(swatch, icc), fmt, icc_profile=icc, **kwargs)
        decoded = decode(data, f"{path.stem}.{fmt.lower()}", LIMITS)
        assert decoded.color.converted and decoded.color.profile == icc
        assert decoded.color.warnings == ()
        # Against the swatch itself, and against what ImageCms renders of the very same file.
        limit = 1.0 if fmt in ("JPEG", "WEBP") else 0.6
        assert drift(bgr(swatch), decoded.pixels) < limit, (name, fmt, path.stem)
        assert drift(render_srgb(data), decoded.pixels) < 0.3, (name, fmt, path.stem)


def test_untagged_decode_is_unchanged_from_before_color_management() -> None:
    for path in SWATCHES:
        data = path.read_bytes()
        opencv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        decoded = decode(data, path.name, LIMITS)
        assert not decoded.color.converted and decoded.color.origin == "untagged"
        np.testing.assert_array_equal(decoded.pixels, opencv)
    jpeg = pil_bytes(swatch_rgb(), "JPEG", quality=90)
    np.testing.assert_array_equal(decode(jpeg, "a.jpg", LIMITS).pixels,
                                  cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED))


def swatch_layouts() -> dict[str, np.ndarray]:
    bgr8 = cv2.imread(str(SWATCHES[1]), cv2.IMREAD_UNCHANGED)
    alpha = np.linspace(0, 255, bgr8.shape[1]).astype(np.uint8)[None, :].repeat(bgr8.shape[0], 0)
    return {"bgr": bgr8, "bgra": np.dstack([bgr8, alpha]), "gray": cv2.cvtColor(bgr8, cv2.COLOR_BGR2GRAY),
            "bgr16": bgr8.astype(np.uint16) * 257 + 100}


@pytest.mark.parametrize("layout", ["bgr", "bgra", "gray", "bgr16"])
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "tiff"])
def test_untagged_round_trip_keeps_the_pixels(fmt: str, layout: str) -> None:
    """decode -> encode (srgb, tagged) -> decode gives the pixels an untagged round trip gives."""
    data = encode(swatch_layouts()[layout], fmt, 92)
    decoded = decode(data, f"a.{fmt}", LIMITS)
    tagged = encode(decoded.pixels, fmt, 92, color=decoded.color, color_space="srgb")
    plain = encode(decoded.pixels, fmt, 92)
    assert tagged != plain  # the tag is there ...
    again = decode(tagged, f"b.{fmt}", LIMITS)
    assert not again.color.converted
    # ... the pixels are the same
    np.testing.assert_array_equal(again.pixels, decode(plain, f"c.{fmt}", LIMITS).pixels)


def test_an_srgb_profile_is_not_applied() -> None:
    swatch = swatch_rgb()
    builtin_srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = pil_bytes(swatch, "PNG", icc_profile=builtin_srgb)
    decoded = decode(data, "srgb.png", LIMITS)
    assert not decoded.color.converted
    np.testing.assert_array_equal(decoded.pixels, bgr(swatch))


def test_png_srgb_chunk_and_gamma_chunks() -> None:
    swatch = swatch_rgb()
    untagged = decode(pil_bytes(swatch, "PNG"), "x.png", LIMITS)
    srgb_chunk = decode(encode(untagged.pixels, "png", color=untagged.color), "s.png", LIMITS)
    assert srgb_chunk.color.origin == "png-srgb" and not srgb_chunk.color.converted
    np.testing.assert_array_equal(srgb_chunk.pixels, bgr(swatch))

    # A linear-light PNG (gAMA 1.0): decoded pixels are the swatch again.
    linear = (np.asarray(swatch, np.float64) / 255.0)
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    linear16 = np.rint(linear * 65535).astype(np.uint16)[:, :, ::-1].copy()
    ok, buf = cv2.imencode(".png", linear16)
    data = buf.tobytes()
    gama = struct.pack(">I", 100000)
    chunk = struct.pack(">I", 4) + b"gAMA" + gama + struct.pack(">I", zlib.crc32(b"gAMA" + gama))
    decoded = decode(data[:33] + chunk + data[33:], "linear.png", LIMITS)
    assert decoded.color.origin == "png-gama" and decoded.color.converted and decoded.bit_depth == 16
    assert drift(bgr(swatch), decoded.pixels) < 0.3


def test_sixteen_bit_prophoto_keeps_its_depth() -> None:
    import tifffile

    icc = profile("ProPhotoRGB.icc")
    swatch = swatch_rgb(SWATCHES[2])
    srgb16 = (np.asarray(swatch).astype(np.uint16) * 257)[:, :, ::-1].copy()
    with lcms.Profile.from_bytes(srgb_profile_bytes()) as s, lcms.Profile.from_bytes(icc) as p:
        prophoto16 = lcms.transform(srgb16, s, p)
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, prophoto16[:, :, ::-1], photometric="rgb", iccprofile=icc)
    for name, data in (("deep.tif", tiff.getvalue()), ("deep.png", png_with_iccp(prophoto16, icc))):
        decoded = decode(data, name, LIMITS)
        assert decoded.bit_depth == 16 and decoded.color.converted
        assert drift(srgb16, decoded.pixels) < 0.05, name
        # 16-bit precision: within a few 16-bit levels of the swatch, far finer than 8-bit steps.
        assert np.abs(decoded.pixels.astype(int) - srgb16).mean() < 257 / 4, name


def cmyk_jpeg(swatch: Image.Image, icc: bytes | None) -> bytes:
    cmyk = from_srgb_with_imagecms(swatch, cmyk_profile(), "CMYK")
    return pil_bytes(cmyk, "JPEG", quality=95, **({"icc_profile": icc} if icc else {}))


def ycck_jpeg(swatch: Image.Image) -> bytes:
    """A YCCK JPEG (Adobe transform 2) of the swatch in the default CMYK profile. Pillow writes
    CMYK only; we feed it the YCCK components (inverted, as it inverts on save) and mark the
    Adobe segment YCCK, which is all that tells a decoder the components are YCCK."""
    cmyk = np.asarray(from_srgb_with_imagecms(swatch, cmyk_profile(), "CMYK"))
    # libjpeg's YCCK -> CMYK: R,G,B from YCC, then C = 255 - R ...; Adobe's CMYK is stored inverted,
    # so the YCC components encode (R, G, B) = (c, m, y) ink, and K is stored as 255 - k.
    ycc = cv2.cvtColor(np.ascontiguousarray(cmyk[:, :, :3]), cv2.COLOR_RGB2YCrCb)[:, :, [0, 2, 1]]
    components = np.dstack([ycc, 255 - cmyk[:, :, 3]])
    data = pil_bytes(Image.fromarray(255 - components, "CMYK"), "JPEG", quality=95)
    adobe = data.index(b"Adobe")
    transform_at = adobe + 11
    assert data[transform_at] == 0
    return data[:transform_at] + b"\x02" + data[transform_at + 1 :]


def test_cmyk_jpegs_with_and_without_a_profile(default_cmyk: bytes) -> None:
    for path in SWATCHES:
        swatch = swatch_rgb(path)
        tagged = cmyk_jpeg(swatch, cmyk_profile())
        rendered = render_srgb(tagged)
        decoded = decode(tagged, "catalogue.jpg", LIMITS)
        assert decoded.color.space == "CMYK" and decoded.color.origin == "icc"
        assert decoded.pixels.shape[2] == 3
        assert drift(rendered, decoded.pixels) < 0.3
        assert drift(bgr(swatch), decoded.pixels) < 2.5  # the press gamut is smaller than sRGB's

        untagged = decode(cmyk_jpeg(swatch, None), "untagged-cmyk.jpg", LIMITS)
        assert untagged.color.origin == "default-cmyk" and untagged.color.warnings == ()
        assert drift(rendered, untagged.pixels) < 0.3


def test_ycck_jpeg_is_decoded_like_its_cmyk(default_cmyk: bytes) -> None:
    swatch = swatch_rgb(SWATCHES[0])
    data = ycck_jpeg(swatch)
    with Image.open(io.BytesIO(data)) as img:
        assert img.info.get("adobe_transform") == 2
    decoded = decode(data, "ycck.jpg", LIMITS)
    assert decoded.color.space == "CMYK"
    assert drift(render_srgb(cmyk_jpeg(swatch, cmyk_profile())), decoded.pixels) < 0.5


def test_cmyk_without_a_default_profile_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from upscaler.imageio.color import management as color_management

    monkeypatch.setattr(color_management, "DEFAULT_CMYK_PROFILE_PATHS", [])
    monkeypatch.delenv("UPSCALER_CMYK_PROFILE", raising=False)
    get_settings.cache_clear()
    decoded = decode(cmyk_jpeg(swatch_rgb(), None), "bare.jpg", LIMITS)
    assert decoded.color.origin == "naive-cmyk" and "no default CMYK profile" in decoded.color.warnings[0]
    assert decoded.pixels.shape[2] == 3


def test_gray_with_a_gray_profile() -> None:
    gray_icc = profile("Gray.icc")  # gamma 2.2 gray, D50
    gray = np.asarray(Image.open(ROOT / "samples" / "brick.png").convert("L"))
    data = pil_bytes(Image.fromarray(gray, "L"), "PNG", icc_profile=gray_icc)
    decoded = decode(data, "brick.png", LIMITS)
    assert decoded.pixels.ndim == 2 and decoded.color.space == "GRAY" and decoded.color.converted
    rendered = render_srgb(data)  # ImageCms: gray profile -> sRGB
    assert np.abs(decoded.pixels.astype(int) - rendered[:, :, 1]).max() <= 2


def test_a_broken_profile_is_a_warning_and_srgb() -> None:
    swatch = swatch_rgb()
    truncated = profile("AdobeRGB1998.icc")[:300]  # a header LittleCMS opens, tags it cannot read
    garbage = b"not a profile at all" * 10           # not even a header
    for fmt, broken in (("PNG", truncated), ("JPEG", garbage)):
        data = pil_bytes(swatch, fmt, icc_profile=broken, **({"quality": 95} if fmt == "JPEG" else {}))
        decoded = decode(data, f"supplier/broken.{fmt.lower()}", LIMITS)
        assert not decoded.color.converted and decoded.color.origin == "ignored"
        (warning,) = decoded.color.warnings
        assert warning.startswith(f"supplier/broken.{fmt.lower()}: ")
        assert warning.endswith("; treated as sRGB")
        assert ("unusable ICC profile" if broken is truncated else "corrupt ICC profile") in warning
        as_is = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(decoded.pixels, as_is)


def test_an_rgb_profile_on_a_gray_image_is_refused() -> None:
    gray = Image.fromarray(np.full((8, 8), 120, np.uint8), "L")
    data = pil_bytes(gray, "JPEG", icc_profile=profile("AdobeRGB1998.icc"))
    with pytest.raises(ColorProfileError) as info:
        decode(data, "supplier/gray.jpg", LIMITS)
    assert isinstance(info.value, PermanentError) and isinstance(info.value, InvalidImageError)
    assert info.value.code == "color_profile_mismatch"
    message = str(info.value)
    assert "supplier/gray.jpg" in message and "Adobe RGB" in message and "for RGB images" in message


def test_a_gray_profile_on_an_rgb_image_is_refused() -> None:
    data = pil_bytes(swatch_rgb(), "PNG", icc_profile=profile("Gray.icc"))
    with pytest.raises(ColorProfileError, match=r"rgb\.png: .*for GRAY images, but the pixels are RGB"):
        decode(data, "rgb.png", LIMITS)


def test_perceptual_intent_is_used_where_asked() -> None:
    icc = profile("ProPhotoRGB.icc")
    data = pil_bytes(from_srgb_with_imagecms(swatch_rgb(), icc), "PNG", icc_profile=icc)
    relative = decode(data, "a.png", LIMITS)
    perceptual = decode(data, "a.png", LIMITS, intent="perceptual")
    assert perceptual.color.intent == "perceptual" and drift(relative.pixels, perceptual.pixels) < 1.0
    with pytest.raises(ValueError, match="intent"):
        decode(data, "a.png", LIMITS, intent="saturation")


def test_a_cmyk_image_with_a_broken_profile_gets_the_default_one(default_cmyk: bytes) -> None:
    swatch = swatch_rgb()
    decoded = decode(cmyk_jpeg(swatch, cmyk_profile()[:400]), "catalogue.jpg", LIMITS)
    assert decoded.color.origin == "default-cmyk" and decoded.color.converted
    assert decoded.color.warnings[0].startswith("catalogue.jpg: ")
    assert decoded.color.warnings[0].endswith("read with the default CMYK profile")
    assert drift(render_srgb(cmyk_jpeg(swatch, cmyk_profile())), decoded.pixels) < 0.3


def test_a_broken_default_cmyk_profile_is_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken_cmyk.icc"
    broken.write_bytes(cmyk_profile()[:400])
    monkeypatch.setenv("UPSCALER_CMYK_PROFILE", str(broken))
    get_settings.cache_clear()
    decoded = decode(cmyk_jpeg(swatch_rgb(), None), "bare.jpg", LIMITS)
    assert decoded.color.origin == "naive-cmyk" and decoded.pixels.shape[2] == 3
    assert decoded.color.warnings[0].startswith("bare.jpg: ") and "naive" in decoded.color.warnings[0]
