"""The two tools under test, driven the same way: real processes against the same cluster, one
"source" and one "sync" resource per repository, status read from the cluster.

gitmoor: `python -m gitmoor run` (leader election on, as shipped; one namespace watched).
Flux: source-controller and kustomize-controller out of cluster, with the flags Flux's
"vertical scaling" guide recommends (`--concurrent=10 --requeue-dependency=5s`), a client rate
limit raised to 500 QPS / 1000 burst (gitmoor has no client-side limit, so Flux's default 50 QPS
would measure its throttle rather than its work), artifacts stored and served on loopback, and
no leader election (controller-runtime cannot find a namespace for the Lease out of cluster).
"""

from __future__ import annotations

import abc
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks import procstat
from benchmarks.kubeapi import KubeAPI, Obj
from gitmoor.model.crds import crds as gitmoor_crds
from gitmoor.notify import signature
from testenv import flux
from testenv.gitserver import GitServers
from testenv.ports import free_port

GIT_SECRET = "git-https"  # noqa: S105 - the name of a Secret, not a secret
LOOPBACK = "127.0.0.1"
_STOP_GRACE = 30.0


class ToolError(RuntimeError):
    """A tool's process died or never became ready."""


@dataclass(frozen=True)
class Intervals:
    source: str = "1h"
    sync: str = "1h"


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback http
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def _sum_samples(text: str, metric: str, labels: str = "") -> float:
    """The sum of every sample of `metric` whose label set contains `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
            head, _, value = line.rpartition(" ")
            if labels in head:
                total += float(value)
    return total


class Tool(abc.ABC):
    name: str
    short: str
    source_kind: str
    sync_kind: str
    request_annotation: str

    def __init__(self, kube: KubeAPI, kubeconfig: Path, namespace: str, workdir: Path) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self.procs: list[_Proc] = []
        self._runs = 0

    # -- lifecycle -------------------------------------------------------------------------
    def install(self, servers: GitServers) -> None:
        """CRDs, the control namespace and the Git credentials Secret (once per session)."""
        self.kube.apply_crds(self.crds())
        self.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        )
        ca = servers.ca_path.read_text()
        data = {
            "username": servers.username,
            "password": servers.password,
            "caFile": ca,  # gitmoor's key
            "ca.crt": ca,  # Flux's key
        }
        self.secret(GIT_SECRET, data)

    def secret(self, name: str, data: dict[str, str]) -> None:
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": self.namespace},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
        )

    @abc.abstractmethod
    def crds(self) -> list[Obj]: ...

    @abc.abstractmethod
    def _launch(self, run_dir: Path) -> None: ...

    @abc.abstractmethod
    def ready(self) -> bool: ...

    def start(self, *, timeout: float = 120.0) -> None:
        self._runs += 1
        run_dir = self.workdir / f"{self.short}-{self._runs}"
        run_dir.mkdir(parents=True, exist_ok=True)
        self._launch(run_dir)
        deadline = time.monotonic() + timeout
        while not self.ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise ToolError(f"{self.name} not ready after {timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.1)

    def _spawn(
        self, name: str, argv: list[str], run_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        log = run_dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.procs.append(_Proc(name, popen, log))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.procs = []

    def pids(self) -> list[int]:
        """The tool's processes and their live descendants: gitmoor's render worker is a
        long-lived child whose CPU and memory are the tool's too (short-lived children, once
        waited for, are in their parent's CPU time)."""
        return procstat.with_descendants([p.popen.pid for p in self.procs])

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise ToolError(
                    f"{self.name}: {proc.name} exited with {proc.popen.returncode}\n"
                    + self.log_tail()
                )

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for proc in self.procs:
            text = proc.log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {proc.name} ({proc.log}) ---\n" + "\n".join(text))
        return "\n".join(parts)

    # -- resources -------------------------------------------------------------------------
    def source_spec(self, url: str, interval: str) -> Obj:
        # The same for both tools: GitSource and GitRepository share these fields.
        return {
            "url": url,
            "ref": {"branch": "main"},
            "interval": interval,
            "timeout": "120s",
            "secretRef": {"name": GIT_SECRET},
        }

    @abc.abstractmethod
    def sync_spec(self, source: str, path: str, interval: str, wait: bool) -> Obj: ...

    def create(
        self, name: str, url: str, path: str, intervals: Intervals, *, wait: bool = False
    ) -> None:
        """A source for `url` and a sync of `path` in it, both called `name`."""
        for kind, spec in (
            (self.source_kind, self.source_spec(url, intervals.source)),
            (self.sync_kind, self.sync_spec(name, path, intervals.sync, wait)),
        ):
            self.kube.apply(
                {
                    "apiVersion": self.api_version(kind),
                    "kind": kind,
                    "metadata": {"name": name, "namespace": self.namespace},
                    "spec": spec,
                }
            )

    @abc.abstractmethod
    def api_version(self, kind: str) -> str: ...

    def sync(self, name: str) -> Obj:
        return self.kube.get(self.sync_kind, name, self.namespace) or {}

    def syncs(self) -> list[Obj]:
        return self.kube.list_objects(self.sync_kind, self.namespace)

    @staticmethod
    def applied_revision(obj: Obj) -> str:
        return str((obj.get("status") or {}).get("lastAppliedRevision") or "")

    @staticmethod
    def handled(obj: Obj) -> str:
        return str((obj.get("status") or {}).get("lastHandledReconcileAt") or "")

    def set_interval(self, name: str, interval: str) -> None:
        patch = {"spec": {"interval": interval}}
        self.kube.merge_patch(self.sync_kind, name, self.namespace, patch)

    def observed(self, name: str) -> bool:
        """The sync's status reflects its current spec."""
        obj = self.sync(name)
        generation = obj.get("metadata", {}).get("generation")
        return bool((obj.get("status") or {}).get("observedGeneration") == generation)

    def request_sync(self, name: str, token: str) -> None:
        """What `gitmoor sync` / `flux reconcile kustomization` do: annotate the sync."""
        patch = {"metadata": {"annotations": {self.request_annotation: token}}}
        self.kube.merge_patch(self.sync_kind, name, self.namespace, patch)

    @abc.abstractmethod
    def notify_push(self, name: str, url: str, sha: str) -> None:
        """Tell the tool that `url` has a new commit, the quickest way it offers."""

    @abc.abstractmethod
    def reported_reconcile_seconds(self) -> float:
        """The sum of the durations the tool itself reports for its sync reconciles."""

    def remove_all(self) -> None:
        """Delete every source and sync, finalizers stripped (the tool is stopped by then)."""
        for kind in (self.sync_kind, self.source_kind):
            for obj in self.kube.list_objects(kind, self.namespace):
                name = obj["metadata"]["name"]
                if obj["metadata"].get("finalizers"):
                    self.kube.merge_patch(
                        kind, name, self.namespace, {"metadata": {"finalizers": None}}
                    )
                self.kube.delete(kind, name, self.namespace)


class Gitmoor(Tool):
    name = "gitmoor"
    short = "gm"
    source_kind = "GitSource"
    sync_kind = "Sync"
    request_annotation = "gitmoor.io/reconcile-requested-at"
    WEBHOOK_SECRET = "gitmoor-webhooks"  # noqa: S105 - the name of a Secret, not a secret

    def __init__(
        self,
        kube: KubeAPI,
        kubeconfig: Path,
        namespace: str,
        workdir: Path,
        *,
        concurrency: int = 4,
        profile_dir: Path | None = None,
    ) -> None:
        super().__init__(kube, kubeconfig, namespace, workdir)
        self.concurrency = concurrency
        self.profile_dir = profile_dir
        self.port = 0
        self._hook_key = secrets.token_hex(16)

    def crds(self) -> list[Obj]:
        return gitmoor_crds()

    def install(self, servers: GitServers) -> None:
        super().install(servers)
        self.secret(self.WEBHOOK_SECRET, {"generic": self._hook_key})

    def api_version(self, kind: str) -> str:
        return "gitmoor.io/v1alpha1"

    def _launch(self, run_dir: Path) -> None:
        self.port = free_port()
        python = [sys.executable]
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            out = self.profile_dir / f"gitmoor-{run_dir.name}.prof"
            python += ["-m", "cProfile", "-o", str(out)]
        elif os.environ.get("GITMOOR_MEMTRACE"):
            python += ["-m", "benchmarks.memtrace"]
        argv = [
            *python,
            "-m",
            "gitmoor",
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--watch-namespace",
            self.namespace,
            "--lease-namespace",
            self.namespace,
            "--http-host",
            LOOPBACK,
            "--http-port",
            str(self.port),
            "--cache-dir",
            str(run_dir / "cache"),
            # The ledger stays on, as shipped, but in the run's directory, not the user's.
            "--ledger",
            f"sqlite:///{run_dir / 'ledger.db'}",
            "--concurrency",
            str(self.concurrency),
            "--log-format",
            "json",
        ]
        self._spawn("gitmoor", argv, run_dir)

    def ready(self) -> bool:
        return _http_get(f"http://{LOOPBACK}:{self.port}/readyz")[0] == 200

    def sync_spec(self, source: str, path: str, interval: str, wait: bool) -> Obj:
        return {
            "sourceRef": {"name": source},
            "path": path,
            "interval": interval,
            "retryInterval": "10s",
            "timeout": "10m",
            "prune": True,
            "wait": wait,
        }

    def notify_push(self, name: str, url: str, sha: str) -> None:
        body = json.dumps({"url": url, "ref": "refs/heads/main", "revision": sha}).encode()
        headers = {
            "Content-Type": "application/json",
            signature.DELIVERY_HEADER: secrets.token_hex(8),
            **signature.sign(self._hook_key.encode(), body, timestamp=int(time.time())),
        }
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.port}/hooks/generic", data=body, headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            answer = json.loads(resp.read() or b"{}")
        if resp.status != 202:
            raise ToolError(f"gitmoor webhook answered {resp.status}: {answer}")

    def reported_reconcile_seconds(self) -> float:
        text = _http_get(f"http://{LOOPBACK}:{self.port}/metrics")[1]
        return _sum_samples(text, "gitmoor_sync_reconcile_duration_seconds_sum")


@dataclass
class FluxPorts:
    storage: int = 0
    source_metrics: int = 0
    source_health: int = 0
    kustomize_metrics: int = 0
    kustomize_health: int = 0


FLUX_FLAGS = (
    "--watch-all-namespaces=false",
    "--concurrent=10",
    "--requeue-dependency=5s",
    "--kube-api-qps=500",
    "--kube-api-burst=1000",
    "--log-level=info",
    "--log-encoding=json",
)


class Flux(Tool):
    name = "flux"
    short = "fx"
    source_kind = "GitRepository"
    sync_kind = "Kustomization"
    request_annotation = "reconcile.fluxcd.io/requestedAt"

    def __init__(self, kube: KubeAPI, kubeconfig: Path, namespace: str, workdir: Path) -> None:
        super().__init__(kube, kubeconfig, namespace, workdir)
        self.ports = FluxPorts()

    def crds(self) -> list[Obj]:
        return [yaml.safe_load(p.read_text()) for p in flux.crd_files()]

    def api_version(self, kind: str) -> str:
        return {
            "GitRepository": "source.toolkit.fluxcd.io/v1",
            "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
        }[kind]

    def _launch(self, run_dir: Path) -> None:
        self.ports = FluxPorts(*(free_port() for _ in range(5)))
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "RUNTIME_NAMESPACE": self.namespace,
        }
        # kustomize builds in the temporary directory; keep it inside the run's directory.
        tmp = run_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        (run_dir / "storage").mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmp)
        p = self.ports
        self._spawn(
            "source-controller",
            [
                str(flux.binary(flux.SOURCE_CONTROLLER)),
                *FLUX_FLAGS,
                f"--storage-path={run_dir / 'storage'}",
                f"--storage-addr={LOOPBACK}:{p.storage}",
                f"--storage-adv-addr={LOOPBACK}:{p.storage}",
                f"--metrics-addr={LOOPBACK}:{p.source_metrics}",
                f"--health-addr={LOOPBACK}:{p.source_health}",
            ],
            run_dir,
            env,
        )
        self._spawn(
            "kustomize-controller",
            [
                str(flux.binary(flux.KUSTOMIZE_CONTROLLER)),
                *FLUX_FLAGS,
                f"--metrics-addr={LOOPBACK}:{p.kustomize_metrics}",
                f"--health-addr={LOOPBACK}:{p.kustomize_health}",
            ],
            run_dir,
            env,
        )

    def ready(self) -> bool:
        p = self.ports
        return all(
            _http_get(f"http://{LOOPBACK}:{port}/readyz")[0] == 200
            for port in (p.source_health, p.kustomize_health)
        )

    def sync_spec(self, source: str, path: str, interval: str, wait: bool) -> Obj:
        return {
            "sourceRef": {"kind": "GitRepository", "name": source},
            "path": path,
            "interval": interval,
            "retryInterval": "10s",
            "timeout": "10m",
            "prune": True,
            "wait": wait,
        }

    def notify_push(self, name: str, url: str, sha: str) -> None:
        # What Flux's notification-controller Receiver does on a push: ask the GitRepository
        # to reconcile now. One hop shorter than a real webhook, which favours Flux slightly.
        patch = {"metadata": {"annotations": {self.request_annotation: sha + str(time.time())}}}
        self.kube.merge_patch(self.source_kind, name, self.namespace, patch)

    def reported_reconcile_seconds(self) -> float:
        text = _http_get(f"http://{LOOPBACK}:{self.ports.kustomize_metrics}/metrics")[1]
        return _sum_samples(
            text, "controller_runtime_reconcile_time_seconds_sum", 'controller="kustomization"'
        )


def make_tools(
    names: list[str],
    kube: KubeAPI,
    kubeconfig: Path,
    workdir: Path,
    *,
    gitmoor_concurrency: int,
    profile_dir: Path | None,
) -> list[Tool]:
    made: dict[str, Callable[[], Tool]] = {
        "gitmoor": lambda: Gitmoor(
            kube,
            kubeconfig,
            "bench-gitmoor",
            workdir / "gitmoor",
            concurrency=gitmoor_concurrency,
            profile_dir=profile_dir,
        ),
        "flux": lambda: Flux(kube, kubeconfig, "bench-flux", workdir / "flux"),
    }
    return [made[n]() for n in names]
