"""Progress for a person: bars with the time left on a terminal, plain lines elsewhere.

Off a terminal (a log file, CI, ``nohup``) rich draws nothing until the end, so a long command
looks dead; there :class:`PlainProgress` prints one line per task every
``UPSCALER_PROGRESS_EVERY`` seconds instead. Log records go through the same console
(:func:`route_logs_through`), so on a terminal they appear above the bars, not through them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli.common import err_console, settings

# Tasks added with report=False (one image's tiles, say) are drawn on a terminal but not printed
# as plain lines: only the overall counts are.
REPORT = "report"


def bars(*extra_columns, console: Console = err_console, disable: bool = False) -> Progress:
    """Description, bar, done/total, elapsed and remaining time, then ``extra_columns``."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn(), *extra_columns)
    if disable or console.is_terminal:
        return Progress(*columns, console=console, disable=disable)
    return PlainProgress(*columns, console=console, every=settings().progress_every)


class PlainProgress(Progress):
    """Tracks tasks as rich does, draws no bar, prints '<task>: 3/10, 12 s elapsed, about 28 s
    left' per reported task every ``every`` seconds, and once more at the end."""

    def __init__(self, *columns, console: Console, every: float) -> None:
        super().__init__(*columns, console=console, disable=True)
        self.every = every
        self._stopped = threading.Event()
        self._printer: threading.Thread | None = None

    def start(self) -> None:
        self._printer = threading.Thread(target=self._print_periodically, name="plain-progress", daemon=True)
        self._printer.start()

    def stop(self) -> None:
        if self._printer is not None and not self._stopped.is_set():
            self._stopped.set()
            self._printer.join()
            self.print_lines()

    def _print_periodically(self) -> None:
        while not self._stopped.wait(self.every):
            self.print_lines()

    def print_lines(self) -> None:
        for task in list(self.tasks):
            if not task.fields.get(REPORT, True) or not task.visible:
                continue
            total = f"/{task.total:.0f}" if task.total is not None else ""
            left = (f", about {_duration(task.time_remaining)} left"
                    if task.time_remaining is not None and not task.finished else "")
            self.console.print(f"{task.description.strip()}: {task.completed:.0f}{total}, "
                               f"{_duration(task.elapsed or 0)} elapsed{left}", soft_wrap=True, highlight=False,
                               markup=False)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class ConsoleLogHandler(logging.Handler):
    """Log records printed through a rich console: while bars are drawn, above them."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # a log line must never end the command
            self.handleError(record)


def route_logs_through(console: Console = err_console) -> None:
    """On a terminal, the root logger's text lines go through ``console`` (same format)."""
    root = logging.getLogger()
    if not console.is_terminal or not root.handlers:
        return
    formatter = root.handlers[0].formatter
    handler = ConsoleLogHandler(console)
    handler.setFormatter(formatter)
    root.handlers[:] = [handler]


@contextmanager
def step(message: str, console: Console = err_console, quiet: bool = False) -> Iterator[None]:
    """A step that may take a while before any bar can move (loading a model: on its first use
    here it is converted and calibrated): a spinner on a terminal, one line elsewhere."""
    if quiet:
        yield
    elif console.is_terminal:
        with console.status(message):
            yield
    else:
        console.print(message, markup=False, highlight=False, soft_wrap=True)
        yield


def loading_message(model: str) -> str:
    """'loading X', and why it may be long when the model was never used here."""
    from upscaler.zoo.catalogue import installed_models

    try:
        first_use = model not in installed_models(settings().models_dir)
    except Exception:  # an unreadable zoo: loading will say what is wrong
        first_use = False
    return (f"loading {model}: first use here, converting and calibrating it (a minute or two, once)"
            if first_use else f"loading {model}")
