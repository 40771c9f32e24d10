"""A material that is no category runs the ``other`` profile, and the batch's report says what
that ran: its model and, where it blends, the detail model and how much (each tile then runs
through two networks, a heavier job than the name ``other`` suggests).

Why ``other`` keeps blending: its default was chosen by leave-one-source-out cross-validation
over every category's truths (bench/texture_cv.py, docs/quality.md); a plain model loses there.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from typer.testing import CliRunner

from cli.main import app
from tests.textures import texture
from upscaler.profiles import default_profiles
from upscaler.settings import get_settings
from workers.core import runtime

runner = CliRunner()


def test_an_unknown_material_reports_the_blend_it_ran(tmp_path: Path, monkeypatch) -> None:
    for name in ("UPSCALER_BROKER_URL", "UPSCALER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UPSCALER_ENGINE_NOOP", "1")
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    try:
        (tmp_path / "in").mkdir()
        cv2.imwrite(str(tmp_path / "in" / "moss.png"), texture(8, 8))
        result = runner.invoke(app, ["submit", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                                     "--material", "moss", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
    finally:
        get_settings.cache_clear()
        runtime._engine_for.cache_clear()
    other = default_profiles()["other"]
    assert other.detail > 0  # the shipped fallback blends: the report must say so
    [noted] = report["summary"]["warnings"]
    said = " ".join(noted["warnings"])
    assert "unknown material category 'moss': ran the 'other' profile" in said
    assert f"model {other.model} blended with" in said and f"at detail {other.detail:g}" in said
    assert "two networks per tile" in said
