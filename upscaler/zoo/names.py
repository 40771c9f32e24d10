"""Model names that light modules need (the command line's defaults) without importing torch."""

DEFAULT_MODEL = "realesrgan-x4plus"
# The texture model that ``--detail`` mixes in: of the built-in models, the one whose outputs keep
# the truth's fine-texture energy best on the ground-truth set (bench/RESULTS.md, texture fidelity).
TEXTURE_MODEL = "realsr-df2k-x4"
