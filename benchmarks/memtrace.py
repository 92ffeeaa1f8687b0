"""`python -m benchmarks.memtrace ARGS`: gitmoor's CLI under tracemalloc, for finding where the
agent's memory goes. Every 20 s the largest allocation sites still alive are written to the file
named by GITMOOR_MEMTRACE (set it, and the benchmark starts the agent this way)."""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _dump(target: Path) -> None:
    while True:
        time.sleep(20)
        snapshot = tracemalloc.take_snapshot()
        by_line = snapshot.statistics("lineno")
        total = sum(s.size for s in by_line)
        lines = [f"traced {total / 2**20:.1f} MiB in {len(by_line)} sites"]
        lines += [f"{s.size / 2**20:8.2f} MiB {s.count:9d}  {s.traceback}" for s in by_line[:80]]
        target.write_text("\n".join(lines) + "\n")


def main() -> None:
    tracemalloc.start()
    threading.Thread(
        target=_dump, args=(Path(os.environ["GITMOOR_MEMTRACE"]),), daemon=True
    ).start()
    args = sys.argv[1:]
    if args[:2] == ["-m", "gitmoor"]:  # the benchmark's command line, as for cProfile
        args = args[2:]
    sys.argv = ["gitmoor", *args]
    runpy.run_module("gitmoor", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
