"""Text from outside (file names, S3 keys, error messages that quote them) made safe to print.

A key may hold a newline, which would forge a second log line, or a terminal escape, which
would rewrite what an operator sees. Control characters become visible escapes (``\\n``,
``\\x1b``); everything else, unicode included, is kept as it is.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)

