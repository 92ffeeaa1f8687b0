"""`python -m benchmarks`: run the scenarios on gitmoor and on Flux and print the table.

Starts the local control plane (testenv.cluster) unless --kubeconfig names a cluster, and the
loopback Git servers (testenv.gitserver) either way; builds Flux's controllers first if they
are not cached (testenv.flux). Progress goes to stderr, the table (or JSON) to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.kubeapi import KubeAPI
from benchmarks.scenarios import SCENARIOS, TITLES, Params
from benchmarks.session import Run, Session, say
from benchmarks.tools import make_tools
from testenv import flux, versions
from testenv.cluster import ControlPlane
from testenv.gitserver import GitServers

_PARAM_FLAGS: dict[str, type] = {
    "runs": int,
    "namespaces": int,
    "s1_objects": int,
    "s4_sources": int,
    "s4_objects": int,
    "s4_window": float,
    "s4_source_interval": str,
    "s4_sync_interval": str,
    "s6_sources": int,
    "s6_objects": int,
    "s6_window": float,
    "s6_source_interval": str,
    "s6_sync_interval": str,
    "s5_objects": int,
    "s5_interval": str,
    "s7_objects": int,
    "s2_interval": str,
    "s2_window": float,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (admin rights)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--scenarios", default="S1,S2,S3,S4,S5,S6", help="comma-separated (default: all)"
    )
    parser.add_argument("--tools", default="gitmoor,flux", help="comma-separated")
    defaults = Params()
    for name, kind in _PARAM_FLAGS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"default {getattr(defaults, name)} ({getattr(Params.quick(), name)} quick)",
        )
    parser.add_argument(
        "--wait", action="store_true", help="syncs health-gate what they apply (both tools)"
    )
    parser.add_argument("--gitmoor-concurrency", type=int, default=4)
    parser.add_argument(
        "--profile-gitmoor", type=Path, help="run the agent under cProfile, one file per start"
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument(
        "--from-json", type=Path, help="only print the table of a saved `-o json` report"
    )
    return parser


def _params(args: argparse.Namespace) -> Params:
    base = Params.quick() if args.quick else Params()
    given = {k: getattr(args, k) for k in _PARAM_FLAGS if getattr(args, k) is not None}
    return dataclasses.replace(base, wait=args.wait, **given)


def _machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_mib": mem,
        "python": platform.python_version(),
    }


def _stop_on_sigterm() -> None:
    # The default SIGTERM kills Python without unwinding: the control plane, the Git servers
    # and the tools would outlive us. Turned into SystemExit, the ExitStack stops them all.
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _gitmoor_commit() -> str:
    """The commit measured, `+dirty` when src/ has changes (read-only git calls)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    return head + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def _render(document: dict[str, Any]) -> str:
    before, after = document.get("load_average_before"), document.get("load_average_after")
    failed = document.get("failed") or []
    footer = f"{document.get('machine', {}).get('cpus', '?')} CPUs"
    if before and after:
        footer += f", load average {before[1]:.1f} before and {after[1]:.1f} after (5 min)"
    if failed:
        footer += f"; failed: {', '.join(failed)}"
    return report.table(document) + "\n\n" + footer


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.from_json is not None:
        print(_render(json.loads(args.from_json.read_text())))
        return 0
    _stop_on_sigterm()
    params = _params(args)
    chosen = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    tool_names = [t.strip() for t in args.tools.split(",") if t.strip()]
    if unknown or any(t not in ("gitmoor", "flux") for t in tool_names):
        print(f"unknown scenario or tool: {unknown or tool_names}", file=sys.stderr)
        return 2
    if "flux" in tool_names:
        flux.ensure_built()
    tag = "b" + secrets.token_hex(2)
    with ExitStack() as stack:
        if args.workdir is not None:
            # One fresh directory per invocation: Git servers and tools must not meet the
            # sockets and caches of an earlier run.
            workdir = args.workdir.resolve() / tag
            workdir.mkdir(parents=True)
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="gitmoor-bench-"))
            )
        server_pids: list[int] = []
        if args.kubeconfig is not None:
            kubeconfig = args.kubeconfig.resolve()
        else:
            plane = ControlPlane(workdir / "cluster", nodes=1)
            say("starting the local control plane")
            state = plane.start()
            stack.callback(plane.stop)
            kubeconfig = plane.kubeconfig
            server_pids = [p.pid for p in state.processes if p.name in ("kube-apiserver", "etcd")]
        servers = GitServers(workdir / "git")
        servers.start()
        stack.callback(servers.stop)
        kube = KubeAPI(kubeconfig)
        stack.callback(kube.close)
        tools = make_tools(
            tool_names,
            kube,
            kubeconfig,
            workdir,
            gitmoor_concurrency=args.gitmoor_concurrency,
            profile_dir=args.profile_gitmoor,
        )
        for tool in tools:
            stack.callback(tool.stop)
            tool.install(servers)
        session = Session(kube, servers, workdir, server_pids)
        results: dict[str, dict[str, list[Run]]] = {}
        failed: list[str] = []
        started = time.monotonic()
        load_before = os.getloadavg()
        for scenario in chosen:
            title, run = SCENARIOS[scenario]
            say(f"{scenario} {title}")
            try:
                results.update(run(session, tools, params, tag))
            except Exception as err:
                say(f"{scenario} failed: {err}")
                failed.append(scenario)
        load_after = os.getloadavg()
        say(f"all scenarios done in {time.monotonic() - started:.0f}s")
    context = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": _machine(),
        "params": dataclasses.asdict(params),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "failed": failed,
        "versions": {
            "gitmoor": _gitmoor_commit(),
            "kubernetes": versions.KUBERNETES,
            "source-controller": flux.SOURCE_CONTROLLER.version,
            "kustomize-controller": flux.KUSTOMIZE_CONTROLLER.version,
        },
    }
    document = report.to_document(results, TITLES, context)
    print(report.to_json(document) if args.output == "json" else _render(document))
    return 1 if failed else 0
