"""What every scenario needs: the cluster, the Git servers, repositories, waiting, measuring a
run, and cleaning up after it."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import apimetrics, procstat
from benchmarks.apimetrics import Requests
from benchmarks.kubeapi import KubeAPI
from benchmarks.tools import Tool
from testenv.gitserver import GitServers, Worktree

# Trailing writes of a finished reconcile (an Event, a last status patch) still belong to it.
SETTLE = 1.0
_POLL = 0.05
MIB = 1024.0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    """One measured run of one tool: wall time, the tool's CPU and memory, its API requests."""

    wall: float
    cpu: float
    rss_mib: float
    peak_rss_mib: float
    requests: Requests
    reported: float  # reconcile seconds the tool itself reports for the run
    server_cpu: float | None = None  # kube-apiserver + etcd, when we run the control plane
    extra: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        return {
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "reported_s": self.reported,
            "reads": float(self.requests.reads),
            "writes": float(self.requests.writes),
            "object_writes": float(self.requests.object_writes),
            "dry_runs": float(self.requests.dry_runs),
            "rss_mib": self.rss_mib,
            "peak_rss_mib": self.peak_rss_mib,
            **({} if self.server_cpu is None else {"server_cpu_s": self.server_cpu}),
            **self.extra,
        }


@dataclass
class Repository:
    name: str
    url: str
    tree: Worktree
    sha: str = ""


class Session:
    def __init__(
        self, kube: KubeAPI, servers: GitServers, workdir: Path, server_pids: list[int]
    ) -> None:
        self.kube = kube
        self.server_pids = server_pids
        self.servers = servers
        self.workdir = workdir
        self.repos: dict[str, Repository] = {}

    # -- repositories ------------------------------------------------------------------------
    def repository(self, name: str, files: dict[str, str]) -> Repository:
        """A new repository on the HTTPS server holding `files` in one pushed commit."""
        repo = self.servers.create_repo(name)
        tree = Worktree.init(self.workdir / "worktrees" / name, remote=repo.file_url)
        tree.commit("the benchmark's revision", files)
        return Repository(name, repo.https_url, tree, tree.push())

    @staticmethod
    def push(repo: Repository, files: dict[str, str], message: str) -> str:
        repo.tree.commit(message, files)
        repo.sha = repo.tree.push()
        return repo.sha

    # -- waiting -------------------------------------------------------------------------------
    def wait(
        self, tool: Tool, what: str, done: Callable[[], bool], *, timeout: float = 900.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            tool.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tool.name}: {what} not done after {timeout:.0f}s")
            time.sleep(_POLL)

    def wait_applied(self, tool: Tool, name: str, sha: str, *, timeout: float = 900.0) -> None:
        self.wait(
            tool,
            f"{tool.sync_kind} {name} applied at {sha[:10]}",
            lambda: tool.applied_revision(tool.sync(name)).endswith(sha),
            timeout=timeout,
        )

    def wait_all_applied(
        self, tool: Tool, shas: dict[str, str], *, timeout: float = 1800.0
    ) -> None:
        def done() -> bool:
            applied = {o["metadata"]["name"]: tool.applied_revision(o) for o in tool.syncs()}
            return all(applied.get(name, "").endswith(sha) for name, sha in shas.items())

        self.wait(tool, f"{len(shas)} syncs applied", done, timeout=timeout)

    # -- measuring -------------------------------------------------------------------------------
    def measure(self, tool: Tool, action: Callable[[], None]) -> Run:
        """Run `action` (which returns when the scenario's end condition holds) between two
        scrapes of the apiserver's metrics and of the tool's processes."""
        own_before = Counter(self.kube.counts)
        before = apimetrics.parse(self.kube.metrics_text())
        usage_before = procstat.usage(tool.pids())
        server_before = procstat.usage(self.server_pids).cpu
        reported_before = tool.reported_reconcile_seconds()
        started = time.monotonic()
        action()
        wall = time.monotonic() - started
        time.sleep(SETTLE)
        tool.check_alive()
        after = apimetrics.parse(self.kube.metrics_text())
        usage_after = procstat.usage(tool.pids())
        server_cpu = procstat.usage(self.server_pids).cpu - server_before
        reported = tool.reported_reconcile_seconds() - reported_before
        own = Counter(self.kube.counts)
        own.subtract(own_before)
        return Run(
            wall=wall,
            cpu=usage_after.cpu - usage_before.cpu,
            rss_mib=usage_after.rss / MIB,
            peak_rss_mib=usage_after.peak_rss / MIB,
            requests=apimetrics.account(before, after, own),
            reported=reported,
            server_cpu=server_cpu if self.server_pids else None,
        )

    # -- cleaning up -----------------------------------------------------------------------------
    def clean(self, tool: Tool, namespaces: list[str], *, timeout: float = 900.0) -> None:
        """Stop the tool, delete its resources and the namespaces it filled, and wait until the
        namespaces are gone, so the next run starts on a quiet control plane."""
        tool.stop()
        tool.remove_all()
        for ns in namespaces:
            self.kube.delete("Namespace", ns)
        deadline = time.monotonic() + timeout
        for ns in namespaces:
            while self.kube.get("Namespace", ns) is not None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"namespace {ns} still there after {timeout:.0f}s")
                time.sleep(0.5)
