"""The metadata an output keeps from its input: credits and descriptions, not the camera's diary.

Kept: EXIF ImageDescription, Artist, Copyright, Make, Model and the dates; XMP (with GPS and
orientation taken out); IPTC (JPEG to JPEG only: Pillow cannot write it elsewhere). Orientation is
already applied to the pixels, so the output says 1. GPS goes unless the caller asks to keep it.
Everything else (maker notes, thumbnails, colour-space tags that the colour conversion made
stale) is dropped.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from PIL import Image

EXIF_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# IFD0: ImageDescription, Make, Model, DateTime, Artist, Copyright.
KEPT_IFD0_TAGS = (0x010E, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298)
# Exif IFD: DateTimeOriginal, DateTimeDigitized.
KEPT_EXIF_TAGS = (0x9003, 0x9004)
_PHOTOSHOP_APP13 = b"Photoshop 3.0\x00"
_XMP_NAMESPACES = {"exif": "http://ns.adobe.com/exif/1.0/", "tiff": "http://ns.adobe.com/tiff/1.0/"}


@dataclass(frozen=True)
class CarriedMetadata:
    """Metadata read at decode, to be written with the output (see :func:`exif_bytes`)."""

    ifd0: dict[int, object] = field(default_factory=dict)
    exif_ifd: dict[int, object] = field(default_factory=dict)
    gps: dict[int, object] = field(default_factory=dict)
    xmp: bytes | None = None
    iptc_app13: bytes | None = None  # a JPEG's whole Photoshop APP13 segment payload

    @classmethod
    def read(cls, img: Image.Image) -> CarriedMetadata:
        """From a Pillow image opened on the input (header only: nothing is decoded)."""
        try:
            exif = img.getexif()
            ifd0 = {tag: exif[tag] for tag in KEPT_IFD0_TAGS if tag in exif}
            exif_ifd = {tag: value for tag, value in exif.get_ifd(_EXIF_IFD).items() if tag in KEPT_EXIF_TAGS}
            gps = dict(exif.get_ifd(_GPS_IFD))
        except Exception:  # noqa: BLE001  (malformed EXIF is common and never worth failing a job for)
            ifd0, exif_ifd, gps = {}, {}, {}
        xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
        if xmp is None and hasattr(img, "tag_v2"):
            xmp = img.tag_v2.get(700)
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8")
        iptc = next((payload for marker, payload in getattr(img, "applist", [])
                     if marker == "APP13" and payload.startswith(_PHOTOSHOP_APP13)), None)
        return cls(ifd0, exif_ifd, gps, bytes(xmp) if xmp else None, iptc)


def exif_bytes(metadata: CarriedMetadata, keep_gps: bool = False) -> bytes | None:
    """The output's EXIF as a TIFF structure (no "Exif\\0\\0" prefix), orientation 1; None if the
    input had none worth keeping."""
    gps = metadata.gps if keep_gps else {}
    if not (metadata.ifd0 or metadata.exif_ifd or gps):
        return None
    exif = Image.Exif()
    exif.update(metadata.ifd0)
    exif[EXIF_ORIENTATION] = 1
    if metadata.exif_ifd:
        exif.get_ifd(_EXIF_IFD).update(metadata.exif_ifd)
    if gps:
        exif.get_ifd(_GPS_IFD).update(gps)
    data = exif.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def xmp_bytes(metadata: CarriedMetadata, keep_gps: bool = False) -> bytes | None:
    """The input's XMP packet with GPS removed (unless ``keep_gps``) and tiff:Orientation set to 1;
    None when there was none, or it is not well-formed XML (then it is dropped, not copied blind)."""
    if not metadata.xmp:
        return None
    text = metadata.xmp.decode("utf-8", "replace").strip("\x00 \r\n\t")
    text = re.sub(r"^<\?xpacket[^>]*\?>|<\?xpacket[^>]*\?>$", "", text.strip()).strip()
    try:
        for prefix, uri in _declared_namespaces(text):
            ET.register_namespace(prefix, uri)
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    exif_ns, tiff_ns = "{%s}" % _XMP_NAMESPACES["exif"], "{%s}" % _XMP_NAMESPACES["tiff"]
    for element in root.iter():
        for name in list(element.attrib):
            if not keep_gps and name.startswith(exif_ns + "GPS"):
                del element.attrib[name]
            elif name == tiff_ns + "Orientation":
                element.attrib[name] = "1"
        for child in list(element):
            if not keep_gps and child.tag.startswith(exif_ns + "GPS"):
                element.remove(child)
            elif child.tag == tiff_ns + "Orientation":
                child.text = "1"
    body = ET.tostring(root, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + body
            + '<?xpacket end="w"?>').encode("utf-8")


def _declared_namespaces(text: str) -> list[tuple[str, str]]:
    """Prefixes as the packet declares them, so that the rewritten packet keeps them."""
    found = []
    for _event, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):
        if prefix and not re.match(r"ns\d+$", prefix):
            found.append((prefix, uri))
    return found
