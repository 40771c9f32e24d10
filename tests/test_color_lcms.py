"""Our direct LittleCMS calls are Pillow's ImageCms, in OpenCV's layout and with 16 bits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.test_color_decode import RGB_PROFILES, profile
from upscaler.imageio.color import lcms
from upscaler.imageio.color.management import srgb_profile_bytes


def random_rgb(seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(RGB_PROFILES))
@pytest.mark.parametrize("intent", [lcms.RELATIVE_COLORIMETRIC, lcms.PERCEPTUAL])
def test_eight_bit_matches_imagecms_exactly(name: str, intent: int) -> None:
    icc = RGB_PROFILES[name]()
    rgb = random_rgb()
    with lcms.Profile.from_bytes(icc) as source, lcms.Profile.from_bytes(srgb_profile_bytes()) as srgb:
        ours = lcms.transform(np.ascontiguousarray(rgb[:, :, ::-1]), source, srgb, intent)[:, :, ::-1]
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile_bytes())),
        "RGB", "RGB", ImageCms.Intent(intent), ImageCms.Flags.BLACKPOINTCOMPENSATION)
    theirs = np.asarray(ImageCms.applyTransform(Image.fromarray(rgb), transform))
    np.testing.assert_array_equal(ours, theirs)


def test_alpha_passes_through_and_sixteen_bit_agrees_with_eight() -> None:
    icc = profile("AdobeRGB1998.icc")
    rgb = random_rgb(1)
    alpha = np.random.default_rng(2).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    bgra = np.dstack([rgb[:, :, ::-1], alpha])
    with lcms.Profile.from_bytes(icc) as source, lcms.Profile.from_bytes(srgb_profile_bytes()) as srgb:
        eight = lcms.transform(bgra, source, srgb)
        sixteen = lcms.transform(bgra.astype(np.uint16) * 257, source, srgb)
    np.testing.assert_array_equal(eight[:, :, 3], alpha)
    np.testing.assert_array_equal(sixteen[:, :, 3], alpha.astype(np.uint16) * 257)
    # Adobe RGB is wider than sRGB: compare where the 8-bit result is not clipped.
    inside = np.all((eight[:, :, :3] > 0) & (eight[:, :, :3] < 255), axis=2)
    assert inside.mean() > 0.3
    difference = np.abs(sixteen[:, :, :3] / 257.0 - eight[:, :, :3])[inside]
    assert difference.max() <= 1.0


def test_sixteen_bit_round_trip_is_precise() -> None:
    ramp = np.linspace(0, 65535, 64 * 64 * 3).round().astype(np.uint16).reshape(64, 64, 3)
    with lcms.Profile.from_bytes(srgb_profile_bytes()) as srgb, \
            lcms.Profile.from_bytes(profile("ProPhotoRGB.icc")) as prophoto:
        back = lcms.transform(lcms.transform(ramp, srgb, prophoto), prophoto, srgb)
    # Of 65535 (one 8-bit step is 257); what is left is the 16-bit ProPhoto intermediate's own
    # coarseness in deep shadows, where its curve is flatter than sRGB's.
    assert np.abs(back.astype(int) - ramp).max() <= 16


def test_not_a_profile_is_refused() -> None:
    with pytest.raises(lcms.LittleCMSError, match="not a readable ICC profile"):
        lcms.Profile.from_bytes(b"\0" * 128)


def test_built_profiles_are_named() -> None:
    for data, name in ((srgb_profile_bytes(), "sRGB IEC61966-2.1"),):
        assert ImageCms.ImageCmsProfile(io.BytesIO(data)).profile.profile_description == name
