"""kubectl-style tables: borderless aligned columns that fit the terminal, AGE columns, colour
only on a terminal.

A row is always one line: a cell too long for its share of the width is shortened with an
ellipsis, at a word boundary when one is near, never wrapped (a wrapped cell splits words and
breaks `grep` and `awk`). `-o wide` shows the wide-only columns and every cell in full.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import typer

GAP = "   "  # kubectl's column separator
ELLIPSIS = "…"

_ANSI = {"green": "32", "red": "31", "yellow": "33", "magenta": "35", "cyan": "36"}

_DIGESTS = re.compile(r"((?:sha1|sha256):[0-9a-f]{12})[0-9a-f]+")


@dataclass(frozen=True)
class Column:
    header: str
    wide_only: bool = False
    # Shortened first when the table is too wide: free text such as messages and URLs.
    flexible: bool = False
    # Shortened last: what names the row (NAMESPACE, NAME), which a user copies.
    identity: bool = False
    # Never narrower than this (beyond the header's width), e.g. to keep a whole word.
    min_width: int = 0
    # The colour of a cell's value on a terminal, e.g. green for True.
    colour: Callable[[str], str | None] | None = None
    # Spaces kept as they are (a tree's indentation); line breaks still become spaces.
    verbatim: bool = False
    # Left out when the table cannot fit even with every column at its narrowest, the
    # highest rank first (0: never). `-o wide` shows it, as every column.
    drop_rank: int = 0


def terminal_width() -> int | None:
    """COLUMNS when set, else the terminal's width; None (no limit) when printing to a pipe,
    as kubectl does, so scripts see whole values."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def use_colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def one_line(value: str) -> str:
    return " ".join(value.split())


def shorten(value: str, width: int, *, at_word: bool = True) -> str:
    """`value` in at most `width` characters, ending in an ellipsis when cut; at a word
    boundary when that keeps most of the room (unless not `at_word`: a tree's indentation
    is no word boundary)."""
    if len(value) <= width:
        return value
    if width <= 1:
        return ELLIPSIS[:width]
    cut = value[: width - 1]
    space = cut.rfind(" ")
    if at_word and space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + ELLIPSIS


def _fit(widths: list[int], minimums: list[int], ranks: list[int], limit: int) -> list[int]:
    """Column widths whose table fits in `limit`: the columns of rank 0 give up room first,
    widest first, then those of rank 1, then 2; none below its header's width."""
    widths = list(widths)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - limit
    for rank in (0, 1, 2):
        while excess > 0:
            candidates = [i for i, w in enumerate(widths) if w > minimums[i] and ranks[i] <= rank]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def render(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
    headers: bool = True,
    width: int | None = None,
    colour: bool = False,
) -> list[str]:
    """The lines of the table; without rows, none (the caller says "nothing found")."""
    shown = [i for i, c in enumerate(columns) if wide or not c.wide_only]
    if width is not None and not wide:
        shown = _droppable_left_out(columns, shown, rows, headers, width)
    cells = [[_cell(columns[i], row[i]) for i in shown] for row in rows]
    titles = [columns[i].header for i in shown]
    natural = _natural(titles, cells, headers)
    widths = natural
    if width is not None and not wide:
        minimums = _minimums(columns, shown, titles, natural)
        ranks = [0 if columns[i].flexible else 2 if columns[i].identity else 1 for i in shown]
        widths = _fit(natural, minimums, ranks, width)
    lines = []
    if headers and rows:
        lines.append(_line(titles, widths, [None] * len(shown)))
    for row in cells:
        paints = [_paint(columns[i], row[j]) if colour else None for j, i in enumerate(shown)]
        cut = [
            shorten(v, w, at_word=not columns[i].verbatim)
            for v, w, i in zip(row, widths, shown, strict=True)
        ]
        lines.append(_line(cut, widths, paints))
    return lines


def _natural(titles: list[str], cells: list[list[str]], headers: bool) -> list[int]:
    return [
        max([len(titles[j]) if headers else 1, *(len(r[j]) for r in cells)])
        for j in range(len(titles))
    ]


def _minimums(
    columns: Sequence[Column], shown: list[int], titles: list[str], natural: list[int]
) -> list[int]:
    # Short values (an AGE, True/False) are never cut: a cut one says nothing.
    return [
        max(
            columns[i].min_width,
            len(titles[j]) if columns[i].flexible else max(len(titles[j]), min(natural[j], 6)),
        )
        for j, i in enumerate(shown)
    ]


def _droppable_left_out(
    columns: Sequence[Column],
    shown: list[int],
    rows: Sequence[Sequence[str]],
    headers: bool,
    width: int,
) -> list[int]:
    """`shown` without the droppable columns (highest rank first, the rightmost of a rank
    first) that keep the table from fitting `width` with only free text (flexible columns)
    shortened: a column left out is better than names and reasons cut short."""
    shown = list(shown)
    while True:
        titles = [columns[i].header for i in shown]
        cells = [[_cell(columns[i], row[i]) for i in shown] for row in rows]
        natural = _natural(titles, cells, headers)
        minimums = _minimums(columns, shown, titles, natural)
        needed = sum(
            minimums[j] if columns[i].flexible else natural[j] for j, i in enumerate(shown)
        )
        if needed + len(GAP) * (len(shown) - 1) <= width:
            return shown
        candidates = [i for i in shown if columns[i].drop_rank > 0]
        if not candidates:
            return shown
        shown.remove(max(candidates, key=lambda i: (columns[i].drop_rank, i)))


def _cell(column: Column, value: object) -> str:
    text = str(value)
    if column.verbatim:
        return text.replace("\r", " ").replace("\n", " ").rstrip()
    return one_line(text)


def _paint(column: Column, value: str) -> str | None:
    return column.colour(value) if column.colour is not None else None


def _line(values: list[str], widths: list[int], paints: list[str | None]) -> str:
    parts = []
    last = len(values) - 1
    for j, (value, w, paint) in enumerate(zip(values, widths, paints, strict=True)):
        padded = value if j == last else value.ljust(w)
        if paint in _ANSI:
            # Colour goes around the padded text, so the escapes never count as width.
            padded = f"\x1b[{_ANSI[paint]}m{value}\x1b[0m" + padded[len(value) :]
        parts.append(padded)
    return GAP.join(parts).rstrip()


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
    headers: bool = True,
) -> None:
    for line in render(
        columns, rows, wide=wide, headers=headers, width=terminal_width(), colour=use_colour()
    ):
        typer.echo(line)


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, the way kubectl's AGE column says it: 45s, 5m30s, 95m, 5h30m, 3d4h, 40d."""
    if moment is None:
        return "<unknown>"
    span = (now or datetime.now(UTC)) - moment
    return human_duration(span)


def human_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days < 365 * 8 else f"{days // 365}y"


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 timestamp as the API server writes it; None when empty or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def short_sha(revision: str | None) -> str:
    """The first 12 hex digits of a revision's commit: what a narrow column has room for."""
    if not revision:
        return ""
    _, sep, digest = revision.rpartition("sha1:")
    return digest[:12] if sep else revision


def short_revision(revision: str | None) -> str:
    """`main@sha1:0123456789ab`: enough of the hash to find the commit, short enough for a
    table."""
    if not revision:
        return ""
    # A chart Sync's revision holds a sha256 too: `web@1.2.0@sha256:<hex>;main@sha1:<hex>`.
    return _DIGESTS.sub(r"\1", revision)


def status_colour(value: str) -> str | None:
    return {"True": "green", "False": "red", "Reconciling": "yellow"}.get(value)
