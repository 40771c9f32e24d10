"""File names of images: which suffixes are read, which formats are written and their extensions.

Outside ``upscaler.imageio`` (which re-exports them) on purpose: importing that package loads the
codecs, NumPy and LittleCMS, and whoever only sorts names (the producer listing a catalogue, job
parameters naming an output) needs none of it.
"""

OUTPUT_FORMATS = ("png", "jpeg", "webp", "tiff")
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
