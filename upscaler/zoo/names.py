"""Model names that light modules need (the command line's defaults) without importing torch."""

DEFAULT_MODEL = "realesrgan-x4plus"
