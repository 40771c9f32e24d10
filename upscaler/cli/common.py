"""What every command shares: settings, the engine, JSON output and error reporting."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from upscaler.settings import Settings, get_settings
from upscaler.zoo.registry import ModelZoo

# Progress bars and human messages go to stderr so that stdout carries only results (--json).
err_console = Console(stderr=True)
out_console = Console()

JSON_HELP = "Print the result as JSON on stdout (for scripts)."


def settings() -> Settings:
    return get_settings()


def zoo() -> ModelZoo:
    return ModelZoo(settings().models_dir, settings().model_store_uri)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
