"""'Did you mean ...?' for a mistyped name (a model, a material category, a profile)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely meant: a close spelling, else the one known name that
    contains it ('x4plus' -> 'realesrgan-x4plus'); None when nothing is close."""
    by_folded = {k.lower(): k for k in known}
    typed = name.strip().lower()
    if not typed:
        return None
    close = difflib.get_close_matches(typed, list(by_folded), n=1, cutoff=0.6)
    if close:
        return by_folded[close[0]]
    containing = [k for k in by_folded if typed in k]
    if len(containing) > 1:  # 'x4plus': the name that ends with it, not its variants
        containing = [k for k in containing if k.endswith(typed)]
    return by_folded[containing[0]] if len(containing) == 1 else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for :func:`closest`, or '' when nothing is close."""
    found = closest(name, known)
    return f" (did you mean {found!r}?)" if found else ""
