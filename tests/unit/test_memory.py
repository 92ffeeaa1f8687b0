"""Freed heap memory goes back to the system when the agent asks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import re
    from gitmoor import memory

    def rss() -> int:
        status = open("/proc/self/status").read()
        return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) // 1024

    blocks = [bytes(4000) + bytes([i % 256]) for i in range(50_000)]  # about 200 MiB
    kept = blocks[::50]  # a block pinned here and there: the heap cannot shrink from its top
    del blocks
    before = rss()
    print(memory.release(), before, rss())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, trims glibc")
def test_release_returns_freed_heap_pages_to_the_system() -> None:
    # A fresh interpreter, so that nothing else the test run allocated blurs the figures.
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    ).stdout.split()
    released, before, after = out[0] == "True", int(out[1]), int(out[2])
    assert released
    assert before - after > 100, f"RSS {before} MiB -> {after} MiB"


THREADS = textwrap.dedent(
    """
    import ctypes, ctypes.util, os, sys, tempfile, threading
    from gitmoor import memory

    if sys.argv[1] == "limit":
        print(memory.limit_arenas())
    else:
        print(False)

    def work() -> None:
        kept = [bytearray(200_000) for _ in range(20)]  # C-allocator blocks, in this thread
        done.wait()

    done = threading.Event()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    path = tempfile.mktemp()
    handle = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(handle))
    libc.fclose(ctypes.c_void_p(handle))
    done.set()
    for t in threads:
        t.join()
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_info")
@pytest.mark.parametrize(("mode", "most"), [("limit", 2), ("free", None)])
def test_helper_threads_share_two_heaps_once_limited(mode: str, most: int | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", THREADS, mode], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    limited, heaps = out[0] == "True", int(out[1])
    if most is None:  # the control: without the cap, glibc gives each new thread its own heap
        assert not limited
        assert heaps > 2, heaps
    else:
        assert limited
        assert heaps <= most, heaps
