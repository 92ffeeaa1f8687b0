"""CPU time and memory of the tools' processes, straight from /proc (no psutil)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """Summed over a tool's processes. `cpu` counts the time of waited-for children too:
    gitmoor runs `git` as a child where Flux runs go-git in process."""

    cpu: float  # seconds
    rss: int  # KiB now (VmRSS)
    peak_rss: int  # KiB, the high-water mark since the process started (VmHWM)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.rss, self.peak_rss)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def usage(pids: Iterable[int]) -> Usage:
    cpu, rss, peak = 0.0, 0, 0
    for pid in pids:
        try:
            cpu += _cpu_seconds(pid)
            rss += _status_kib(pid, "VmRSS")
            peak += _status_kib(pid, "VmHWM")
        except (FileNotFoundError, ProcessLookupError):
            continue  # a child that ended meanwhile: its time is in its parent's now
    return Usage(cpu, rss, peak)


def with_descendants(pids: Iterable[int]) -> list[int]:
    """`pids` and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = list(pids)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found
