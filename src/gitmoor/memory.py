"""Keeping the agent's resident memory to what it holds.

CPython returns empty 256 KiB arenas by itself, but larger blocks (response bodies, parsed
manifests of a big revision) come from the C allocator, whose heap keeps what was freed: an
agent's resident size would follow its largest reconcile for good. glibc's `malloc_trim`
releases those pages. glibc also gives each thread that allocates a heap of its own (up to
eight per core), and the agent's helper threads (file reads, render answers, Git checks,
the ledger) would each keep one, half used; two suffice, since the GIL serialises almost every
allocation anyway. Elsewhere (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.cache
def _trim() -> Callable[[int], int] | None:
    libc = _libc()
    if libc is None:
        return None
    try:
        trim: Callable[[int], int] = libc.malloc_trim
    except AttributeError:
        return None
    return trim


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the C allocator's heaps at `arenas` for threads started from now on (call it before
    any); True when the C library took it. `MALLOC_ARENA_MAX` in the environment wins."""
    libc = _libc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt: Callable[[int, int], int] = libc.mallopt
    except AttributeError:
        return False
    return mallopt(_M_ARENA_MAX, arenas) == 1


def release() -> bool:
    """Return free heap pages to the system; True when the C library could do it."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
