"""The manual names what the code has: every setting documented, nothing documented that no
setting reads; the README stays a front door."""

from __future__ import annotations

import re
from pathlib import Path

from upscaler.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"`UPSCALER_([A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text()))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from docs/configuration.md"
    assert documented - settings == set(), "docs/configuration.md names variables no setting reads"


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 170
