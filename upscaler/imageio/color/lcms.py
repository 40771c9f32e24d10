"""LittleCMS, the colour engine Pillow's ImageCms wraps, called directly on NumPy arrays.

Why not ImageCms itself for the pixels: its transforms only take Pillow images, and Pillow has
no 16-bit RGB image mode, so a 16-bit photo would lose its depth; it also wants RGB order and a
copy into a Pillow image and back. LittleCMS itself transforms any layout: BGR and BGRA (alpha
copied untouched), gray and CMYK, 8 and 16 bits. So we call the very library Pillow loaded
(its wheels bundle one; a system Pillow links the system's), through ctypes: same code, same
results as ImageCms for 8-bit (tests/test_color_lcms.py checks it), and 16-bit kept.
Foreign calls release the GIL, and transforms are built without LittleCMS's one-pixel cache,
so several threads may convert at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
from pathlib import Path

import numpy as np
import PIL
from PIL import ImageCms  # noqa: F401  (loads Pillow's LittleCMS, which _library then finds)

# Rendering intents, as ICC numbers them.
PERCEPTUAL, RELATIVE_COLORIMETRIC, SATURATION, ABSOLUTE_COLORIMETRIC = 0, 1, 2, 3
INTENTS = {"perceptual": PERCEPTUAL, "relative": RELATIVE_COLORIMETRIC, "saturation": SATURATION,
           "absolute": ABSOLUTE_COLORIMETRIC}

# Profile colour spaces (ICC signatures).
SIG_RGB, SIG_GRAY, SIG_CMYK = 0x52474220, 0x47524159, 0x434D594B
_SIG_DESCRIPTION, _SIG_COPYRIGHT = 0x64657363, 0x63707274

_FLAG_NOCACHE = 0x0040                 # no one-pixel cache: thread-safe transforms
_FLAG_BLACK_POINT_COMPENSATION = 0x2000
_FLAG_COPY_ALPHA = 0x04000000          # extra channels (alpha) pass through unchanged

_PT_GRAY, _PT_RGB, _PT_CMYK = 3, 4, 6  # LittleCMS pixel-type codes for the format words below


def _pixel_format(space: int, channels: int, extra: int, itemsize: int, swap: bool = False,
                  swap_first: bool = False) -> int:
    """LittleCMS's packed format word (lcms2.h's TYPE_* macros)."""
    return ((space << 16) | (int(swap_first) << 14) | (int(swap) << 10) | (extra << 7) | (channels << 3)
            | itemsize)


class LittleCMSError(RuntimeError):
    """LittleCMS refused a profile or a transform."""


class _CIExyY(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]


class _CIExyYTriple(ctypes.Structure):
    _fields_ = [("red", _CIExyY), ("green", _CIExyY), ("blue", _CIExyY)]


def _candidate_paths() -> list[str]:
    """Where Pillow's own LittleCMS is: already mapped into this process (Linux), or beside the
    package (wheels: pillow.libs on Linux and Windows, PIL/.dylibs on macOS); then the system's."""
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths += [line.split()[-1] for line in maps if "liblcms2" in line and "/" in line]
    except OSError:
        pass
    pil_dir = Path(PIL.__file__).parent
    for folder in (pil_dir.parent / "pillow.libs", pil_dir / ".dylibs"):
        paths += sorted(glob.glob(str(folder / "*lcms2*")))
    system = ctypes.util.find_library("lcms2")
    return list(dict.fromkeys(paths + ([system] if system else [])))


@functools.cache
def _library() -> ctypes.CDLL:
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
            lib.cmsCreateTransform  # noqa: B018  (is it LittleCMS 2?)
            break
        except (OSError, AttributeError):
            continue
    else:
        raise LittleCMSError("LittleCMS 2 was not found (neither Pillow's bundled copy nor liblcms2)")
    handle, u32, double = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_double
    signatures = {
        "cmsOpenProfileFromMem": ([ctypes.c_char_p, u32], handle),
        "cmsCloseProfile": ([handle], ctypes.c_int),
        "cmsGetColorSpace": ([handle], u32),
        "cmsIsIntentSupported": ([handle, u32, u32], ctypes.c_int),
        "cmsCreateTransform": ([handle, u32, handle, u32, u32, u32], handle),
        "cmsDoTransform": ([handle, ctypes.c_void_p, ctypes.c_void_p, u32], None),
        "cmsDeleteTransform": ([handle], None),
        "cmsCreate_sRGBProfile": ([], handle),
        "cmsCreateRGBProfile": ([ctypes.POINTER(_CIExyY), ctypes.POINTER(_CIExyYTriple),
                                 ctypes.POINTER(handle)], handle),
        "cmsCreateGrayProfile": ([ctypes.POINTER(_CIExyY), handle], handle),
        "cmsBuildParametricToneCurve": ([handle, ctypes.c_int32, ctypes.POINTER(double)], handle),
        "cmsBuildGamma": ([handle, double], handle),
        "cmsFreeToneCurve": ([handle], None),
        "cmsSetProfileVersion": ([handle, double], None),
        "cmsSaveProfileToMem": ([handle, ctypes.c_void_p, ctypes.POINTER(u32)], ctypes.c_int),
        "cmsMLUalloc": ([handle, u32], handle),
        "cmsMLUsetASCII": ([handle, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
        "cmsMLUfree": ([handle], None),
        "cmsWriteTag": ([handle, u32, handle], ctypes.c_int),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


class Profile:
    """An opened ICC profile; close it (or use ``with``) to free LittleCMS's copy."""

    def __init__(self, handle: int, data: bytes | None = None) -> None:
        self._handle = handle
        self.data = data

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        handle = _library().cmsOpenProfileFromMem(data, len(data))
        if not handle:
            raise LittleCMSError(f"not a readable ICC profile ({len(data)} bytes)")
        return cls(handle, data)

    @property
    def handle(self) -> int:
        if not self._handle:
            raise LittleCMSError("profile already closed")
        return self._handle

    @property
    def color_space(self) -> int:
        return _library().cmsGetColorSpace(self.handle)

    def supports_intent(self, intent: int, as_output: bool = False) -> bool:
        return bool(_library().cmsIsIntentSupported(self.handle, intent, int(as_output)))

    def to_bytes(self) -> bytes:
        lib, size = _library(), ctypes.c_uint32(0)
        if not lib.cmsSaveProfileToMem(self.handle, None, ctypes.byref(size)):
            raise LittleCMSError("could not serialise a profile")
        buffer = ctypes.create_string_buffer(size.value)
        if not lib.cmsSaveProfileToMem(self.handle, buffer, ctypes.byref(size)):
            raise LittleCMSError("could not serialise a profile")
        return buffer.raw[: size.value]

    def close(self) -> None:
        if self._handle:
            _library().cmsCloseProfile(self._handle)
            self._handle = 0

    def __enter__(self) -> Profile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _with_text(handle: int, description: str, copyright: str) -> None:
    lib = _library()
    for signature, text in ((_SIG_DESCRIPTION, description), (_SIG_COPYRIGHT, copyright)):
        mlu = lib.cmsMLUalloc(None, 1)
        lib.cmsMLUsetASCII(mlu, b"en", b"US", text.encode("ascii"))
        lib.cmsWriteTag(handle, signature, mlu)
        lib.cmsMLUfree(mlu)


_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # IEC 61966-2-1's tone curve
_D65 = (0.3127, 0.3290, 1.0)


def srgb_profile(version: float = 2.1) -> Profile:
    """LittleCMS's sRGB (IEC 61966-2-1), written as an ICC v2 profile by default: v2 is what every
    viewer reads, and the built-in one would otherwise be named "sRGB built-in"."""
    profile = Profile(_library().cmsCreate_sRGBProfile())
    _library().cmsSetProfileVersion(profile.handle, version)
    _with_text(profile.handle, "sRGB IEC61966-2.1", "No copyright, use freely")
    return profile


def _tone_curve(gamma: float | None) -> int:
    lib = _library()
    if gamma is None:
        params = (ctypes.c_double * 5)(*_SRGB_CURVE)
        return lib.cmsBuildParametricToneCurve(None, 4, params)
    return lib.cmsBuildGamma(None, gamma)


def gray_profile(gamma: float | None = None, description: str = "Gray, sRGB tone curve") -> Profile:
    """A gray profile with D65 white and the sRGB tone curve (``gamma=None``) or a pure power law:
    the gray counterpart of sRGB, what a gray image is converted to and tagged with."""
    lib = _library()
    curve = _tone_curve(gamma)
    white = _CIExyY(*_D65)
    profile = Profile(lib.cmsCreateGrayProfile(ctypes.byref(white), curve))
    lib.cmsFreeToneCurve(curve)
    lib.cmsSetProfileVersion(profile.handle, 2.1)
    _with_text(profile.handle, description, "No copyright, use freely")
    return profile


def rgb_profile(white: tuple[float, float], primaries: tuple[tuple[float, float], ...],
                gamma: float | None, description: str) -> Profile:
    """A matrix/shaper RGB profile from chromaticities (x, y of white, red, green, blue) and a
    tone curve (``gamma`` the exponent from encoded to linear; None: the sRGB curve). This is how
    a PNG's gAMA/cHRM chunks, which are such a description, become a profile LittleCMS can use."""
    lib = _library()
    curve = _tone_curve(gamma)
    curves = (ctypes.c_void_p * 3)(curve, curve, curve)
    white_xyY = _CIExyY(white[0], white[1], 1.0)
    triple = _CIExyYTriple(*(_CIExyY(x, y, 1.0) for x, y in primaries))
    handle = lib.cmsCreateRGBProfile(ctypes.byref(white_xyY), ctypes.byref(triple), curves)
    lib.cmsFreeToneCurve(curve)
    if not handle:
        raise LittleCMSError(f"chromaticities {white}, {primaries} do not make an RGB profile")
    profile = Profile(handle)
    lib.cmsSetProfileVersion(profile.handle, 2.1)
    _with_text(profile.handle, description, "No copyright, use freely")
    return profile


def _format_of(space: int, channels: int, itemsize: int) -> int:
    """The LittleCMS format of OpenCV-layout pixels in ``space``: gray, BGR, BGRA, CMYK (C, M, Y, K;
    0 = no ink); ``itemsize`` 1 or 2 (integers) or 4 (float32)."""
    floating = (itemsize == 4) << 22
    if space == SIG_GRAY and channels == 1:
        return floating | _pixel_format(_PT_GRAY, 1, 0, itemsize)
    if space == SIG_RGB and channels in (3, 4):
        bgr = _pixel_format(_PT_RGB, 3, channels - 3, itemsize, swap=True, swap_first=channels == 4)
        return floating | bgr
    if space == SIG_CMYK and channels == 4:
        return floating | _pixel_format(_PT_CMYK, 4, 0, itemsize)
    raise LittleCMSError(f"{channels}-channel pixels are not pixels of colour space {space:#x}")


# LittleCMS's float encodings: 0-1 for RGB and gray, 0-100 (% ink) for CMYK.
def _float_scale(space: int) -> float:
    return 100.0 if space == SIG_CMYK else 1.0


def transform(pixels: np.ndarray, source: Profile, target: Profile, intent: int = RELATIVE_COLORIMETRIC,
              black_point_compensation: bool = True, out_channels: int | None = None,
              rows_per_call: int = 256) -> np.ndarray:
    """``pixels`` (OpenCV layout, uint8 or uint16) converted from ``source`` to ``target``: a new
    array of the same depth. RGB keeps its alpha channel; CMYK (HxWx4) gives BGR (3 channels).
    ``out_channels`` is the target's channel count when it differs from the input's.

    8-bit pixels go through LittleCMS's 8-bit path (ImageCms's, exactly). 16-bit pixels go through
    its float path, a strip of rows at a time: its 16-bit path interpolates 16-bit tables and is off
    by up to a few hundred 16-bit levels in dark tones, which would waste the depth.
    """
    if pixels.dtype not in (np.uint8, np.uint16):
        raise LittleCMSError(f"{pixels.dtype} pixels: only uint8 and uint16 are converted")
    pixels = np.ascontiguousarray(pixels)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if out_channels is None:
        out_channels = 3 if source.color_space == SIG_CMYK else channels
    shape = pixels.shape[:2] if out_channels == 1 else (*pixels.shape[:2], out_channels)
    result = np.empty(shape, pixels.dtype)
    alpha = channels == 4 and out_channels == 4 and source.color_space == SIG_RGB
    floating = pixels.dtype == np.uint16
    color_in = 3 if alpha else channels
    color_out = 3 if alpha else out_channels
    itemsize = 4 if floating else 1
    in_format = _format_of(source.color_space, color_in if floating else channels, itemsize)
    out_format = _format_of(target.color_space, color_out if floating else out_channels, itemsize)
    flags = _FLAG_NOCACHE | (_FLAG_COPY_ALPHA if alpha and not floating else 0)
    flags |= _FLAG_BLACK_POINT_COMPENSATION if black_point_compensation else 0
    lib = _library()
    handle = lib.cmsCreateTransform(source.handle, in_format, target.handle, out_format, intent, flags)
    if not handle:
        raise LittleCMSError("LittleCMS could not build a transform between these profiles")
    in_scale, out_scale = _float_scale(source.color_space) / 65535, 65535 / _float_scale(target.color_space)
    try:
        width = pixels.shape[1]
        for top in range(0, pixels.shape[0], rows_per_call):
            stop = min(top + rows_per_call, pixels.shape[0])
            count = (stop - top) * width
            if not floating:
                lib.cmsDoTransform(handle, pixels[top:stop].ctypes.data, result[top:stop].ctypes.data, count)
                continue
            strip = pixels[top:stop, :, :3] if alpha else pixels[top:stop]
            values = np.ascontiguousarray(strip, np.float32) * np.float32(in_scale)
            converted = np.empty((stop - top, width, color_out) if color_out > 1 else (stop - top, width),
                                 np.float32)
            lib.cmsDoTransform(handle, values.ctypes.data, converted.ctypes.data, count)
            out = result[top:stop, :, :3] if alpha else result[top:stop]
            out[...] = np.clip(converted * np.float32(out_scale) + np.float32(0.5), 0, 65535)
            if alpha:
                result[top:stop, :, 3] = pixels[top:stop, :, 3]
    finally:
        lib.cmsDeleteTransform(handle)
    return result


def library_path() -> str:
    """The file LittleCMS was loaded from (for diagnostics)."""
    return _library()._name
