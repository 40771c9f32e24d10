"""Help text that never cuts a name: click (as Typer vendors it) wraps option descriptions with textwrap, which by
default breaks words at hyphens and splits long ones ("realsr-" / "df2k-x4", "roughn" / "ess"),
so a model or map name copied from ``--help`` at 80 columns comes out wrong. Here the wrapper
keeps every word whole (a word longer than the line runs past it instead)."""

from __future__ import annotations

from typer._click import _textwrap


class WholeWordWrapper(_textwrap.TextWrapper):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.update(break_on_hyphens=False, break_long_words=False)
        super().__init__(*args, **kwargs)


def keep_words_whole() -> None:
    """Make click's help formatting use :class:`WholeWordWrapper` (click imports it per call)."""
    _textwrap.TextWrapper = WholeWordWrapper
