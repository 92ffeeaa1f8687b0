"""Reading one file of the artifact, refused when it is larger than `Limits.max_file_bytes`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from gitmoor.errors import RenderError
from gitmoor.model.limits import MIB, Limits


def read_bounded(path: Path, source: str, limits: Limits) -> bytes:
    """The bytes of `path`; RenderError (naming `source`) when there are more than the limit,
    found before they are read. OSError when the file cannot be read."""
    limit = limits.max_file_bytes
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        # One byte past the limit is read, never more: a file that grows, or one that reports
        # no size (a device, a FIFO), is still caught without being read whole.
        data = b"" if size > limit else _read_at_most(file, limit + 1, first=size + 1)
    if size > limit or len(data) > limit:
        shown = size_text(size) if size > limit else "larger"
        raise RenderError(
            f"the file is {shown}, over the limit of {size_text(limit)} per file", file=source
        )
    return data


def _read_at_most(file: BinaryIO, most: int, *, first: int) -> bytes:
    # A read of n bytes sets aside n bytes up front: ask for what the file says it holds, then
    # in small pieces, never for the whole limit at once.
    chunks: list[bytes] = []
    left = most
    wanted = min(first, most)
    while left > 0 and (chunk := file.read(wanted)):
        chunks.append(chunk)
        left -= len(chunk)
        wanted = min(left, MIB)
    return b"".join(chunks)


def size_text(size: int) -> str:
    """A size as people read it: bytes below a MiB, MiB above."""
    if size < MIB:
        return f"{size:,} bytes"
    return f"{size / MIB:.1f}".removesuffix(".0") + " MiB"
