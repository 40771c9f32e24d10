"""material-upscaler: x4 super-resolution of supplier material images, at catalogue scale.

This package holds what every part of the system shares: settings, image I/O, the model zoo,
the inference engine and the ``upscaler`` command line.
"""

__version__ = "0.1.0"
