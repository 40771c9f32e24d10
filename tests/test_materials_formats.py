"""The material set on disk: the folder of PNGs, glTF 2.0 (Khronos validator), MaterialX (its parser)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import cv2
import MaterialX as mx
import numpy as np
import pytest

from tests.materials_support import install_node_tools
from tests.textures import texture
from upscaler.materials import MapOptions, folder_writer, write_material

VALIDATE_JS = """
const fs = require("fs"), path = require("path");
const validator = require(process.argv[2]);
const file = process.argv[3];
const readRelative = (uri) => new Promise((resolve, reject) =>
  fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)),
              (err, data) => err ? reject(err.toString()) : resolve(new Uint8Array(data))));
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {uri: path.basename(file), externalResourceFunction: readRelative})
  .then((report) => console.log(JSON.stringify(report)))
  .catch((error) => { console.error(error); process.exit(2); });
"""


@pytest.fixture(scope="module")
def gltf_validator() -> Path:
    return install_node_tools()


def validate_gltf(validator: Path, gltf: Path, tmp_path: Path) -> dict:
    script = tmp_path / "validate.js"
    script.write_text(VALIDATE_JS)
    node = shutil.which("node") or "node"
    run = subprocess.run([node, str(script), str(validator), str(gltf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_folder_has_every_map_in_the_right_format(tmp_path: Path) -> None:
    image = texture(96, 128, channels=4, seed=1, dtype=np.uint16)
    image[:, :, 3] = 65535
    result = write_material(image, folder_writer(tmp_path), MapOptions(category="metal", normal_bits=16), name="steel")
    assert result.files == ["basecolor.png", "height.png", "normal.png", "ao.png", "roughness.png", "metallic.png",
                            "orm.png", "material.gltf", "material.mtlx", "preview.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(result.files)   # no temporary files left
    read = lambda name: cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)  # noqa: E731
    assert np.array_equal(read("basecolor.png"), image)            # 16-bit BGRA kept as it came
    expected = {"height.png": ((96, 128), np.uint16), "normal.png": ((96, 128, 3), np.uint16),
                "ao.png": ((96, 128), np.uint8), "roughness.png": ((96, 128), np.uint8),
                "metallic.png": ((96, 128), np.uint8), "orm.png": ((96, 128, 3), np.uint8)}
    for name, (shape, dtype) in expected.items():
        pixels = read(name)
        assert pixels.shape == shape and pixels.dtype == dtype, name
    orm = read("orm.png")   # OpenCV's BGR: B = metallic, G = roughness, R = occlusion
    assert np.array_equal(orm[:, :, 0], read("metallic.png"))
    assert np.array_equal(orm[:, :, 1], read("roughness.png"))
    assert np.array_equal(orm[:, :, 2], read("ao.png"))


def test_storage_style_writer_gets_each_file_once_and_whole() -> None:
    written: dict[str, bytes] = {}

    @contextmanager
    def open_write(name: str):
        out = io.BytesIO()
        yield out
        assert name not in written
        written[name] = out.getvalue()

    seen = []
    result = write_material(texture(64, 64), open_write, MapOptions(category="tile"), formats=("gltf",),
                            on_map=lambda m: seen.append(m.name))
    assert seen == ["basecolor", "height", "normal", "ao", "roughness", "orm"]
    assert list(written) == result.files == ["basecolor.png", "height.png", "normal.png", "ao.png", "roughness.png",
                                             "orm.png", "material.gltf"]
    assert all(data[:8] == b"\x89PNG\r\n\x1a\n" for name, data in written.items() if name.endswith(".png"))
    assert result.category == "tile" and result.warnings == []


@pytest.mark.parametrize("convention", ["opengl", "directx"])
def test_gltf_validates_and_wires_the_maps_the_gltf_way(tmp_path: Path, gltf_validator: Path, convention: str) -> None:
    image = np.dstack([texture(64, 64, seed=2), np.full((64, 64), 255, np.uint8)])
    image[:8, :8, 3] = 0   # a cut-out corner: alpha mode MASK
    write_material(image, folder_writer(tmp_path), MapOptions(category="wood", normal_convention=convention),
                   name="oak", formats=("gltf",))
    report = validate_gltf(gltf_validator, tmp_path / "material.gltf", tmp_path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    images = [r for r in report["info"]["resources"] if r["storage"] == "external"]
    assert len(images) == 3, report["info"]["resources"]   # the validator read each PNG it references
    assert all(r["mimeType"] == "image/png" and r["image"]["width"] == r["image"]["height"] == 64 for r in images), images
    doc = json.loads((tmp_path / "material.gltf").read_text())
    material = doc["materials"][0]
    uri = lambda info: doc["images"][doc["textures"][info["index"]]["source"]]["uri"]  # noqa: E731
    pbr = material["pbrMetallicRoughness"]
    assert uri(pbr["baseColorTexture"]) == "basecolor.png"
    assert uri(pbr["metallicRoughnessTexture"]) == uri(material["occlusionTexture"]) == "orm.png"
    # glTF wants +Y-up normals: a DirectX set gets an OpenGL copy for the glTF.
    assert uri(material["normalTexture"]) == ("normal.png" if convention == "opengl" else "normal_opengl.png")
    assert material["alphaMode"] == "MASK"
    if convention == "directx":
        dx = cv2.imread(str(tmp_path / "normal.png"))
        gl = cv2.imread(str(tmp_path / "normal_opengl.png"))
        assert np.array_equal(dx[:, :, 1], 255 - gl[:, :, 1]) and np.array_equal(dx[:, :, ::2], gl[:, :, ::2])


def test_materialx_parses_with_the_color_spaces_and_the_normal_map(tmp_path: Path) -> None:
    write_material(texture(64, 64), folder_writer(tmp_path), MapOptions(category="metal"), name="brushed steel",
                   formats=("mtlx",))
    doc = mx.createDocument()
    mx.readFromXmlFile(doc, str(tmp_path / "material.mtlx"))
    ok, message = doc.validate()
    assert ok, message
    files = {node.getInput("file").getValueString(): node.getInput("file").getColorSpace()
             for node in doc.getNodes() if node.getCategory() == "image"}
    assert files == {"basecolor.png": "srgb_texture", "roughness.png": "raw", "metallic.png": "raw",
                     "normal.png": "raw", "height.png": "raw"}
    assert all((tmp_path / name).is_file() for name in files)
    shader = next(n for n in doc.getNodes() if n.getCategory() == "standard_surface")
    assert shader.getConnectedNode("normal").getCategory() == "normalmap"
    assert shader.getConnectedNode("metalness").getInput("file").getValueString() == "metallic.png"
    material = doc.getMaterialNodes()[0]
    assert material.getConnectedNode("surfaceshader") == shader


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown formats"):
        write_material(texture(16, 16), folder_writer(tmp_path), formats=("usdz",))


def test_a_real_size_reaches_gltf_materialx_and_the_preview(tmp_path: Path, gltf_validator: Path) -> None:
    write_material(texture(64, 96, seed=5), folder_writer(tmp_path), MapOptions(category="fabric", seamless=True),
                   name="linen", size_mm=(600.0, 400.0), warnings=["base colour outside the plausible range"])
    report = validate_gltf(gltf_validator, tmp_path / "material.gltf", tmp_path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    doc = json.loads((tmp_path / "material.gltf").read_text())
    assert doc["extensionsUsed"] == ["KHR_texture_transform"] and "extensionsRequired" not in doc
    material = doc["materials"][0]
    infos = [material["pbrMetallicRoughness"]["baseColorTexture"], material["pbrMetallicRoughness"]["metallicRoughnessTexture"],
             material["normalTexture"], material["occlusionTexture"]]
    # One texture unit is one metre: a 600 x 400 mm swatch repeats 1000/600 times across, 1000/400 down.
    assert all(info["extensions"]["KHR_texture_transform"]["scale"] == pytest.approx([1000 / 600, 1000 / 400])
               for info in infos)
    assert material["extras"] == {"size_mm": [600.0, 400.0]}

    mtlx = mx.createDocument()
    mx.readFromXmlFile(mtlx, str(tmp_path / "material.mtlx"))
    library = mx.createDocument()
    mx.loadLibraries(mx.getDefaultDataLibraryFolders(), mx.getDefaultDataSearchPath(), library)
    mtlx.importLibrary(library)
    ok, message = mtlx.validate()
    assert ok, message
    images = [n for n in mtlx.getNodes() if n.getCategory() == "tiledimage"]
    assert {n.getInput("file").getValueString() for n in images} == {"basecolor.png", "roughness.png", "normal.png",
                                                                        "height.png"}
    for node in images:
        size, tile = node.getInput("realworldimagesize"), node.getInput("realworldtilesize")
        assert list(size.getValue()) == [600.0, 400.0] and list(tile.getValue()) == [1000.0, 1000.0]
        assert size.getUnit() == tile.getUnit() == "millimeter" and size.getUnitType() == "distance"
    displacement = next(n for n in mtlx.getNodes() if n.getCategory() == "displacement")
    assert displacement.getInputValue("scale") == pytest.approx(0.004 * 0.6)   # fabric depth x 600 mm, in metres

    page = (tmp_path / "preview.html").read_text()
    assert "3 x 3 tiles of 600 x 400 mm: 1.80 x 1.20 m" in page
    assert 'class="warning">base colour outside the plausible range' in page
    assert '"aspect": 1.5' in page


def test_without_a_size_the_documents_are_as_before(tmp_path: Path) -> None:
    write_material(texture(32, 32), folder_writer(tmp_path), MapOptions(category="wood"), name="oak")
    doc = json.loads((tmp_path / "material.gltf").read_text())
    assert "extensionsUsed" not in doc and "extensions" not in doc["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]
    mtlx = (tmp_path / "material.mtlx").read_text()
    assert "tiledimage" not in mtlx and "realworld" not in mtlx
