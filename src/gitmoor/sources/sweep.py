"""Keeping the chart and artifact caches bounded: what no source has used for a while goes.

Every use of a cached entry touches it (`touch`): a ChartSource or OCISource checking its
repository, a chart dependency handed to a render. An entry untouched for longer than `keep`
(the agent's `--cache-keep`, 24 h by default, well over the hourly full reconcile that
re-renders every chart) and not held by a source right now is removed:

    charts/archives/<sha256>.tgz     charts/unpacked/<sha256>/     charts/index/<url hash>/
    artifacts/blobs/<sha256>.tgz     artifacts/unpacked/<sha256>/

plus the `.tmp-` leftovers of an unpacking that was cut short. A removed entry is simply
downloaded again if it is ever asked for (an index then without a conditional request).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AREAS = (
    "charts/archives",
    "charts/unpacked",
    "charts/index",
    "artifacts/blobs",
    "artifacts/unpacked",
)
DEFAULT_KEEP = 24 * 3600.0


@dataclass(frozen=True)
class Entry:
    area: str
    name: str
    used_at: float  # seconds since the epoch (its mtime)

    @property
    def digest(self) -> str:
        """The sha256 hex the entry is named by (an index's: the URL hash)."""
        return self.name.split(".", 1)[0]


def stale(
    entries: Iterable[Entry], *, now: float, keep: float, held: Collection[str]
) -> list[Entry]:
    """The entries to remove: unused for longer than `keep`, and not `held` (hex digests of
    what sources hand out now). An unpacking's leftover goes after an hour whatever it held."""
    out = []
    for entry in entries:
        age = now - entry.used_at
        if ".tmp-" in entry.name or entry.name.startswith("."):
            if age > 3600:
                out.append(entry)
            continue
        if age > keep and entry.digest not in held:
            out.append(entry)
    return out


def touch(*paths: Path) -> None:
    """Mark cached entries as used now (missing ones are ignored)."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path)


def sweep(cache_dir: Path, *, keep: float, held: Collection[str], now: float | None = None) -> int:
    """Remove the stale entries under `cache_dir`; returns how many went."""
    entries = list(_entries(cache_dir))
    removed = 0
    for entry in stale(entries, now=time.time() if now is None else now, keep=keep, held=held):
        path = cache_dir / entry.area / entry.name
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("cannot remove %s from the cache: %s", path, err.strerror)
            continue
        removed += 1
    if removed:
        log.info("cache: removed %d entries unused for %.0f h", removed, keep / 3600)
    return removed


def _entries(cache_dir: Path) -> Iterable[Entry]:
    for area in AREAS:
        directory = cache_dir / area
        try:
            children = list(os.scandir(directory))
        except OSError:
            continue
        for child in children:
            try:
                used = child.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            yield Entry(area, child.name, used)
