"""PBR maps from a base colour, against known truth: synthetic relief rendered under a known light."""

from __future__ import annotations

import numpy as np
import pytest

from tests.materials_support import (
    bumps,
    decode_normals,
    grout,
    mean_angle_deg,
    pearson,
    render,
    true_normals,
    weave,
)
from tests.memory import peak_bytes
from tests.textures import texture
from upscaler.evaluation.image_metrics import wrap_seam_score
from upscaler.materials import CATEGORIES, PRESETS, MapOptions, MaterialMaps, filtering
from upscaler.materials.maps import linear_to_srgb, srgb_to_linear

# (relief, the preset a person would pick for it); 128 px each, relief depths 3-6 px.
RELIEFS = {"bumps": (bumps, "stone"), "grout": (grout, "tile"), "weave": (weave, "fabric")}


def all_maps(pixels: np.ndarray, **options) -> tuple[dict[str, np.ndarray], list[str]]:
    stream = MaterialMaps(pixels, MapOptions(**options))
    return {m.name: m.pixels for m in stream}, stream.warnings


def recovered(relief: np.ndarray, category: str) -> dict[str, np.ndarray]:
    # The depth a person would enter: the relief's true range, as a fraction of the image side.
    maps, warnings = all_maps(render(relief), category=category, seamless=True,
                              depth=float(np.ptp(relief)) / relief.shape[1])
    assert warnings == []
    return maps


@pytest.mark.parametrize("name", RELIEFS)
def test_normals_and_height_match_the_truth(name: str) -> None:
    make, category = RELIEFS[name]
    relief = make()
    maps = recovered(relief, category)
    truth = true_normals(relief)
    error = mean_angle_deg(decode_normals(maps["normal"]), truth)
    flat_error = mean_angle_deg(np.dstack([np.zeros_like(relief)] * 2 + [np.ones_like(relief)]), truth)
    # Measured: bumps 9.4 deg (flat normals: 16.4), grout 7.9 (19.4), weave 5.8 (15.1);
    # height Pearson 0.88, 0.95, 0.96.
    assert error < 15 and error < 0.7 * flat_error, f"{error:.1f} deg (flat: {flat_error:.1f})"
    assert pearson(maps["height"], relief) > 0.8


def test_normals_follow_the_slopes_the_right_way_round() -> None:
    relief = grout()
    maps = recovered(relief, "tile")
    n = decode_normals(maps["normal"])
    truth = true_normals(relief)
    # Per component, not just on average: a swapped or sign-flipped axis would anticorrelate.
    assert pearson(n[:, :, 0], truth[:, :, 0]) > 0.8   # x (red)
    assert pearson(n[:, :, 1], truth[:, :, 1]) > 0.8   # y up (green, OpenGL)


def test_directx_normal_is_opengl_with_green_inverted_exactly() -> None:
    image = render(bumps())
    for bits in (8, 16):
        gl = all_maps(image, normal_convention="opengl", normal_bits=bits, maps=("normal",))[0]["normal"]
        dx = all_maps(image, normal_convention="directx", normal_bits=bits, maps=("normal",))[0]["normal"]
        maxval = np.iinfo(gl.dtype).max
        assert gl.dtype == dx.dtype == (np.uint8 if bits == 8 else np.uint16)
        assert np.array_equal(dx[:, :, [0, 2]], gl[:, :, [0, 2]])
        assert np.array_equal(dx[:, :, 1].astype(np.int64), maxval - gl[:, :, 1].astype(np.int64))
        assert gl[:, :, 1].std() > 0.01 * maxval  # the green channel carries the relief


def test_height_is_16_bit_with_many_levels() -> None:
    maps, _ = all_maps(texture(128, 128, seed=3), category="other")
    height = maps["height"]
    assert height.dtype == np.uint16
    levels = len(np.unique(height))
    assert levels > 4096, levels    # measured: about 13,900 on this 8-bit input
    assert height.min() < 1000 and height.max() > 64535  # normalised to the full range


def test_delighting_removes_a_known_light_gradient_and_keeps_the_color() -> None:
    albedo = texture(160, 200, seed=5)
    lin = srgb_to_linear(albedo.astype(np.float32) / 255)
    x = np.linspace(0, 1, 200, dtype=np.float32)
    light = 0.55 + 0.9 * x                      # a lamp to the right: 2.6x brighter there
    lit = np.rint(linear_to_srgb(lin * light[None, :, None]) * 255).astype(np.uint8)
    out = all_maps(lit, delight=True, maps=("basecolor",))[0]["basecolor"]
    assert out.shape == lit.shape and out.dtype == lit.dtype

    def log_gradient(img: np.ndarray) -> float:
        # The slope of log(luminance / the albedo's) across the image: the light left in it.
        ratio = srgb_to_linear(img.astype(np.float32) / 255).sum(2) / lin.sum(2)
        return float(np.polyfit(x, np.log(ratio).mean(0), 1)[0])

    before, after = log_gradient(lit), log_gradient(out)
    assert abs(after) < 0.1 * abs(before), f"{after:.3f} vs {before:.3f}"   # measured: 2.7% left
    # The colour is kept: every channel got the same gain, so the channel ratios are the albedo's.
    out_lin = srgb_to_linear(out.astype(np.float32) / 255)
    chroma = lambda img: img / img.sum(2, keepdims=True)  # noqa: E731
    assert np.abs(chroma(out_lin) - chroma(lin)).mean() < 0.01
    # Off by default: the base colour is the input, untouched.
    assert all_maps(lit, maps=("basecolor",))[0]["basecolor"] is lit


@pytest.mark.parametrize("category", ["tile", "metal"])
def test_seamless_maps_tile_like_their_interior(category: str) -> None:
    relief = grout(n=128, spacing=32) + bumps(n=128, count=220, radius=4, depth=3, seed=2)
    image = render(relief)
    image[:, :, 2] = np.clip(image[:, :, 2].astype(int) + (relief * 12).astype(int), 0, 255)  # rust: metallic varies
    depth = 0.03   # deep enough that AO is not all white
    maps, _ = all_maps(image, category=category, seamless=True, depth=depth)
    assert set(maps) == {"basecolor", "height", "normal", "ao", "roughness"} | ({"metallic"} if category == "metal" else set())
    # The interior: the middle tile of a 3x3 tiling, where the same boundary lies inside the image
    # (scales refer to one tile's size, as in the seamless run).
    tiled, _ = all_maps(np.tile(image, (3, 3, 1)), category=category, reference_px=128, depth=depth)
    for name, pixels in maps.items():
        inside = tiled[name][128:256, 128:256]
        seam, target = wrap_seam_score(pixels), wrap_seam_score(inside)
        assert abs(seam - target) <= 0.1 * target, f"{name}: {seam:.3f} vs {target:.3f} inside"   # measured: < 2%
    # Without seamless the borders are mirrored, not wrapped: the normals (measured 1.3x the
    # interior's score) and roughness (1.9-2.2x) jump at the seam; AO and height move less.
    plain, _ = all_maps(image, category=category, depth=depth)
    for name in ("normal", "roughness"):
        target = wrap_seam_score(tiled[name][128:256, 128:256])
        assert wrap_seam_score(plain[name]) > 1.2 * target, name


def test_nothing_is_shifted_against_the_base_color() -> None:
    # A cyclic shift of a tileable input shifts every map by exactly as much.
    image = render(bumps(n=128))
    maps, _ = all_maps(image, seamless=True)
    shifted, _ = all_maps(np.roll(image, (5, 9), (0, 1)), seamless=True)
    for name in maps:
        expected = np.roll(maps[name], (5, 9), (0, 1)).astype(np.float64)
        tolerance = 0.01 * np.iinfo(maps[name].dtype).max
        assert np.abs(shifted[name] - expected).mean() < tolerance, name
    # A symmetric pit: the height's lowest point and the normals' zero crossing are at its centre.
    yy, xx = np.mgrid[0:96, 0:96]
    pit = -6 * np.exp(-((yy - 48) ** 2 + (xx - 48) ** 2) / (2 * 6.0 ** 2))
    maps, _ = all_maps(render(pit, sun=0.0, sky=1.0), seamless=True, depth=6 / 96)
    depth = np.maximum(0, np.median(maps["height"]) - maps["height"].astype(np.float64))
    depth[np.hypot(yy - 48, xx - 48) > 12] = 0
    centroid = (float((depth * yy).sum() / depth.sum()), float((depth * xx).sum() / depth.sum()))
    assert np.hypot(centroid[0] - 48, centroid[1] - 48) < 0.25, centroid
    normal = decode_normals(maps["normal"])
    assert normal[48, 40, 0] > 0.05 and normal[48, 56, 0] < -0.05    # pit walls face the centre
    assert normal[40, 48, 1] < -0.05 and normal[56, 48, 1] > 0.05    # (y up: the upper wall faces down)
    assert abs(normal[48, 40, 0] + normal[48, 56, 0]) < 0.1 * normal[48, 40, 0]   # and equally steep


def test_flat_color_gives_flat_maps_and_a_warning() -> None:
    noise = np.random.default_rng(0).normal(0, 1.0, (96, 96, 3))   # sensor noise, 1 level
    flat = np.clip(np.full((96, 96, 3), (90, 140, 200)) + noise, 0, 255).astype(np.uint8)
    maps, warnings = all_maps(flat, category="wood")
    assert any("no texture" in w for w in warnings)
    height = maps["height"].astype(np.float64) / 65535
    assert abs(np.median(height) - 0.5) < 0.02
    assert np.percentile(height, 99) - np.percentile(height, 1) < 0.5   # noise not stretched to 0..1
    normal = decode_normals(maps["normal"])
    assert normal[:, :, 2].min() > 0.98         # all but straight up
    assert maps["ao"].min() > 240
    # A perfectly flat colour: exactly flat maps.
    exact, warnings = all_maps(np.full((64, 64, 3), 120, np.uint8))
    assert warnings and np.all(exact["height"] == 32768) and np.all(exact["normal"] == exact["normal"][0, 0])
    # A textured image gives no such warning.
    assert all_maps(texture(96, 96))[1] == []


def test_alpha_masks_the_maps() -> None:
    image = np.dstack([render(bumps(n=128)), np.zeros((128, 128), np.uint8)])
    image[:, :64, 3] = 255                         # left half opaque, right half transparent
    image[:, 64:, :3] = np.random.default_rng(1).integers(0, 255, (128, 64, 3))  # garbage under alpha 0
    maps, _ = all_maps(image, category="metal")
    assert maps["basecolor"].shape == (128, 128, 4)
    right = np.s_[:, 72:]                          # away from the cut-out's edge
    assert np.all(maps["height"][right] == 32768)
    assert np.all(maps["ao"][right] == 255)
    assert np.all(maps["metallic"][right] == 0)
    assert np.all(decode_normals(maps["normal"])[right][..., 2] > 0.999)
    assert len(np.unique(maps["roughness"][right])) == 1
    left = np.s_[:, :56]
    assert maps["height"][left].std() > 3000 and maps["normal"][left].std() > 5   # still relief there


def test_unknown_category_uses_other_with_a_warning_and_presets_differ() -> None:
    image = texture(64, 64)
    maps, warnings = all_maps(image, category="marble-ish")
    assert len(warnings) == 1 and "marble-ish" in warnings[0] and "other" in warnings[0]
    assert np.array_equal(maps["normal"], all_maps(image, category="other")[0]["normal"])
    assert set(CATEGORIES) == set(PRESETS) == {"wood", "stone", "tile", "fabric", "carpet", "leather", "metal", "concrete",
                               "wallpaper", "brick", "glass", "other"}
    roughness = {c: all_maps(image, category=c, maps=("roughness",))[0]["roughness"].mean() / 255
                 for c in ("stone", "tile", "glass", "fabric", "concrete")}
    assert max(roughness["stone"], roughness["tile"], roughness["glass"]) < 0.35
    assert min(roughness["fabric"], roughness["concrete"]) > 0.75
    assert "metallic" in all_maps(image, category="metal")[0] and "metallic" not in maps


def test_one_map_at_a_time_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Strips and percentile samples as small a share of the image as they are of a 4096 px one.
    monkeypatch.setattr(filtering, "STRIP_PIXELS", 512 * 16)
    monkeypatch.setattr(filtering, "PERCENTILE_SAMPLE", 2**14)
    image = texture(512, 512, seed=2)
    plane = 512 * 512 * 4                          # one float32 plane
    seen = []

    def consume() -> None:
        for item in MaterialMaps(image, MapOptions(category="metal", orm=True)):
            seen.append((item.name, item.pixels.shape, item.pixels.dtype))

    peak = peak_bytes(consume)
    assert [s[0] for s in seen] == ["basecolor", "height", "normal", "ao", "roughness", "metallic", "orm"]
    assert peak < 6.5 * plane, f"peak {peak / plane:.1f} planes"   # measured: 5.0 planes
