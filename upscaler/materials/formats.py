"""Material descriptions that 3D tools load: a glTF 2.0 textured plane and a MaterialX document.

Both reference the map PNGs written next to them by relative file name, so the folder can be
moved or uploaded as a whole. glTF and MaterialX both expect +Y-up (OpenGL) normal maps: with a
DirectX normal map the caller passes the OpenGL copy's name (``normal_opengl.png``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import pygltflib as gl

PLANE_SIZE = 1.0  # the glTF plane's side in metres (a material board's swatch): depth fractions are of this


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
    depth: float = 0.005                # relief depth of the height's 0..1, fraction of the plane's side


def gltf_document(files: MaterialFiles) -> str:
    """A .gltf (JSON) with one square plane (UVs, normals, tangents) wearing the material.

    Base colour is sRGB (glTF's rule for that slot), the others are linear data; roughness and
    metallic come from the ORM texture's G and B, occlusion from its R (glTF's packing).
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
    material = gl.Material(
        name=files.name,
        pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorTexture=gl.TextureInfo(index=0), metallicRoughnessTexture=gl.TextureInfo(index=1),
            metallicFactor=1.0, roughnessFactor=1.0),
        normalTexture=gl.NormalMaterialTexture(index=2, scale=1.0),
        occlusionTexture=gl.OcclusionTextureInfo(index=1, strength=1.0),
        alphaMode=gl.MASK if files.has_alpha else gl.OPAQUE,
        alphaCutoff=0.5 if files.has_alpha else None,
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
    )
    return doc.to_json(indent=1) + "\n"


def materialx_document(files: MaterialFiles) -> str:
    """A MaterialX (.mtlx) document: standard_surface fed by image nodes, and a displacement.

    Base colour is read as ``srgb_texture``, the data maps as ``raw``; the normal map goes
    through a ``normalmap`` node; the height drives a ``displacement`` whose scale is the relief
    depth on a 1-unit tile. standard_surface has no occlusion input, so AO is not connected.
    """
    import MaterialX as mx

    doc = mx.createDocument()
    safe = mx.createValidName(files.name)

    def image(name: str, type_: str, filename: str, colorspace: str) -> mx.Node:
        node = doc.addNode("image", f"{safe}_{name}", type_)
        file_input = node.setInputValue("file", filename, "filename")
        file_input.setColorSpace(colorspace)
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
        shader.setConnectedNode("opacity", _alpha_as_color(doc, safe, files.basecolor))
    displacement = doc.addNode("displacement", f"{safe}_displacement", "displacementshader")
    displacement.setConnectedNode("displacement", image("height", "float", files.height, "raw"))
    displacement.setInputValue("scale", float(files.depth * PLANE_SIZE))
    material = doc.addMaterialNode(f"{safe}_material", shader)
    material.setConnectedNode("displacementshader", displacement)
    ok, message = doc.validate()
    if not ok:
        raise ValueError(f"invalid MaterialX document: {message}")
    return mx.writeToXmlString(doc)


def _alpha_as_color(doc, safe: str, filename: str):
    """standard_surface's opacity is a color3: the base colour's alpha channel, as grey."""
    rgba = doc.addNode("image", f"{safe}_basecolor_rgba", "color4")
    rgba.setInputValue("file", filename, "filename").setColorSpace("srgb_texture")
    alpha = doc.addNode("extract", f"{safe}_alpha", "float")
    alpha.setConnectedNode("in", rgba)
    alpha.setInputValue("index", 3)
    grey = doc.addNode("convert", f"{safe}_opacity", "color3")
    grey.setConnectedNode("in", alpha)
    return grey
