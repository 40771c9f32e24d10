"""material-upscaler: x4 super-resolution of supplier material images, at catalogue scale.

This package is the shared core every other part builds on: settings, errors, job parameters,
image I/O, storage, the model zoo, the inference engine and the quality metrics. It imports
nothing from the packages above it (see docs/architecture.md).
"""

__version__ = "0.1.0"
