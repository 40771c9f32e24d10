"""What commands check before they load a model or create a job, and the exit statuses they use.

Exit statuses follow the usual conventions (sysexits.h where one fits), the same for every command:

====  ==================================================================================
0     everything asked for was done
1     something failed: an image or a job (each printed with its reason), or an error
2     usage: an unknown option or value (Typer's own), an unknown model, material or profile
66    an input does not exist or holds no image (EX_NOINPUT)
73    the output location cannot be written (EX_CANTCREAT)
75    jobs saved but not sent to the broker; the sweeper sends them (EX_TEMPFAIL)
130   interrupted (Ctrl-C)
====  ==================================================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from upscaler.suggest import did_you_mean  # noqa: F401  (re-exported for the commands)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_INPUT = 66
EXIT_CANT_CREATE = 73
EXIT_NOT_SENT = 75
EXIT_INTERRUPTED = 130


def output_problem(output: Path, sources: Iterable[Path] = ()) -> str | None:
    """Why results cannot be written under the local folder ``output``, or None when they can:
    it is a file, its nearest existing folder is not writable, or it lies in a source folder
    (the outputs would mix with the originals and be upscaled again by the next run)."""
    from upscaler.storage import is_inside

    for source in sources:
        if source.is_dir() and is_inside(str(output), str(source)):
            return (f"output {output} is inside the source folder {source}: the results would mix with the "
                    "originals and be upscaled again by the next run; choose an output folder outside the inputs")
    existing = output
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == output else f"is under {existing}, which is a file"
        return f"output {output} {what}, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"output {output}: {existing} is not writable"
    return None


def model_problem(name: str | None) -> str | None:
    """Why ``name`` names no model (with the closest known name), or None when it does, or may:
    a built-in model, one in the local zoo, one published in the model store, a weight file that
    exists. Checked by name and file only: nothing is loaded, torch is not imported."""
    from upscaler.settings import get_settings
    from upscaler.errors import UpscalerError
    from upscaler.storage import SourceMissingError, Storage, StorageError, safe_join
    from upscaler.zoo.catalogue import BUILTIN_MODELS, installed_models

    if not name:
        return None
    if Path(name).suffix.lower() in (".pth", ".pt", ".safetensors", ".ckpt") or "/" in name:
        return None if name.startswith("s3://") or Path(name).is_file() else f"model file {name}: no such file"
    settings = get_settings()
    try:
        known = set(BUILTIN_MODELS) | set(installed_models(settings.models_dir))
    except UpscalerError:  # an unreadable description: loading will name it
        known = set(BUILTIN_MODELS)
    if name in known:
        return None
    if settings.model_store_uri:
        try:
            Storage().head(safe_join(settings.model_store_uri, f"{name}.json"))
            return None
        except SourceMissingError:
            pass
        except StorageError:  # the store cannot be asked now: the worker will say
            return None
    return f"unknown model {name!r}{did_you_mean(name, known)}; known models: {', '.join(sorted(known))}"
