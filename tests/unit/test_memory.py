"""Freed heap memory goes back to the system when the agent asks."""

from __future__ import annotations

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
