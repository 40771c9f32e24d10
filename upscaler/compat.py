"""Compatibility shims that must run before third-party code is imported.

basicsr 1.4.2 (the last PyPI release) does
``from torchvision.transforms.functional_tensor import rgb_to_grayscale``; torchvision removed
that private module in 0.17. The function still exists, publicly, in
``torchvision.transforms.functional``, so we register that module under the old name. Every
import of basicsr in this project goes through :func:`import_basicsr_archs` or imports this
module first.
"""

from __future__ import annotations

import sys


def install_torchvision_shim() -> None:
    """Make ``torchvision.transforms.functional_tensor`` importable again (idempotent)."""
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401  (old torchvision: nothing to do)
    except ModuleNotFoundError:
        import torchvision.transforms.functional as functional

        sys.modules[name] = functional


install_torchvision_shim()
