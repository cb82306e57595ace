"""Every CSV the service writes goes through here: cells that a spreadsheet would run as a
formula are neutralised (OWASP's rule), and reading our own files back undoes it exactly.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
single quote, which spreadsheets show as text. A cell that already begins with a quote gets
one more, so ``unescape(escape(v)) == v`` for every value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def escape(value: str) -> str:
    """The cell as written: text that no spreadsheet evaluates."""
    if value.startswith(TRIGGERS) or value.startswith(QUOTE):
        return QUOTE + value
    return value


def unescape(value: str) -> str:
    """The value ``escape`` was given (a hand-made cell such as ``'abc`` is kept as it is)."""
    if len(value) > 1 and value.startswith(QUOTE) and value[1:].startswith((*TRIGGERS, QUOTE)):
        return value[1:]
    return value


def write(columns: Sequence[str], rows: Iterable[Mapping[str, str | None]]) -> str:
    """A whole CSV document (header first), every cell escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([escape(c) for c in columns])
    for row in rows:
        writer.writerow([escape(row.get(c) or "") for c in columns])
    return out.getvalue()
