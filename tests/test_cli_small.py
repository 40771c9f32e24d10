"""Small command-line promises: an export never silently replaces a model, a file that is not
plain weights is refused without torch's advice to unpickle it anyway."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import torch

from tests.cli_process import run_cli
from tests.services import free_port
from tests.support import TINY_RRDB, random_network_file


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_train_export_refuses_to_replace_a_model_without_force(tmp_path: Path) -> None:
    data = tmp_path / "data"
    weights = random_network_file(tmp_path, TINY_RRDB)
    assert run_cli(["models", "import", str(weights), "--name", "mine"], data).returncode == 0
    taken = run_cli(["train", "export", "some-run", "--name", "mine"], data)
    assert taken.returncode == 1 and "a model named 'mine' exists" in taken.stderr and "--force" in taken.stderr
    builtin = run_cli(["train", "export", "some-run", "--name", "realesrgan-x4plus", "--force"], data)
    assert builtin.returncode == 1 and "built-in model" in builtin.stderr
    forced = run_cli(["train", "export", "some-run", "--name", "mine", "--force"], data)
    assert forced.returncode == 1 and "no training run 'some-run'" in forced.stderr  # past the name check


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_importing_a_file_that_is_not_plain_weights_never_advises_unsafe_loading(tmp_path: Path) -> None:
    pickled = tmp_path / "objects.pth"
    torch.save({"params": {"when": datetime.date(2026, 1, 1)}}, pickled)
    text = tmp_path / "notes.pth"
    text.write_text("not weights at all")
    for path, reason in ((pickled, "not a plain weights file (Unsupported global: GLOBAL datetime.date"),
                         (text, "not a plain weights file (Unsupported operand")):
        result = run_cli(["models", "import", str(path), "--name", "x"], tmp_path / "data")
        assert result.returncode == 1, result.stderr
        assert reason in result.stderr and "Traceback" not in result.stderr
        assert "weights_only" not in result.stderr and "trusted source" not in result.stderr


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_doctor_checks_settings_services_models_and_outputs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "file").write_text("a file where a folder should be")
    healthy = run_cli(["doctor", "-o", str(tmp_path / "out")], data)
    assert healthy.returncode == 0, healthy.stderr
    for check in ("settings", "data dir", "database", "models", f"output {tmp_path / 'out'}"):
        assert f"ok      {check}:" in healthy.stderr, healthy.stderr
    broken = run_cli(["doctor", "-o", str(tmp_path / "file" / "out")], data,
                     UPSCALER_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert broken.returncode == 1
    assert "problem broker:" in broken.stderr and f"problem output {tmp_path / 'file' / 'out'}:" in broken.stderr
    assert "ok      database:" in broken.stderr  # one problem does not stop the other checks
