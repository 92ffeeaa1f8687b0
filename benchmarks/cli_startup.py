"""How long the `gitmoor` command takes to start: offline commands and cluster commands.

    .venv/bin/python -m benchmarks.cli_startup [--runs 7]

Each line runs one command as a user does (`python -m gitmoor ...`, a new process each run) and
prints the median wall time and the median CPU time (user+system of the process) over --runs.
On a shared machine the wall time also counts other processes: read the CPU time. The first
line is the interpreter alone, the floor every command pays. The cluster commands are pointed at
a kubeconfig whose API server refuses connections (127.0.0.1, port 9), so they import and
configure everything they need, fail at once and exit 3: what is measured is the start-up, not
a cluster.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: refused
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: nobody
  user: {token: not-a-token}
contexts:
- name: refused
  context: {cluster: refused, user: nobody}
current-context: refused
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {colour: blue}
"""


def commands(work: Path) -> list[tuple[str, list[str], int]]:
    """(label, arguments after `python`, expected exit code)."""
    gitmoor = ["-m", "gitmoor"]
    kubeconfig = ["--kubeconfig", str(work / "kubeconfig")]
    app = str(work / "app")
    return [
        ("python -c pass (the floor)", ["-c", "pass"], 0),
        ("gitmoor --help", [*gitmoor, "--help"], 0),
        ("gitmoor version", [*gitmoor, "version"], 0),
        ("gitmoor render DIR (one ConfigMap)", [*gitmoor, "render", app], 0),
        ("gitmoor validate DIR (one ConfigMap)", [*gitmoor, "validate", app], 0),
        ("gitmoor status (refused cluster)", [*gitmoor, "status", *kubeconfig], 3),
        ("gitmoor history (refused cluster)", [*gitmoor, "history", *kubeconfig], 3),
        ("gitmoor run --help", [*gitmoor, "run", "--help"], 0),
    ]


def measure(args: list[str], expected: int) -> tuple[float, float]:
    """Wall and CPU seconds of one run of the interpreter with `args`."""
    # Runs are one at a time, so what the waited-for children used grows by this one's use.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expected:
        raise SystemExit(f"{args}: exit {done.returncode}, expected {expected}: {done.stderr!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitmoor-cli-bench-") as tmp:
        work = Path(tmp)
        (work / "kubeconfig").write_text(KUBECONFIG)
        (work / "app").mkdir()
        (work / "app" / "configmap.yaml").write_text(CONFIGMAP)
        for label, command, expected in commands(work):
            walls, cpus = [], []
            for _ in range(args.runs):
                wall, cpu = measure(command, expected)
                walls.append(wall)
                cpus.append(cpu)
            print(
                f"{label:44} {statistics.median(walls):6.3f} s wall  "
                f"{statistics.median(cpus):6.3f} s CPU  (median of {args.runs}; CPU "
                f"{min(cpus):.3f}-{max(cpus):.3f})"
            )


if __name__ == "__main__":
    main()
