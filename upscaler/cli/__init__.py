"""The ``upscaler`` command line."""
