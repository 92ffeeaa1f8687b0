"""Summaries of the runs: median and range per metric, the gitmoor/Flux ratio, the issue's
targets, as a Markdown table (what benchmarks/README.md shows) or JSON."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.session import Run

# Per scenario, the metrics the table shows, in order: (key in Run.metrics(), label).
SHOWN: dict[str, list[tuple[str, str]]] = {
    "S1": [
        ("wall_s", "wall s"),
        ("cpu_s", "tool CPU s"),
        ("reads", "reads"),
        ("writes", "writes"),
        ("dry_runs", "dry runs"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("server_cpu_s", "apiserver+etcd CPU s"),
    ],
    "S2": [
        ("tick_reported_s", "reconcile s per interval (own metric)"),
        ("tick_cpu_s", "tool CPU s per interval"),
        ("tick_reads", "reads per interval"),
        ("tick_writes", "writes per interval (all)"),
        ("tick_object_writes", "writes to objects per interval"),
        ("tick_dry_runs", "dry runs per interval"),
        ("tick_server_cpu_s", "apiserver+etcd CPU s per interval"),
        ("rss_mib", "RSS MiB"),
    ],
    "S2r": [
        ("wall_s", "wall s"),
        ("reported_s", "reconcile s (own metric)"),
        ("cpu_s", "tool CPU s"),
        ("reads", "reads"),
        ("writes", "writes (all)"),
        ("object_writes", "writes to objects"),
        ("dry_runs", "dry runs"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("server_cpu_s", "apiserver+etcd CPU s"),
    ],
    "S3": [
        ("wall_s", "wall s"),
        ("cpu_s", "tool CPU s"),
        ("reads", "reads"),
        ("writes", "writes (all)"),
        ("object_writes", "writes to objects"),
        ("dry_runs", "dry runs"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("server_cpu_s", "apiserver+etcd CPU s"),
    ],
    "S4": [
        ("wall_s", "all applied, s"),
        ("steady_window_s", "steady window s"),
        ("steady_cpu_s_per_min", "steady tool CPU s/min"),
        ("steady_server_cpu_s_per_min", "steady apiserver+etcd CPU s/min"),
        ("steady_reads_per_min", "steady reads/min"),
        ("steady_writes_per_min", "steady writes/min"),
        ("steady_dry_runs_per_min", "steady dry runs/min"),
        ("steady_rss_mib", "steady RSS MiB"),
        ("peak_rss_mib", "peak RSS MiB"),
    ],
    "S6": [
        ("wall_s", "all applied, s"),
        ("steady_window_s", "steady window s"),
        ("steady_cpu_s_per_min", "steady tool CPU s/min"),
        ("steady_server_cpu_s_per_min", "steady apiserver+etcd CPU s/min"),
        ("steady_reads_per_min", "steady reads/min"),
        ("steady_writes_per_min", "steady writes/min"),
        ("steady_dry_runs_per_min", "steady dry runs/min"),
        ("steady_rss_mib", "steady RSS MiB"),
        ("peak_rss_mib", "peak RSS MiB"),
    ],
    "S7": [
        ("wall_s", "wall s"),
        ("cpu_s", "tool CPU s"),
        ("writes", "writes"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("server_cpu_s", "apiserver+etcd CPU s"),
    ],
    "S5": [
        ("wall_s", "time to correct s"),
        ("writes", "writes (all)"),
        ("object_writes", "writes to objects"),
        ("reads", "reads"),
        ("dry_runs", "dry runs"),
        ("cpu_s", "tool CPU s"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("server_cpu_s", "apiserver+etcd CPU s"),
    ],
}


@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[float, float | None], bool]  # (gitmoor median, flux median or None)
    peer: bool = False  # judged against Flux: n/a when Flux did not run


TARGETS: dict[tuple[str, str], Target] = {
    ("S1", "wall_s"): Target(
        "5x faster than Flux", lambda g, f: f is not None and g * 5 <= f, peer=True
    ),
    ("S2", "tick_writes"): Target("0", lambda g, f: g == 0),
    ("S2", "tick_cpu_s"): Target("< 0.1 s", lambda g, f: g < 0.1),
    ("S2r", "object_writes"): Target("0", lambda g, f: g == 0),
    ("S3", "wall_s"): Target("< 2 s", lambda g, f: g < 2.0),
    ("S4", "steady_rss_mib"): Target("< 150 MiB", lambda g, f: g < 150.0),
    ("S4", "steady_cpu_s_per_min"): Target(
        "below Flux", lambda g, f: f is not None and g < f, peer=True
    ),
    ("S6", "wall_s"): Target(
        "2x faster than Flux", lambda g, f: f is not None and g * 2 <= f, peer=True
    ),
    ("S6", "steady_cpu_s_per_min"): Target(
        "at most half of Flux", lambda g, f: f is not None and g * 2 <= f, peer=True
    ),
    ("S6", "peak_rss_mib"): Target("<= 250 MiB", lambda g, f: g <= 250.0),
    ("S5", "wall_s"): Target("< 1 s", lambda g, f: g < 1.0),
    ("S5", "object_writes"): Target("1", lambda g, f: g == 1),
}


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values))


Results = dict[str, dict[str, list[Run]]]  # scenario -> tool -> runs


def summarise(runs: list[Run]) -> dict[str, Summary]:
    keys = runs[0].metrics().keys()
    return {k: Summary.of([r.metrics()[k] for r in runs]) for k in keys}


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(summary: Summary | None, runs: int) -> str:
    if summary is None:
        return "-"
    if runs == 1 or summary.low == summary.high:
        return _number(summary.median)
    return f"{_number(summary.median)} [{_number(summary.low)}-{_number(summary.high)}]"


def _ratio(g: Summary | None, f: Summary | None) -> str:
    if g is None or f is None:
        return "-"
    if f.median == 0:
        return "-" if g.median == 0 else "inf"
    return f"{g.median / f.median:.2f}"


def _summary(doc: dict[str, Any] | None) -> Summary | None:
    return None if doc is None else Summary(doc["median"], doc["min"], doc["max"])


def table(document: dict[str, Any]) -> str:
    """The Markdown table of a report document (what `to_document` builds, or `-o json` printed)."""
    lines = [
        "| scenario | metric | gitmoor median [min-max] | Flux median [min-max] "
        "| gitmoor/Flux | target (gitmoor) |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, entry in document["scenarios"].items():
        tools = entry["tools"]
        first = True
        for key, label in SHOWN[scenario]:
            g = _summary(tools.get("gitmoor", {}).get("summary", {}).get(key))
            f = _summary(tools.get("flux", {}).get("summary", {}).get(key))
            if g is None and f is None:
                continue
            target = TARGETS.get((scenario, key))
            verdict = ""
            if target is not None and target.peer and f is None:
                verdict = f"{target.text}: n/a"
            elif target is not None and g is not None:
                met = target.met(g.median, f.median if f else None)
                verdict = f"{target.text}: {'met' if met else '**missed**'}"
            name = f"{scenario} {entry['title']}" if first else ""
            first = False
            g_runs = len(tools.get("gitmoor", {}).get("runs", []))
            f_runs = len(tools.get("flux", {}).get("runs", []))
            lines.append(
                f"| {name} | {label} | {_cell(g, g_runs)} | {_cell(f, f_runs)} "
                f"| {_ratio(g, f)} | {verdict} |"
            )
    return "\n".join(lines)


def to_document(
    results: Results, titles: dict[str, str], context: dict[str, Any]
) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for scenario, by_tool in results.items():
        tools: dict[str, Any] = {}
        for tool, runs in by_tool.items():
            if not runs:
                continue
            tools[tool] = {
                "runs": [
                    {**r.metrics(), "requests": r.requests.detail, "watches": r.requests.watches}
                    for r in runs
                ],
                "summary": {
                    k: {"median": s.median, "min": s.low, "max": s.high}
                    for k, s in summarise(runs).items()
                },
            }
        ratios = {}
        if "gitmoor" in tools and "flux" in tools:
            for key in tools["gitmoor"]["summary"]:
                f = tools["flux"]["summary"].get(key, {}).get("median")
                g = tools["gitmoor"]["summary"][key]["median"]
                if f:
                    ratios[key] = g / f
        targets = []
        for (s, key), target in TARGETS.items():
            if s != scenario or "gitmoor" not in tools:
                continue
            g = tools["gitmoor"]["summary"][key]["median"]
            f = tools.get("flux", {}).get("summary", {}).get(key, {}).get("median")
            targets.append({"metric": key, "target": target.text, "met": target.met(g, f)})
        scenarios[scenario] = {
            "title": titles[scenario],
            "tools": tools,
            "ratio_gitmoor_over_flux": ratios,
            "targets": targets,
        }
    return {**context, "scenarios": scenarios}


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)
