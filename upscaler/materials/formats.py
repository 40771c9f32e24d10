"""Material descriptions that 3D tools load: a glTF 2.0 textured plane and a MaterialX document.

Both reference the map PNGs written next to them by relative file name, so the folder can be
moved or uploaded as a whole. glTF and MaterialX both expect +Y-up (OpenGL) normal maps: with a
DirectX normal map the caller passes the OpenGL copy's name (``normal_opengl.png``).

Real size: when the material's real width and height are known (``MaterialFiles.size_mm``), both
documents say so in the way 3D tools apply it, taking one unit of texture coordinates as one
metre (the glTF plane is 1 m with UVs 0..1): glTF's ``KHR_texture_transform`` scales every
texture's coordinates by 1000 / size in mm (a 600 mm swatch repeats 1.67 times per metre), and
MaterialX reads every map through a ``tiledimage`` whose ``realworldimagesize`` is the size (in
millimetres, MaterialX's distance units) and ``realworldtilesize`` one metre.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import numpy as np
import pygltflib as gl

PLANE_SIZE = 1.0  # the glTF plane's side in metres (a material board's swatch): depth fractions are of this
UV_UNIT_MM = 1000.0  # one unit of texture coordinates is one metre, in both documents
TEXTURE_TRANSFORM = "KHR_texture_transform"


@dataclass(frozen=True)
class MaterialFiles:
    """File names (relative to the descriptions) of the maps, and what the descriptions say."""

    name: str
    basecolor: str = "basecolor.png"
    normal: str = "normal.png"          # +Y up (OpenGL)
    orm: str = "orm.png"                # R = occlusion, G = roughness, B = metallic
    roughness: str = "roughness.png"
    metallic: str | None = None
    ao: str = "ao.png"
    height: str = "height.png"
    has_alpha: bool = False
    depth: float = 0.005                # relief depth of the height's 0..1, fraction of the image's longer side
    size_mm: tuple[float, float] | None = None   # real (width, height) the maps cover; None: unknown

    def __post_init__(self) -> None:
        if self.size_mm is not None and not all(v > 0 for v in self.size_mm):
            raise ValueError(f"size_mm must be two positive lengths in mm, not {self.size_mm!r}")

    @property
    def uv_scale(self) -> tuple[float, float] | None:
        """Repeats of the maps per unit of texture coordinates (per metre), across and down."""
        if self.size_mm is None:
            return None
        return UV_UNIT_MM / self.size_mm[0], UV_UNIT_MM / self.size_mm[1]

    @property
    def relief_m(self) -> float:
        """The height map's full range in metres: the depth fraction of the real longer side, or
        of the 1 m plane when the size is unknown."""
        longer_m = max(self.size_mm) / 1000 if self.size_mm is not None else PLANE_SIZE
        return self.depth * longer_m


def gltf_document(files: MaterialFiles) -> str:
    """A .gltf (JSON) with one square plane (UVs, normals, tangents) wearing the material.

    Base colour is sRGB (glTF's rule for that slot), the others are linear data; roughness and
    metallic come from the ORM texture's G and B, occlusion from its R (glTF's packing). With a
    real size, every texture carries a ``KHR_texture_transform`` scale and the material's
    ``extras`` the size in mm.
    """
    half = PLANE_SIZE / 2
    # glTF's UV origin is the image's top-left corner: v grows downwards, towards -y.
    positions = np.array([[-half, half, 0], [half, half, 0], [half, -half, 0], [-half, -half, 0]], np.float32)
    normals = np.array([[0, 0, 1]] * 4, np.float32)
    tangents = np.array([[1, 0, 0, 1]] * 4, np.float32)   # +u = +x; bitangent = normal x tangent = +y
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    indices = np.array([0, 3, 2, 0, 2, 1], np.uint16)      # counter-clockwise seen from +z
    blobs = [positions.tobytes(), normals.tobytes(), tangents.tobytes(), uvs.tobytes(), indices.tobytes()]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    data = b"".join(blobs)

    def view(i: int, target: int) -> gl.BufferView:
        return gl.BufferView(buffer=0, byteOffset=int(offsets[i]), byteLength=len(blobs[i]), target=target)

    accessors = [
        gl.Accessor(bufferView=0, componentType=gl.FLOAT, count=4, type=gl.VEC3,
                    min=positions.min(0).tolist(), max=positions.max(0).tolist()),
        gl.Accessor(bufferView=1, componentType=gl.FLOAT, count=4, type=gl.VEC3),
        gl.Accessor(bufferView=2, componentType=gl.FLOAT, count=4, type=gl.VEC4),
        gl.Accessor(bufferView=3, componentType=gl.FLOAT, count=4, type=gl.VEC2),
        gl.Accessor(bufferView=4, componentType=gl.UNSIGNED_SHORT, count=6, type=gl.SCALAR),
    ]
    images = [gl.Image(uri=files.basecolor), gl.Image(uri=files.orm), gl.Image(uri=files.normal)]
    textures = [gl.Texture(sampler=0, source=i) for i in range(3)]
    scale = files.uv_scale
    # Every texture reference is transformed alike (glTF has no material-wide transform).
    extensions = {TEXTURE_TRANSFORM: {"scale": list(scale)}} if scale else {}
    material = gl.Material(
        name=files.name,
        pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorTexture=gl.TextureInfo(index=0, extensions=dict(extensions)),
            metallicRoughnessTexture=gl.TextureInfo(index=1, extensions=dict(extensions)),
            metallicFactor=1.0, roughnessFactor=1.0),
        normalTexture=gl.NormalMaterialTexture(index=2, scale=1.0, extensions=dict(extensions)),
        occlusionTexture=gl.OcclusionTextureInfo(index=1, strength=1.0, extensions=dict(extensions)),
        alphaMode=gl.MASK if files.has_alpha else gl.OPAQUE,
        alphaCutoff=0.5 if files.has_alpha else None,
        extras={"size_mm": list(files.size_mm)} if files.size_mm else {},
    )
    doc = gl.GLTF2(
        asset=gl.Asset(version="2.0", generator="material-upscaler"),
        scene=0, scenes=[gl.Scene(nodes=[0])], nodes=[gl.Node(mesh=0, name=files.name)],
        meshes=[gl.Mesh(name=files.name, primitives=[gl.Primitive(
            attributes=gl.Attributes(POSITION=0, NORMAL=1, TANGENT=2, TEXCOORD_0=3), indices=4, material=0)])],
        accessors=accessors,
        bufferViews=[view(0, gl.ARRAY_BUFFER), view(1, gl.ARRAY_BUFFER), view(2, gl.ARRAY_BUFFER),
                     view(3, gl.ARRAY_BUFFER), view(4, gl.ELEMENT_ARRAY_BUFFER)],
        buffers=[gl.Buffer(byteLength=len(data),
                           uri="data:application/octet-stream;base64," + base64.b64encode(data).decode())],
        materials=[material],
        samplers=[gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR, wrapS=gl.REPEAT, wrapT=gl.REPEAT)],
        images=images, textures=textures,
        extensionsUsed=[TEXTURE_TRANSFORM] if scale else [],
    )
    return doc.to_json(indent=1) + "\n"


def materialx_document(files: MaterialFiles) -> str:
    """A MaterialX (.mtlx) document: standard_surface fed by image nodes, and a displacement.

    Base colour is read as ``srgb_texture``, the data maps as ``raw``; the normal map goes
    through a ``normalmap`` node; the height drives a ``displacement`` whose scale is the relief
    depth in metres (``relief_m``). standard_surface has no occlusion input, so AO is not
    connected. With a real size the maps are ``tiledimage`` nodes at that size (module docstring).
    """
    import MaterialX as mx

    doc = mx.createDocument()
    safe = mx.createValidName(files.name)

    def image(name: str, type_: str, filename: str, colorspace: str) -> mx.Node:
        node = doc.addNode("tiledimage" if files.size_mm else "image", f"{safe}_{name}", type_)
        file_input = node.setInputValue("file", filename, "filename")
        file_input.setColorSpace(colorspace)
        if files.size_mm:
            for input_name, size in (("realworldimagesize", files.size_mm), ("realworldtilesize", (UV_UNIT_MM,) * 2)):
                value = node.setInputValue(input_name, mx.Vector2(*map(float, size)), "vector2")
                value.setUnitType("distance")
                value.setUnit("millimeter")
        return node

    shader = doc.addNode("standard_surface", f"{safe}_surface", "surfaceshader")
    shader.setConnectedNode("base_color", image("basecolor", "color3", files.basecolor, "srgb_texture"))
    shader.setInputValue("base", 1.0)
    shader.setConnectedNode("specular_roughness", image("roughness", "float", files.roughness, "raw"))
    if files.metallic:
        shader.setConnectedNode("metalness", image("metallic", "float", files.metallic, "raw"))
    normalmap = doc.addNode("normalmap", f"{safe}_normalmap", "vector3")
    normalmap.setConnectedNode("in", image("normal", "vector3", files.normal, "raw"))
    shader.setConnectedNode("normal", normalmap)
    if files.has_alpha:
        shader.setConnectedNode("opacity", _alpha_as_color(doc, safe, image("basecolor_rgba", "color4",
                                                                              files.basecolor, "srgb_texture")))
    displacement = doc.addNode("displacement", f"{safe}_displacement", "displacementshader")
    displacement.setConnectedNode("displacement", image("height", "float", files.height, "raw"))
    displacement.setInputValue("scale", float(files.relief_m))
    material = doc.addMaterialNode(f"{safe}_material", shader)
    material.setConnectedNode("displacementshader", displacement)
    # Validated against the standard library's node and unit definitions, which the written
    # document leaves to the reader's own copy.
    check = mx.createDocument()
    check.copyContentFrom(doc)
    check.importLibrary(_standard_library())
    ok, message = check.validate()
    if not ok:
        raise ValueError(f"invalid MaterialX document: {message}")
    return mx.writeToXmlString(doc)


@functools.cache
def _standard_library():
    import MaterialX as mx

    library = mx.createDocument()
    mx.loadLibraries(mx.getDefaultDataLibraryFolders(), mx.getDefaultDataSearchPath(), library)
    return library


def _alpha_as_color(doc, safe: str, rgba):
    """standard_surface's opacity is a color3: the base colour's alpha channel (``rgba``, its
    color4 image node), as grey."""
    alpha = doc.addNode("extract", f"{safe}_alpha", "float")
    alpha.setConnectedNode("in", rgba)
    alpha.setInputValue("index", 3)
    grey = doc.addNode("convert", f"{safe}_opacity", "color3")
    grey.setConnectedNode("in", alpha)
    return grey
