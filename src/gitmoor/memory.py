"""Handing freed memory back to the operating system.

CPython returns empty 256 KiB arenas by itself, but larger blocks (response bodies, parsed
manifests of a big revision) come from the C allocator, whose heap keeps what was freed: an
agent's resident size would follow its largest reconcile for good. glibc's `malloc_trim`
releases those pages; elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release() -> bool:
    """Return free heap pages to the system; True when the C library could do it."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
