"""One decision for every failure: a table of every error type the code raises, what it comes to,
and every runner (the Celery tasks, the in-process worker, training segments) doing just that."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import pytest
from sqlalchemy.exc import OperationalError

from db.migrate import upgrade
from db.models import Job, JobStatus, TrainingRun
from db.session import TransientDatabaseError, session_scope
from tests.support import texture
from upscaler import errors
from upscaler.errors import ErrorCode, UpscalerError
from upscaler.imageio.color.management import ColorProfileError
from upscaler.materials.controls import BadControl
from upscaler.settings import get_settings
from upscaler.storage import errors as storage_errors
from workers.core.failure_policy import BACKOFF_CAP, Decision, Kind, decide
from workers.core.runtime import NoopEngine

RETRY_LIMIT = 1


def _database_error() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))


# Every error a job or a segment can end with, and its decision before and after the retry
# budget is spent. A new error class must be added here (test_the_table_names_every_error_type).
FAIL, RETRY = Kind.fail, Kind.retry
TABLE: dict[str, tuple] = {
    # name: (make the error, decision with retries left, decision with none left)
    "UpscalerError": (lambda: UpscalerError("x"), (FAIL, "internal_error"), (FAIL, "internal_error")),
    "PermanentError": (lambda: errors.PermanentError("x"), (FAIL, "permanent"), (FAIL, "permanent")),
    "PermanentError(code)": (lambda: errors.PermanentError("x", code=ErrorCode.bad_dataset),
                             (FAIL, "bad_dataset"), (FAIL, "bad_dataset")),
    "InvalidParameters": (lambda: errors.InvalidParameters("x"), (FAIL, "invalid_parameters"),
                          (FAIL, "invalid_parameters")),
    "BadControl": (lambda: BadControl("depth", "depth -1"), (FAIL, "invalid_parameters"), (FAIL, "invalid_parameters")),
    "InvalidImageError": (lambda: errors.InvalidImageError("x"), (FAIL, "invalid_image"), (FAIL, "invalid_image")),
    "ImageTooLargeError": (lambda: errors.ImageTooLargeError("x"), (FAIL, "image_too_large"),
                           (FAIL, "image_too_large")),
    "ModelNotFoundError": (lambda: errors.ModelNotFoundError("x"), (FAIL, "unknown_model"), (FAIL, "unknown_model")),
    "ModelFormatError": (lambda: errors.ModelFormatError("x"), (FAIL, "bad_model_file"), (FAIL, "bad_model_file")),
    "JobTimeoutError": (lambda: errors.JobTimeoutError("x"), (FAIL, "timeout"), (FAIL, "timeout")),
    "ColorProfileError": (lambda: ColorProfileError("x"), (FAIL, "color_profile_mismatch"),
                          (FAIL, "color_profile_mismatch")),
    "StorageError": (lambda: storage_errors.StorageError("x"), (FAIL, "storage_error"), (FAIL, "storage_error")),
    "SourceMissingError": (lambda: storage_errors.SourceMissingError("x"), (FAIL, "source_missing"),
                           (FAIL, "source_missing")),
    "SourceChangedError": (lambda: storage_errors.SourceChangedError("x"), (FAIL, "source_changed"),
                           (FAIL, "source_changed")),
    "OutputNotWritableError": (lambda: storage_errors.OutputNotWritableError("x"), (FAIL, "output_not_writable"),
                               (FAIL, "output_not_writable")),
    "RedirectedWriteError": (lambda: storage_errors.RedirectedWriteError("x"), (FAIL, "unsafe_output"),
                             (FAIL, "unsafe_output")),
    "SourceNotAllowedError": (lambda: _producer_error("SourceNotAllowedError"), (FAIL, "source_not_allowed"),
                              (FAIL, "source_not_allowed")),
    "ManifestError": (lambda: _producer_error("ManifestError"), (FAIL, "bad_manifest"), (FAIL, "bad_manifest")),
    "InPlaceOutputError": (lambda: _producer_error("InPlaceOutputError"), (FAIL, "output_inside_source"),
                                (FAIL, "output_inside_source")),
    "TransientError": (lambda: errors.TransientError("x"), (RETRY, "transient"), (FAIL, "transient_exhausted")),
    "StorageUnavailableError": (lambda: storage_errors.StorageUnavailableError("x"), (RETRY, "storage_unavailable"),
                                (FAIL, "transient_exhausted")),
    "DispatchError": (lambda: _dispatch_error(), (RETRY, "broker_unreachable"), (FAIL, "transient_exhausted")),
    "DiskFullError": (lambda: errors.DiskFullError("x"), (RETRY, "disk_full"), (FAIL, "transient_exhausted")),
    "TransientDatabaseError": (_database_error, (RETRY, "database_unavailable"), (FAIL, "transient_exhausted")),
    # not ours: a bug, an out-of-memory, a stray ValueError are internal errors, never retried
    "ValueError": (lambda: ValueError("x"), (FAIL, "internal_error"), (FAIL, "internal_error")),
    "RuntimeError": (lambda: RuntimeError("CUDA out of memory"), (FAIL, "internal_error"), (FAIL, "internal_error")),
    "MemoryError": (lambda: MemoryError(), (FAIL, "internal_error"), (FAIL, "internal_error")),
}


def _producer_error(name: str) -> Exception:
    from producer import sources

    return getattr(sources, name)("x")


def _dispatch_error() -> Exception:
    from workers.core.dispatch import DispatchError

    return DispatchError("x")


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_all_subclasses(c) for c in found)) if found else found


def test_the_table_names_every_error_type() -> None:
    for make in ("ManifestError", "DispatchError"):
        TABLE[make][0]()  # imports the modules that define the rest
    named = {type(make()).__name__ for make, _, _ in TABLE.values()}
    defined = {cls.__name__ for cls in _all_subclasses(UpscalerError)} | {TransientDatabaseError.__name__}
    assert defined <= named, f"decide what these come to, in TABLE: {sorted(defined - named)}"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_decide(name: str) -> None:
    make, with_retries, exhausted = TABLE[name]
    first = decide(make(), 0, RETRY_LIMIT, jitter=lambda: 1.0)
    assert (first.kind, first.code) == with_retries
    assert isinstance(first.code, ErrorCode)
    if first.kind is Kind.retry:
        assert first.retry_in == 2.0  # the whole first backoff step at full jitter
    last = decide(make(), RETRY_LIMIT, RETRY_LIMIT, jitter=lambda: 1.0)
    assert (last.kind, last.code) == exhausted


def test_backoff_grows_to_its_cap_with_full_jitter() -> None:
    steps = [decide(errors.TransientError("x"), n, 99, jitter=lambda: 1.0).retry_in for n in range(10)]
    assert steps[:4] == [2.0, 4.0, 8.0, 16.0] and steps[-1] == BACKOFF_CAP
    assert decide(errors.TransientError("x"), 5, 99, jitter=lambda: 0.0) == Decision(Kind.retry, ErrorCode.transient)


def test_stored_code_values_are_unchanged() -> None:
    """The jobs table holds these strings: an enum member renamed would orphan its old rows."""
    stored_before = {"error", "permanent", "transient", "invalid_image", "image_too_large", "unknown_model",
                     "bad_model_file", "timeout", "storage_error", "source_missing", "source_changed",
                     "storage_unavailable", "color_profile_mismatch", "bad_manifest", "output_inside_source",
                     "duplicate_watch", "broker_unreachable", "unknown_run", "no_checkpoint", "lost_lease",
                     "bad_dataset", "missing_weights", "attempts_exhausted", "transient_exhausted",
                     "internal_error", "invalid_parameters", "output_collision", "unsafe_key", "disk_full",
                     "source_not_allowed", "output_not_writable", "unsafe_output", "interrupted",
                     "bad_manifest_row", "source_unreadable"}
    assert stored_before <= {code.value for code in ErrorCode}
    assert {c for c in ErrorCode if not c.operator_may_retry} == {ErrorCode.output_collision, ErrorCode.unsafe_key}


# --- every runner applies the decision ------------------------------------------------------

class RaisingEngine(NoopEngine):
    def __init__(self, make) -> None:
        super().__init__(0)
        self.make = make

    def upscale(self, pixels, options, progress=None, timings=None):
        raise self.make()


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UPSCALER_TRANSIENT_RETRIES", str(RETRY_LIMIT))
    monkeypatch.delenv("UPSCALER_DATABASE_URL", raising=False)
    monkeypatch.delenv("UPSCALER_BROKER_URL", raising=False)
    monkeypatch.setattr("workers.core.failure_policy.BACKOFF_BASE", 0.001)
    get_settings.cache_clear()
    upgrade()
    yield tmp_path
    get_settings.cache_clear()


def _one_job(root: Path) -> uuid.UUID:
    from producer.submit import create_batch

    (root / "in").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "in" / "a.png"), texture(8, 8))
    [job_id] = create_batch([str(root / "in")], str(root / "out"), model="realesr-animevideov3").job_ids
    return job_id


def _run_celery_job(job_id: uuid.UUID) -> None:
    from workers.tasks import upscale_job

    upscale_job.apply(args=[str(job_id)])  # eager: a retry runs again at once, counting retries


def _run_in_process_job(job_id: uuid.UUID) -> None:
    from workers.core.dispatch import run_in_process

    run_in_process([job_id])


JOB_RUNNERS = {"celery task": _run_celery_job, "in-process worker": _run_in_process_job}
# one of each kind: permanent with its code, transient to exhaustion, internal
RUNNER_CASES = ["InvalidImageError", "StorageUnavailableError", "TransientDatabaseError", "RuntimeError",
                "InvalidParameters"]


@pytest.mark.parametrize("name", RUNNER_CASES)
@pytest.mark.parametrize("runner", sorted(JOB_RUNNERS))
def test_job_runners_apply_the_decision(embedded: Path, monkeypatch, runner: str, name: str) -> None:
    make, with_retries, exhausted = TABLE[name]
    monkeypatch.setattr("workers.core.runtime.engine", lambda: RaisingEngine(make))
    job_id = _one_job(embedded)
    JOB_RUNNERS[runner](job_id)
    with session_scope() as session:
        job = session.get(Job, job_id)
    assert (job.status, job.error_code) == (JobStatus.failed, exhausted[1]), job.error_message
    # a retried job was run once more per retry; a failed one once
    assert job.attempts == (RETRY_LIMIT + 1 if with_retries[0] is Kind.retry else 1)


def _run_celery_segment(run_id: uuid.UUID) -> None:
    from workers.training_tasks import train_segment

    train_segment.apply(args=[str(run_id)])


def _run_in_process_segment(run_id: uuid.UUID) -> None:
    from training.service import run_segment
    from workers.core.dispatch import InProcessDispatcher

    InProcessDispatcher(run_segment).training_segment(run_id)


SEGMENT_RUNNERS = {"celery task": _run_celery_segment, "in-process": _run_in_process_segment}


@pytest.mark.parametrize("name", RUNNER_CASES)
@pytest.mark.parametrize("runner", sorted(SEGMENT_RUNNERS))
def test_training_segments_apply_the_decision(embedded: Path, monkeypatch, runner: str, name: str) -> None:
    from training import trainer
    from training.config import preset
    from training.service import create_run

    make, with_retries, exhausted = TABLE[name]
    tries = []

    def failing_trainer(*_args, **_kwargs):
        tries.append(1)
        raise make()

    monkeypatch.setattr(trainer, "Trainer", failing_trainer)
    run_id = create_run(preset("esrnet", {"data": str(embedded)}), "esrnet")
    SEGMENT_RUNNERS[runner](run_id)
    with session_scope() as session:
        run = session.get(TrainingRun, run_id)
    assert (run.status, run.error_code) == (JobStatus.failed, exhausted[1]), run.error_message
    assert len(tries) == (RETRY_LIMIT + 1 if with_retries[0] is Kind.retry else 1)
