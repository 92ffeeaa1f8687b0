"""Drive a real gitmoor agent (in the test's event loop) against the real control plane and Git
servers: one agent per test, watching only the test's namespace, its Lease there too."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gitmoor.cli.agent import (
    forward_image_push,
    forward_push,
    ledger_backend,
    webhook_secrets,
)
from gitmoor.commands.operations import request_reconcile
from gitmoor.commands.run import Readiness, RunOptions, run_agent
from gitmoor.errors import UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model.limits import DEFAULT_LIMITS
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.server.app import bound_port, serve
from gitmoor.server.hooks import CachedSecrets, HookReceiver
from gitmoor.server.ledger_api import LedgerApi
from gitmoor.server.ui import UiApi, for_agent
from testenv.gitserver import GitServers, Repo, Worktree
from testenv.wait import eventually

Obj = dict[str, Any]


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


class AgentHarness:
    def __init__(self, kube: Kube, kubeconfig: Path, namespace: str, workdir: Path) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self._task: asyncio.Task[int] | None = None
        self._stop = asyncio.Event()
        self._server: web.AppRunner | None = None
        self.readiness = Readiness()
        self.http_url = ""
        self.http_host = "127.0.0.1"  # where the HTTP port listens
        # Each test's agent stands for one cluster, with a ledger of its own unless shared.
        self.ledger_url: str | None = f"sqlite:///{workdir / 'ledger.db'}"
        self.cluster = namespace
        self.environment = ""
        self.watch = namespace  # the namespaces the agent watches (comma-separated)
        self.tenancy = Tenancy()
        self.render_limits = DEFAULT_LIMITS
        self.ui: UiApi | None = None  # the web UI, served with the HTTP port

    # -- the agent ---------------------------------------------------------------------------
    async def start(self, *, http: bool = False) -> None:
        """Start the agent; with `http`, also its HTTP port (probes, /metrics, /hooks) on a free
        loopback port, wired exactly as `gitmoor run` wires it."""
        self._stop = asyncio.Event()
        options = RunOptions(
            cache_dir=self.workdir / "agent-cache",
            kubeconfig=self.kubeconfig,
            namespace=self.watch,
            lease_namespace=self.namespace,
            concurrency=4,
            ledger_url=self.ledger_url,
            cluster=self.cluster,
            environment=self.environment,
            tenancy=self.tenancy,
            render_limits=self.render_limits,
        )
        self.readiness = Readiness()
        if http:
            hooks = HookReceiver(
                CachedSecrets(
                    webhook_secrets(self.readiness, "gitmoor-webhooks", self.namespace), ttl=0
                ),
                forward_push(self.readiness),
                on_image_push=forward_image_push(self.readiness),
            )
            ledger_api = LedgerApi(ledger_backend(self.readiness))
            self.ui = for_agent(self.readiness)
            self._server = await serve(
                self.http_host, 0, self.readiness, hooks=hooks, ledger_api=ledger_api, ui=self.ui
            )
            self.http_url = f"http://{self.http_host}:{bound_port(self._server)}"
        self._task = asyncio.create_task(run_agent(options, self._stop, self.readiness))

    async def stop(self) -> int:
        if self._server is not None:
            await self._server.cleanup()
            self._server = None
        if self._task is None:
            return 0
        self._stop.set()
        task, self._task = self._task, None
        return await asyncio.wait_for(task, timeout=60)

    def check_alive(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # raises what killed the agent
            raise AssertionError("the agent stopped on its own")

    # -- repositories ------------------------------------------------------------------------
    def repo(self, servers: GitServers, name: str) -> tuple[Repo, Worktree]:
        repo = servers.create_repo(name)
        tree = Worktree.init(self.workdir / f"{name}-work", remote=repo.file_url)
        return repo, tree

    async def https_secret(
        self, servers: GitServers, name: str, *, password: str | None = None
    ) -> None:
        await self.secret(
            name,
            {
                "username": servers.username,
                "password": password if password is not None else servers.password,
                "caFile": servers.ca_path.read_text(),
            },
        )

    async def ssh_secret(
        self, servers: GitServers, name: str, *, known_hosts: str | None = None
    ) -> None:
        await self.secret(
            name,
            {
                "identity": servers.ssh_key_path.read_text(),
                "known_hosts": known_hosts
                if known_hosts is not None
                else servers.known_hosts_path.read_text(),
            },
        )

    async def secret(self, name: str, data: dict[str, str]) -> None:
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": self.namespace},
                "data": {k: b64(v) for k, v in data.items()},
            },
            field_manager="gitmoor-tests",
        )

    # -- resources ---------------------------------------------------------------------------
    async def source(self, name: str, url: str, **spec: Any) -> Obj:
        body = {"url": url, "interval": "2s", **spec}
        return await self.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "GitSource",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": body,
            },
            field_manager="gitmoor-tests",
        )

    async def sync(self, name: str, source: str, path: str = "./", **spec: Any) -> Obj:
        body = {
            "sourceRef": {"name": source},
            "path": path,
            "interval": "30s",
            "retryInterval": "5s",
            "timeout": "60s",
            **spec,
        }
        return await self.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Sync",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": body,
            },
            field_manager="gitmoor-tests",
        )

    async def get(self, kind: str, name: str) -> Obj | None:
        return await self.kube.get(API_VERSION, kind, name, self.namespace)

    async def events(self, kind: str, name: str) -> list[Obj]:
        """The Events recorded for gitmoor's resource `kind`/`name` in the test namespace."""
        found = await self.kube.list("v1", "Event", self.namespace)
        return [
            e
            for e in found
            if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
        ]

    async def wait_for(
        self,
        kind: str,
        name: str,
        accept: Callable[[Obj], bool],
        *,
        within: float = 90,
        what: str = "",
    ) -> Obj:
        async def probe() -> Obj:
            self.check_alive()
            return await self.get(kind, name) or {}

        return await eventually(probe, accept, within=within, what=what or f"{kind} {name}")

    async def wait_for_object(
        self,
        api_version: str,
        kind: str,
        name: str,
        accept: Callable[[Obj], bool],
        *,
        within: float = 60,
    ) -> Obj:
        """A managed object (not a gitmoor resource) in the test namespace, once it satisfies
        `accept`."""

        async def probe() -> Obj:
            self.check_alive()
            try:
                return await self.kube.get(api_version, kind, name, self.namespace) or {}
            except UnknownKindError:
                return {}  # its CRD is applied by the agent too, maybe not yet

        return await eventually(
            probe, lambda o: bool(o) and accept(o), within=within, what=f"{kind} {name}"
        )

    async def wait_applied(self, name: str, sha: str, *, within: float = 90) -> Obj:
        """The Sync is Ready with its lastAppliedRevision at commit `sha`."""
        return await self.wait_for(
            "Sync",
            name,
            lambda o: (
                str((o.get("status") or {}).get("lastAppliedRevision", "")).endswith(sha)
                and cond.is_true(o, cond.READY)
            ),
            within=within,
            what=f"Sync {name} Ready at {sha[:10]}",
        )

    async def wait_attempted(self, name: str, sha: str, *, within: float = 90) -> Obj:
        """The Sync has attempted commit `sha` (whatever came of it)."""
        return await self.wait_for(
            "Sync",
            name,
            lambda o: attempted(o).endswith(sha),
            within=within,
            what=f"Sync {name} to attempt {sha[:10]}",
        )

    async def wait_condition(
        self,
        kind: str,
        name: str,
        type_: str,
        status: str,
        *,
        reason: str | None = None,
        within: float = 90,
    ) -> Obj:
        def accept(o: Obj) -> bool:
            c = cond.get_condition(o, type_)
            return bool(c and c["status"] == status and (reason is None or c["reason"] == reason))

        return await self.wait_for(
            kind, name, accept, within=within, what=f"{kind} {name} {type_}={status} {reason or ''}"
        )

    async def reconcile_now(self, name: str) -> Obj:
        """Ask for a full reconcile of Sync `name` now, as `gitmoor sync` does (the same kind
        of attempt as the periodic full one), and return the Sync once the agent handled it."""
        token = await request_reconcile(self.kube, "Sync", name, self.namespace)
        return await self.wait_for(
            "Sync",
            name,
            lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == token,
            what=f"Sync {name} to handle the request {token}",
        )

    async def wait_rolled_back(self, name: str, restored: str, *, within: float = 120) -> Obj:
        """The atomic Sync `name` failed a newer revision and restored `restored`, its last
        healthy one: Ready=False RolledBack, lastAppliedRevision back at `restored`."""
        sync = await self.wait_condition(
            "Sync", name, cond.READY, "False", reason="RolledBack", within=within
        )
        assert sync["status"]["lastAppliedRevision"] == restored
        message = str((cond.get_condition(sync, cond.READY) or {}).get("message", ""))
        assert f"restored {restored}" in message, message
        return sync

    async def wait_available(self, deployment: str) -> Obj:
        """Deployment `deployment` of the test namespace Available, and schedulable (no
        nodeSelector: the tests' stuck versions add one that no node matches)."""

        def available(o: Obj) -> bool:
            conditions = (o.get("status") or {}).get("conditions") or []
            up = any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
            return up and "nodeSelector" not in o["spec"]["template"]["spec"]

        return await self.wait_for_object("apps/v1", "Deployment", deployment, available)

    async def resource_version(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> str | None:
        obj = await self.kube.get(
            api_version, kind, name, self.namespace if namespace is None else namespace
        )
        return None if obj is None else str(obj["metadata"]["resourceVersion"])


def attempted(sync: Obj) -> str:
    """The Sync's lastAttemptedRevision, '' before any."""
    return str((sync.get("status") or {}).get("lastAttemptedRevision", ""))
