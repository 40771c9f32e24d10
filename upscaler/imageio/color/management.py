"""Color management: what colour space an input is in, the pixels in sRGB, and the output's tag.

The engine works on sRGB and knows nothing of colour spaces. Decoding reads the input's colour
description (an embedded ICC profile; a PNG's sRGB or gAMA/cHRM chunks; for CMYK without one, a
default CMYK profile) and converts the pixels to sRGB with LittleCMS (:mod:`upscaler.imageio.color.lcms`);
what it found travels with the pixels as a :class:`SourceColor`. Encoding asks
:func:`output_colour` what to write for the job's ``color_space``:

* ``srgb`` (the default): the sRGB pixels as they are, tagged sRGB;
* ``keep``: converted back to the source's profile, which is embedded.

Untagged inputs are sRGB, and sRGB inputs (or profiles that LittleCMS maps onto sRGB, or for gray
onto sRGB's tone curve, within one 8-bit level) are never converted: their pixels stay exactly as
decoded. Gray stays one channel:
it is converted to gray with the sRGB tone curve, not to RGB. See docs/colour.md.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms

from upscaler.errors import ErrorCode, InvalidImageError, InvalidParameters
from upscaler.imageio.color import lcms
from upscaler.imageio.metadata import CarriedMetadata

COLOR_SPACES = ("srgb", "keep")
RENDERING_INTENTS = ("relative", "perceptual")
CMYK_FORMATS = ("jpeg", "tiff")  # the output formats that hold CMYK, for color_space=keep
SRGB_DESCRIPTION = "sRGB IEC61966-2.1"
GRAY_DESCRIPTION = "Gray, sRGB tone curve"

# The CMYK profile for CMYK images that carry none: Ghostscript's "Artifex CMYK SWOP Profile"
# (Debian's libgs-common), a SWOP-like press profile, close to what Photoshop assumes (US Web Coated
# SWOP). Searched in this order; UPSCALER_CMYK_PROFILE names another file.
DEFAULT_CMYK_PROFILE_PATHS = [
    "/usr/share/color/icc/ghostscript/default_cmyk.icc",
    "/usr/share/ghostscript/iccprofiles/default_cmyk.icc",
]

# A PNG gAMA within this of 1/2.2 (and no cHRM, or sRGB's) is sRGB: what libpng and browsers assume.
_SRGB_GAMMA, _GAMMA_TOLERANCE = 0.45455, 0.0002
_SRGB_CHROMATICITY = (0.3127, 0.3290, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06)
# Largest per-channel difference (8-bit levels) for which a profile counts as sRGB and is not applied.
_SRGB_EQUIVALENT_LEVELS = 1


class ColorProfileError(InvalidImageError):
    """An embedded profile that describes other pixels than the image has (an RGB profile on a gray
    image): the colours cannot be known, so the image is refused rather than guessed at."""

    code = ErrorCode.color_profile_mismatch


@dataclass(frozen=True)
class SourceColor:
    """The input's colour, as decoding found it; what ``keep`` converts back to.

    ``space``: "RGB", "GRAY" or "CMYK" (the file's pixels). ``description``: the profile's name,
    or "sRGB (untagged)". ``profile``: the ICC profile the file's pixels are in (embedded, built
    from PNG gAMA/cHRM, or the default CMYK one); None when sRGB was assumed (untagged, PNG sRGB
    chunk, unusable profile). ``converted``: whether the decoded pixels were converted to sRGB.
    ``warnings``: for the job record (an unusable profile, a missing default CMYK profile).
    """

    space: str = "RGB"
    description: str = "sRGB (untagged)"
    profile: bytes | None = None
    origin: str = "untagged"    # icc | png-srgb | png-gama | default-cmyk | naive-cmyk | untagged | ignored
    converted: bool = False
    bit_depth: int = 8
    intent: str = "relative"
    warnings: tuple[str, ...] = ()
    metadata: CarriedMetadata = field(default_factory=CarriedMetadata)


@dataclass(frozen=True)
class OutputColor:
    """What an output is written as: the profile to embed, or sRGB."""

    description: str = SRGB_DESCRIPTION
    profile: bytes | None = None        # None: sRGB (the built-in profile, or PNG's sRGB chunk)
    space: str | None = None            # "RGB", "GRAY", "CMYK": convert the sRGB pixels to ``profile``
    intent: str = "relative"
    warnings: tuple[str, ...] = ()

    @property
    def is_srgb(self) -> bool:
        return self.profile is None

    def s3_metadata(self) -> dict[str, str]:
        """Object metadata for the output (S3 user metadata: ASCII values)."""
        return {"color-space": self.description.encode("ascii", "replace").decode("ascii")}


@dataclass(frozen=True)
class ColorHeader:
    """The colour facts Pillow reads from a file's header, before any pixel is decoded."""

    mode: str
    icc_profile: bytes | None = None
    png_srgb: bool = False
    png_gamma: float | None = None
    png_chromaticity: tuple[float, ...] | None = None

    @classmethod
    def of(cls, img: Image.Image) -> ColorHeader:
        info = img.info
        chroma = info.get("chromaticity")
        return cls(img.mode, info.get("icc_profile") or None, "srgb" in info, info.get("gamma"),
                   tuple(chroma) if chroma else None)


def check_policy(color_space: str, intent: str = "relative") -> None:
    if color_space not in COLOR_SPACES:
        raise InvalidParameters(f"color_space {color_space!r}: choose one of {', '.join(COLOR_SPACES)}")
    if intent not in RENDERING_INTENTS:
        raise InvalidParameters(f"intent {intent!r}: choose one of {', '.join(RENDERING_INTENTS)}")


@functools.cache
def srgb_profile_bytes() -> bytes:
    """The sRGB profile embedded in tagged outputs (ICC v2, about 9 KB)."""
    with lcms.srgb_profile() as profile:
        return profile.to_bytes()


@functools.cache
def gray_profile_bytes() -> bytes:
    """The gray profile of gray outputs: D65 white, the sRGB tone curve."""
    with lcms.gray_profile(description=GRAY_DESCRIPTION) as profile:
        return profile.to_bytes()


def default_cmyk_profile() -> bytes | None:
    """The default CMYK profile's bytes (see DEFAULT_CMYK_PROFILE_PATHS), None if none is installed."""
    from upscaler.settings import get_settings

    configured = get_settings().cmyk_profile
    paths = [configured] if configured else []
    for path in paths + DEFAULT_CMYK_PROFILE_PATHS:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            continue
    return None


def profile_description(data: bytes) -> str:
    """The profile's own name ("Adobe RGB (1998)"), or a short hash when it has none."""
    try:
        import io

        description = ImageCms.ImageCmsProfile(io.BytesIO(data)).profile.profile_description
    except (OSError, ImageCms.PyCMSError, ValueError):
        description = ""
    description = " ".join((description or "").split())
    return description or f"ICC profile {hashlib.sha256(data).hexdigest()[:12]}"


_SPACE_NAMES = {lcms.SIG_RGB: "RGB", lcms.SIG_GRAY: "GRAY", lcms.SIG_CMYK: "CMYK"}


@functools.lru_cache(maxsize=64)
def _is_srgb_equivalent(profile_bytes: bytes, space: str = "RGB") -> bool:
    """Does converting from this RGB (gray) profile to sRGB (gray with sRGB's curve) change an 8-bit
    grid (ramp) by at most one level? Then it is sRGB, and the pixels are left as they are."""
    if space == "GRAY":
        samples, working = np.arange(256, dtype=np.uint8).reshape(1, -1), gray_profile_bytes()
    else:
        levels = np.linspace(0, 255, 9).round().astype(np.uint8)
        samples = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, -1, 3)
        working = srgb_profile_bytes()
    with lcms.Profile.from_bytes(profile_bytes) as source, lcms.Profile.from_bytes(working) as target:
        converted = lcms.transform(np.ascontiguousarray(samples), source, target)
    return int(np.abs(converted.astype(np.int16) - samples).max()) <= _SRGB_EQUIVALENT_LEVELS


def _intent_code(profile: lcms.Profile, intent: str, as_output: bool = False) -> int:
    if intent == "perceptual" and profile.supports_intent(lcms.PERCEPTUAL, as_output):
        return lcms.PERCEPTUAL
    return lcms.RELATIVE_COLORIMETRIC


def _png_chunk_profile(header: ColorHeader) -> tuple[bytes | None, str]:
    """A profile for a PNG described by gAMA (and cHRM) alone; (None, "") when that is sRGB."""
    gamma, chroma = header.png_gamma, header.png_chromaticity
    srgb_like_gamma = gamma is None or abs(gamma - _SRGB_GAMMA) <= _GAMMA_TOLERANCE
    srgb_like_chroma = chroma is None or np.allclose(chroma, _SRGB_CHROMATICITY, atol=0.0015)
    if srgb_like_gamma and srgb_like_chroma:
        return None, ""
    chroma = chroma or _SRGB_CHROMATICITY
    description = (f"PNG gAMA {gamma:.5f}" if gamma else "PNG sRGB curve") + (
        "" if srgb_like_chroma else " with cHRM primaries")
    # gAMA is the encoding exponent (about 1/2.2); LittleCMS wants the decoding one.
    with lcms.rgb_profile(chroma[0:2], (chroma[2:4], chroma[4:6], chroma[6:8]),
                          1 / gamma if gamma else None, description) as profile:
        return profile.to_bytes(), description


def pixel_space(header: ColorHeader, pixels: np.ndarray) -> str:
    """"GRAY", "RGB" or "CMYK": what the decoded pixels are (a gray+alpha PNG arrives as BGRA)."""
    if header.mode == "CMYK":
        return "CMYK"
    if pixels.ndim == 2 or header.mode in ("LA", "La"):
        return "GRAY"
    return "RGB"


def to_srgb(pixels: np.ndarray, header: ColorHeader, source: str, intent: str = "relative",
            metadata: CarriedMetadata | None = None) -> tuple[np.ndarray, SourceColor]:
    """The decoded ``pixels`` in sRGB (gray: gray with sRGB's tone curve) and what they came from.

    ``pixels``: OpenCV layout (gray, BGR, BGRA) or, for ``header.mode == "CMYK"``, HxWx4 CMYK as
    Pillow decodes it (0 = no ink). A corrupt or unusable profile is a warning and sRGB is
    assumed; a profile of another colour space than the pixels raises :class:`ColorProfileError`.
    """
    space = pixel_space(header, pixels)
    depth = 16 if pixels.dtype == np.uint16 else 8
    base = dict(space=space, bit_depth=depth, intent=intent, metadata=metadata or CarriedMetadata())
    profile_bytes, origin, description = header.icc_profile, "icc", ""
    if profile_bytes is None and header.png_srgb:
        return pixels, SourceColor(description=SRGB_DESCRIPTION, origin="png-srgb", **base)
    if profile_bytes is None and (header.png_gamma or header.png_chromaticity) and space == "RGB":
        profile_bytes, description = _png_chunk_profile(header)
        origin = "png-gama"
    if profile_bytes is None and space == "CMYK":
        profile_bytes, origin = default_cmyk_profile(), "default-cmyk"
        if profile_bytes is None:
            return _naive_cmyk(pixels, f"{source}: CMYK without a profile and no default CMYK profile "
                               "installed: converted with the naive device formula", base)
    if profile_bytes is None:
        return pixels, SourceColor(**base)
    try:
        profile = lcms.Profile.from_bytes(profile_bytes)
    except lcms.LittleCMSError as exc:
        return _unusable(pixels, header, source, f"corrupt ICC profile ({exc})", base)
    with profile:
        claimed = _SPACE_NAMES.get(profile.color_space)
        description = description or profile_description(profile_bytes)
        if claimed is None:
            return _unusable(pixels, header, source, f"unsupported ICC profile {description!r} "
                             f"(colour space {profile.color_space.to_bytes(4, 'big')!r})", base)
        if claimed != space:
            raise ColorProfileError(f"{source}: the embedded ICC profile {description!r} is for {claimed} "
                                     f"images, but the pixels are {space}", code=ColorProfileError.code)
        try:
            if space in ("RGB", "GRAY") and _is_srgb_equivalent(profile_bytes, space):
                return pixels, SourceColor(description=description, profile=profile_bytes, origin=origin,
                                            **base)
            converted = _convert_to_srgb(pixels, profile, space, intent)
        except lcms.LittleCMSError as exc:
            return _unusable(pixels, header, source, f"unusable ICC profile {description!r} ({exc})", base)
    return converted, SourceColor(description=description, profile=profile_bytes, origin=origin,
                                   converted=True, **base)


def _convert_to_srgb(pixels: np.ndarray, profile: lcms.Profile, space: str, intent: str) -> np.ndarray:
    code = _intent_code(profile, intent)
    if space == "GRAY":
        with lcms.Profile.from_bytes(gray_profile_bytes()) as gray:
            if pixels.ndim == 2:
                return lcms.transform(pixels, profile, gray, code)
            # Gray + alpha, decoded as BGRA with B = G = R: convert one, copy it to all three.
            value = lcms.transform(np.ascontiguousarray(pixels[:, :, 0]), profile, gray, code)
            return np.dstack([value, value, value, pixels[:, :, 3]])
    with lcms.Profile.from_bytes(srgb_profile_bytes()) as srgb:
        return lcms.transform(pixels, profile, srgb, code)


def _unusable(pixels: np.ndarray, header: ColorHeader, source: str, reason: str, base: dict
              ) -> tuple[np.ndarray, SourceColor]:
    if header.mode != "CMYK":
        warning = f"{source}: {reason}; treated as sRGB"
        return pixels, SourceColor(origin="ignored", warnings=(warning,), **base)
    # CMYK cannot be "treated as sRGB": the default CMYK profile it is, unless that is the broken one.
    if header.icc_profile is None:
        return _naive_cmyk(pixels, f"{source}: {reason}; converted with the naive device formula", base)
    pixels, color = to_srgb(pixels, ColorHeader("CMYK"), source, base["intent"], base["metadata"])
    warning = f"{source}: {reason}; read with the default CMYK profile"
    return pixels, SourceColor(**{**color.__dict__, "warnings": (warning, *color.warnings)})


def _naive_cmyk(pixels: np.ndarray, warning: str, base: dict) -> tuple[np.ndarray, SourceColor]:
    """CMYK to RGB as Pillow's convert does (R = 255 - C - K, ...): no profile, a last resort."""
    rgb = np.asarray(Image.fromarray(pixels, "CMYK").convert("RGB"))[:, :, ::-1].copy()
    return rgb, SourceColor(description="CMYK (device, naive)", origin="naive-cmyk", converted=True,
                             warnings=(warning,), **base)


def output_color(color: SourceColor | None, pixels: np.ndarray, color_space: str = "srgb",
                  fmt: str = "png") -> OutputColor:
    """How an output of ``pixels`` (sRGB, from an input of ``colour``) is written as ``fmt`` for
    ``color_space``. Its ``warnings`` say when ``keep`` could not be honoured (then: sRGB)."""
    check_policy(color_space)
    gray_file = pixels.ndim == 2 and fmt != "webp"  # WebP stores gray as RGB
    srgb = OutputColor(GRAY_DESCRIPTION if gray_file else SRGB_DESCRIPTION)
    if color_space == "srgb" or color is None or not color.converted or color.profile is None:
        return srgb
    if color.space == "CMYK" and (fmt not in CMYK_FORMATS or pixels.ndim != 3 or pixels.shape[2] != 3):
        return OutputColor(srgb.description, warnings=(
            f"color_space=keep: the source's CMYK profile {color.description!r} cannot describe a "
            f"{fmt.upper()} output (CMYK is written as JPEG or TIFF); written as sRGB",))
    if color.space == "GRAY" and not gray_file:
        # Gray + alpha is written as RGBA, and WebP stores gray as RGB: a gray profile tags neither.
        return OutputColor(srgb.description, warnings=(
            f"color_space=keep: the gray profile {color.description!r} cannot tag a {fmt.upper()} "
            "stored as RGB; written as sRGB",))
    return OutputColor(color.description, color.profile, color.space, color.intent)


def from_srgb(pixels: np.ndarray, target: OutputColor) -> np.ndarray:
    """sRGB ``pixels`` converted to ``target``'s profile (a new array of the same depth; CMYK: HxWx4,
    0 = no ink); as they are when the target is sRGB."""
    if target.space is None or target.profile is None:
        return pixels
    working = gray_profile_bytes() if target.space == "GRAY" else srgb_profile_bytes()
    with lcms.Profile.from_bytes(working) as source, lcms.Profile.from_bytes(target.profile) as profile:
        intent = _intent_code(profile, target.intent, as_output=True)
        channels = 4 if target.space == "CMYK" else None
        return lcms.transform(pixels, source, profile, intent, out_channels=channels)


def embedded_profile(target: OutputColor, gray: bool) -> bytes:
    """The ICC bytes an output's file carries for ``target`` (formats without PNG's sRGB chunk)."""
    if target.profile is not None:
        return target.profile
    return gray_profile_bytes() if gray else srgb_profile_bytes()
