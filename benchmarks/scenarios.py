"""The five scenarios of issue 7, each run on every tool with the same parameters and content.

Runs alternate between the tools wherever the scenario allows it (S1, S2, S3): on a shared
machine the load of other processes drifts over minutes, and alternating spreads that drift
over both tools instead of charging it to whichever ran second.

S1 cold apply  -- a new source and sync for a revision of `s1_objects` objects; from creating
                  them to the sync reporting the revision applied (clone included). Fresh tool
                  processes per run.
S2 no-op       -- the same revision again, nothing changed, in two ways:
                  S2 at the sync's interval (`s2_interval`, observed over `s2_window`): what each
                  interval costs, scaled to one interval;
                  S2r on request (`gitmoor sync` / `flux reconcile ks`): from the request to the
                  sync acknowledging it, a full re-plan in both tools.
S3 one change  -- one ConfigMap changed by a commit; from the push (then gitmoor's generic
                  webhook, or for Flux the GitRepository annotation its webhook Receiver sets) to
                  the sync reporting the new revision.
S4 scale       -- `s4_sources` sources and syncs of `s4_objects` objects each: the time until
                  all are applied, then a steady window: CPU, requests and memory per minute.
                  The window spans at least two of the longer interval (`steady_window`).
S6 many syncs  -- S4's shape at platform size (issue 20): `s6_sources` (1,000) sources and syncs
                  of `s6_objects` (20) objects each, every source on a repository of its own.
S5 drift       -- one managed ConfigMap edited out of band among `s5_objects`: the time until the
                  tool restores it, and its writes. gitmoor watches what it manages; Flux
                  corrects drift at its Kustomization interval. Both get the same `s5_interval`.
S7 one big Sync -- S1 with `s7_objects` (50,000) objects in one Sync: the inventory and every
                  status write must fit the API server's request limit (issue 11).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import content
from benchmarks.content import Layout
from benchmarks.session import Repository, Run, Session, say
from benchmarks.tools import Intervals, Tool
from gitmoor.model.durations import parse_duration

PATH = "deploy"
# Lets the start-up aftermath (a second reconcile, Events) pass before measuring.
_QUIET = 3.0


@dataclass(frozen=True)
class Params:
    runs: int = 5
    namespaces: int = 10
    s1_objects: int = 1000
    s4_sources: int = 100
    s4_objects: int = 100
    s4_window: float = 300.0
    s4_source_interval: str = "1m"
    s4_sync_interval: str = "5m"
    s6_sources: int = 1000
    s6_objects: int = 20
    s6_window: float = 300.0
    s6_source_interval: str = "1m"
    s6_sync_interval: str = "5m"
    s5_objects: int = 10_000
    s7_objects: int = 50_000
    s5_interval: str = "1m"
    s2_interval: str = "20s"
    s2_window: float = 60.0
    wait: bool = False

    @classmethod
    def quick(cls) -> Params:
        return cls(
            runs=1,
            namespaces=2,
            s1_objects=100,
            s4_sources=5,
            s4_objects=20,
            s4_window=10.0,
            s4_source_interval="5s",
            s4_sync_interval="10s",
            s6_sources=20,
            s6_objects=5,
            s6_window=10.0,
            s6_source_interval="5s",
            s6_sync_interval="10s",
            s5_objects=200,
            s7_objects=2_000,
            s5_interval="5s",
            s2_interval="5s",
            s2_window=10.0,
        )


Results = dict[str, list[Run]]  # tool name -> runs
# A scenario function returns the results of one or more scenario ids (S2 gives S2 and S2r).
Scenario = Callable[[Session, list[Tool], Params, str], dict[str, Results]]


def _unit(tool: Tool, scenario: str, tag: str, suffix: str = "") -> str:
    return f"{tag}-{scenario}-{tool.short}{suffix}"


def s1_cold_apply(
    session: Session, tools: list[Tool], params: Params, tag: str
) -> dict[str, Results]:
    return {"S1": _cold_apply(session, tools, params, tag, "S1", params.s1_objects)}


def s7_one_big_sync(
    session: Session, tools: list[Tool], params: Params, tag: str
) -> dict[str, Results]:
    return {"S7": _cold_apply(session, tools, params, tag, "S7", params.s7_objects)}


def _cold_apply(
    session: Session, tools: list[Tool], params: Params, tag: str, scenario: str, objects: int
) -> Results:
    results: Results = {t.name: [] for t in tools}
    for index in range(params.runs):
        for tool in tools:
            name = _unit(tool, scenario.lower(), tag, str(index))
            layout = Layout(name, params.namespaces, objects)
            repo = session.repository(name, content.files(layout, root=PATH))
            tool.start()
            try:

                def act(tool: Tool = tool, name: str = name, repo: Repository = repo) -> None:
                    tool.create(name, repo.url, f"./{PATH}", Intervals(), wait=params.wait)
                    session.wait_applied(tool, name, repo.sha)

                run = session.measure(tool, act)
            finally:
                session.clean(tool, layout.all_namespaces)
            say(f"{scenario} {tool.name} run {index + 1}: {run.wall:.2f}s")
            results[tool.name].append(run)
    return results


@dataclass
class _Setup:
    tool: Tool
    name: str
    layout: Layout
    repo: Repository


def _set_up(
    session: Session,
    tools: list[Tool],
    params: Params,
    tag: str,
    scenario: str,
    objects: int,
    intervals: Intervals,
    setups: list[_Setup],
) -> None:
    """Start each tool on its own fresh repository and wait until the revision is applied;
    `setups` collects them as they start, for the caller to tear down whatever happens."""
    for tool in tools:
        name = _unit(tool, scenario, tag)
        layout = Layout(name, params.namespaces, objects)
        repo = session.repository(name, content.files(layout, root=PATH))
        setups.append(_Setup(tool, name, layout, repo))
        tool.start()
        started = time.monotonic()
        tool.create(name, repo.url, f"./{PATH}", intervals, wait=params.wait)
        session.wait_applied(tool, name, repo.sha, timeout=3600)
        say(
            f"{scenario} {tool.name}: set up {objects} objects in {time.monotonic() - started:.1f}s"
        )
    time.sleep(_QUIET)


def _tear_down(session: Session, setups: list[_Setup]) -> None:
    for s in setups:
        session.clean(s.tool, s.layout.all_namespaces)


def s2_noop(session: Session, tools: list[Tool], params: Params, tag: str) -> dict[str, Results]:
    asked: Results = {t.name: [] for t in tools}
    ticks: Results = {}
    setups: list[_Setup] = []
    try:
        _set_up(session, tools, params, tag, "s2", params.s1_objects, Intervals(), setups)
        for index in range(params.runs):
            for s in setups:
                run = _ask(session, s)
                say(
                    f"S2r {s.tool.name} run {index + 1}: {run.wall:.2f}s, "
                    f"{run.requests.writes} writes"
                )
                asked[s.tool.name].append(run)
        # One tool at a time: the other one stays at a 1h interval, idle.
        for s in setups:
            ticks[s.tool.name] = [_interval_window(session, s, params)]
    finally:
        _tear_down(session, setups)
    return {"S2": ticks, "S2r": asked}


def _ask(session: Session, s: _Setup) -> Run:
    token = f"bench-{secrets.token_hex(6)}"

    def act() -> None:
        s.tool.request_sync(s.name, token)
        session.wait(
            s.tool,
            f"{s.name} handling {token}",
            lambda: s.tool.handled(s.tool.sync(s.name)) == token,
        )

    return session.measure(s.tool, act)


def _interval_window(session: Session, s: _Setup, params: Params) -> Run:
    """The sync at a short interval, watched for a window; every figure scaled to one interval."""
    s.tool.set_interval(s.name, params.s2_interval)
    # The spec change itself makes both tools reconcile once: let that pass.
    session.wait(s.tool, f"{s.name} observing its new spec", lambda: s.tool.observed(s.name))
    time.sleep(_QUIET)
    interval = parse_duration(params.s2_interval)
    window = max(params.s2_window, 2 * interval)
    run = session.measure(s.tool, lambda: time.sleep(window))
    s.tool.set_interval(s.name, "1h")
    scale = interval / run.wall
    run.extra = {
        "tick_reported_s": run.reported * scale,
        "tick_cpu_s": run.cpu * scale,
        "tick_reads": run.requests.reads * scale,
        "tick_writes": run.requests.writes * scale,
        "tick_object_writes": run.requests.object_writes * scale,
        "tick_dry_runs": run.requests.dry_runs * scale,
    }
    if run.server_cpu is not None:
        run.extra["tick_server_cpu_s"] = run.server_cpu * scale
    say(
        f"S2 {s.tool.name}: per {params.s2_interval} interval {run.cpu * scale:.2f} CPU s, "
        f"{run.requests.dry_runs * scale:.0f} dry runs, {run.requests.writes * scale:.1f} writes"
    )
    return run


def s3_one_change(
    session: Session, tools: list[Tool], params: Params, tag: str
) -> dict[str, Results]:
    results: Results = {t.name: [] for t in tools}
    setups: list[_Setup] = []
    try:
        _set_up(session, tools, params, tag, "s3", params.s1_objects, Intervals(), setups)
        for index in range(params.runs):
            for s in setups:
                files = content.files(s.layout, marker=str(index + 1), root=PATH)
                sha = session.push(s.repo, files, f"change {index + 1}")

                def act(s: _Setup = s, sha: str = sha) -> None:
                    s.tool.notify_push(s.name, s.repo.url, sha)
                    session.wait_applied(s.tool, s.name, sha)

                run = session.measure(s.tool, act)
                say(f"S3 {s.tool.name} run {index + 1}: {run.wall:.2f}s")
                results[s.tool.name].append(run)
    finally:
        _tear_down(session, setups)
    return {"S3": results}


def s4_scale(session: Session, tools: list[Tool], params: Params, tag: str) -> dict[str, Results]:
    shape = _Scale(
        "S4",
        params.s4_sources,
        params.s4_objects,
        Intervals(source=params.s4_source_interval, sync=params.s4_sync_interval),
        params.s4_window,
    )
    return {"S4": {tool.name: [_scale_one(session, tool, params, tag, shape)] for tool in tools}}


def s6_many_syncs(
    session: Session, tools: list[Tool], params: Params, tag: str
) -> dict[str, Results]:
    shape = _Scale(
        "S6",
        params.s6_sources,
        params.s6_objects,
        Intervals(source=params.s6_source_interval, sync=params.s6_sync_interval),
        params.s6_window,
    )
    return {"S6": {tool.name: [_scale_one(session, tool, params, tag, shape)] for tool in tools}}


@dataclass(frozen=True)
class _Scale:
    """S4 and S6: `sources` sources and syncs of `objects` objects each, one namespace each."""

    scenario: str
    sources: int
    objects: int
    intervals: Intervals
    window: float  # at least; see `steady_window`


def steady_window(window: float, intervals: Intervals) -> float:
    """The steady window: as asked, but over at least two of the longer interval, so each
    tool's periodic work (source checks, full re-plans) falls inside it at least twice."""
    longest = max(parse_duration(intervals.source), parse_duration(intervals.sync))
    return max(window, 2 * longest)


def _scale_one(session: Session, tool: Tool, params: Params, tag: str, shape: _Scale) -> Run:
    name = shape.scenario
    layouts = [
        Layout(_unit(tool, name.lower(), tag, f"{i:04d}"), 1, shape.objects)
        for i in range(shape.sources)
    ]
    repos = {
        layout.prefix: session.repository(layout.prefix, content.files(layout, root=PATH))
        for layout in layouts
    }
    namespaces = [ns for layout in layouts for ns in layout.all_namespaces]
    window = steady_window(shape.window, shape.intervals)
    tool.start()
    try:

        def converge() -> None:
            for unit, repo in repos.items():
                tool.create(unit, repo.url, f"./{PATH}", shape.intervals, wait=params.wait)
            session.wait_all_applied(tool, {unit: repo.sha for unit, repo in repos.items()})

        converged = session.measure(tool, converge)
        say(f"{name} {tool.name}: {len(repos)} syncs applied in {converged.wall:.1f}s")
        steady = session.measure(tool, lambda: time.sleep(window))
    finally:
        session.clean(tool, namespaces)
    per_minute = 60.0 / steady.wall
    converged.extra = {
        "steady_window_s": steady.wall,
        "steady_cpu_s_per_min": steady.cpu * per_minute,
        "steady_reads_per_min": steady.requests.reads * per_minute,
        "steady_writes_per_min": steady.requests.writes * per_minute,
        "steady_dry_runs_per_min": steady.requests.dry_runs * per_minute,
        "steady_rss_mib": steady.rss_mib,
    }
    if steady.server_cpu is not None:
        converged.extra["steady_server_cpu_s_per_min"] = steady.server_cpu * per_minute
    converged.peak_rss_mib = steady.peak_rss_mib
    say(
        f"{name} {tool.name}: steady {steady.cpu * per_minute:.1f} CPU s/min over "
        f"{steady.wall:.0f}s, {steady.rss_mib:.0f} MiB"
    )
    return converged


def s5_drift(session: Session, tools: list[Tool], params: Params, tag: str) -> dict[str, Results]:
    # One tool at a time: a tool reconciling 10,000 objects every interval would load the
    # machine while the other one is measured.
    return {"S5": {tool.name: _s5_one(session, tool, params, tag) for tool in tools}}


def _s5_one(session: Session, tool: Tool, params: Params, tag: str) -> list[Run]:
    setups: list[_Setup] = []
    runs = []
    try:
        interval = Intervals(sync=params.s5_interval)
        _set_up(session, [tool], params, tag, "s5", params.s5_objects, interval, setups)
        ns, cm = setups[0].layout.marked
        pause = random.Random(5)  # noqa: S311 - the same pauses for every tool, not a secret
        for index in range(params.runs):
            # Edits at a random phase of the interval: right after a correction, an
            # interval-driven tool would always need a whole interval.
            time.sleep(pause.uniform(0, parse_duration(params.s5_interval)))

            def act(index: int = index) -> None:
                session.kube.merge_patch(
                    "ConfigMap",
                    cm,
                    ns,
                    {"data": {"revision": f"drifted-{index}"}},
                    manager="kubectl-edit",
                )
                session.wait(
                    tool,
                    f"ConfigMap {ns}/{cm} restored",
                    lambda: _data(session, ns, cm).get("revision") == "0",
                    timeout=3600,
                )

            run = session.measure(tool, act)
            say(
                f"S5 {tool.name} run {index + 1}: {run.wall:.2f}s, "
                f"{run.requests.object_writes} object writes"
            )
            runs.append(run)
    finally:
        _tear_down(session, setups)
    return runs


def _data(session: Session, namespace: str, name: str) -> dict[str, str]:
    obj = session.kube.get("ConfigMap", name, namespace) or {}
    return dict(obj.get("data") or {})


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "S1": ("cold apply", s1_cold_apply),
    "S2": ("no-op", s2_noop),
    "S3": ("one change", s3_one_change),
    "S4": ("scale", s4_scale),
    "S5": ("drift", s5_drift),
    "S6": ("many syncs", s6_many_syncs),
    "S7": ("one big Sync", s7_one_big_sync),
}
TITLES = {
    "S1": "cold apply",
    "S2": "no-op, at the interval",
    "S2r": "no-op, on request",
    "S3": "one change",
    "S4": "scale",
    "S5": "drift",
    "S6": "1,000 Syncs",
    "S7": "one Sync of 50,000 objects",
}
