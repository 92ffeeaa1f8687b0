"""How long `gitmoor.health.compute` takes to judge 10,000 objects, without a cluster.

    .venv/bin/python -m benchmarks.health_compute [--objects 10000] [--repeat 5]

The objects are the unit fixtures (tests/unit/health/fixtures: built-in kinds, the generic
table, every project of the rule library), cycled up to --objects, so the mix has Python rules,
CEL rules and the generic table in the proportions of the fixtures. Prints the best of --repeat
runs (the least disturbed by the rest of the machine), the median, and the best CPU time.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from gitmoor.health import compute
from gitmoor.health.exprs import LIBRARY, ExprRule, find

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "unit" / "health" / "fixtures"


def objects(count: int) -> list[dict[str, Any]]:
    cases = [
        c["object"] for f in sorted(FIXTURES.rglob("*.yaml")) for c in yaml.safe_load(f.read_text())
    ]
    return list(itertools.islice(itertools.cycle(cases), count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    batch = objects(args.objects)
    cel = sum(1 for o in batch if _library_rule(o) is not None)
    rules = dict(LIBRARY)  # the same rules, passed as user rules: the override path
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("built-in rules", {}),
        ("the library passed as user rules", {"rules": rules}),
    )
    for label, kwargs in runs:
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            for obj in batch:
                compute(obj, **kwargs)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        # CPU time as well: on a shared machine the wall clock also counts other processes.
        print(
            f"compute, {label}: {len(batch):,} objects ({cel:,} judged by CEL rules) in "
            f"{min(times) * 1000:.0f} ms best, {statistics.median(times) * 1000:.0f} ms median "
            f"({min(times) / len(batch) * 1e6:.1f} us per object; {min(cpu) * 1000:.0f} ms of CPU)"
        )


def _library_rule(obj: dict[str, Any]) -> ExprRule | None:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return find(LIBRARY, group, version, str(obj.get("kind", "")))


if __name__ == "__main__":
    main()
