"""Tables that fit the terminal without cutting what a person copies (batch ids, model names).

rich shrinks every column of a table wider than the terminal and cuts cells with "…"; here the
identifier columns are as wide as their longest cell and never wrap, and only the free text
columns give way (folded onto more lines)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from cli.common import shown


def print_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[object]],
                identifiers: Sequence[str] = ()) -> None:
    """``rows`` under ``headers``; the columns named in ``identifiers`` are never cut or wrapped,
    the others fold where the terminal is too narrow. Cells are shown as outside text."""
    cells = [[shown(cell) for cell in row] for row in rows]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for index, header in enumerate(headers):
        if header in identifiers:
            width = max([len(header), *(len(row[index]) for row in cells)])
            table.add_column(header, no_wrap=True, min_width=width, overflow="ignore")
        else:
            table.add_column(header, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)
