"""`gitmoor run`: connect, install what --config needs, win leadership, reconcile until told
to stop."""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from gitmoor import memory, render
from gitmoor.commands.cluster import connect
from gitmoor.commands.crds import CONFIG_MANAGER, install_crds
from gitmoor.errors import GitmoorError, KubeApiError, UnknownKindError
from gitmoor.health import Overrides
from gitmoor.kube import Kube
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.model.config import Resource, to_document
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.reconcile.agent import Agent, AgentOptions
from gitmoor.reconcile.cache import OnChange
from gitmoor.reconcile.leader import LeaderElector
from gitmoor.reconcile.membership import Membership
from gitmoor.reconcile.memory import Key
from gitmoor.reconcile.shards import REPLICA_GROUP, SINGLETONS, Standing
from gitmoor.reconcile.snapshots import KEY_FIELD, KEY_SECRET, new_key
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources.sweep import DEFAULT_KEEP

log = structlog.get_logger("gitmoor.run")

_TRIM_EVERY = 30.0  # seconds between handing freed heap memory back to the system
_CHORE_RETRY = 300.0  # seconds before a replica that does not own the chores looks again


@dataclass
class RunOptions:
    cache_dir: Path
    kubeconfig: Path | None = None
    context: str | None = None
    resources: tuple[Resource, ...] = ()
    namespace: str = ""
    concurrency: int = 4
    leader_election: bool = True
    lease_namespace: str = "gitmoor-system"
    lease_name: str = "gitmoor-leader"
    # Several replicas share the Syncs, each announcing itself with a Lease of this group.
    sharded: bool = False
    replica_group: str = REPLICA_GROUP
    lease_duration: float = 15.0  # seconds
    lease_renew: float = 2.0  # seconds
    identity: str = ""
    ledger_url: str | None = None  # None: no ledger
    ledger_retention: float | None = None  # seconds; records older than this are pruned
    cluster: str = "default"
    environment: str = ""
    tenancy: Tenancy = field(default_factory=Tenancy)
    render_limits: Limits = DEFAULT_LIMITS
    health_rules: Overrides = field(default_factory=dict)  # --health-rules, for every Sync
    file_roots: tuple[Path, ...] | None = None  # file:// sources below these (None: anywhere)
    spool_dir: Path | None = None  # where records wait while the ledger is away
    cache_keep: float = DEFAULT_KEEP  # --cache-keep: seconds an unused chart or artifact stays


async def ensure_namespace(kube: Kube, name: str) -> None:
    if await kube.get("v1", "Namespace", name) is None:
        await kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            field_manager=CONFIG_MANAGER,
        )


async def apply_config(kube: Kube, resources: tuple[Resource, ...]) -> None:
    """The documents of --config become resources in the cluster, exactly as if applied with
    kubectl: from then on the agent runs the same way in and out of the cluster."""
    await install_crds(kube)
    for namespace in sorted({r.metadata.namespace for r in resources}):
        await ensure_namespace(kube, namespace)
    for resource in resources:
        doc: dict[str, Any] = to_document(resource)
        await kube.apply(doc, field_manager=CONFIG_MANAGER)
        log.info(
            "applied",
            object=f"{resource.kind}/{resource.metadata.namespace}/{resource.metadata.name}",
        )


@dataclass
class Readiness:
    """What /readyz reports: the agent leads and its caches are synced. It also hands on what
    the active agent's cache stores or drops to `listeners` (the UI's live updates)."""

    agent: Agent | None = None
    listeners: list[OnChange] = field(default_factory=list)

    def __call__(self) -> bool:
        return self.agent is not None and self.agent.synced.is_set()

    def changed(self, key: Key) -> None:
        for listener in self.listeners:
            listener(key)


async def run_agent(
    options: RunOptions, stop: asyncio.Event, readiness: Readiness | None = None
) -> int:
    """Run until `stop`; returns the process exit code. Losing leadership (a rival, or an API
    server outage longer than the lease) cancels everything in flight at once and waits to
    lead again: the agent never exits for it."""
    kube = await connect(options.kubeconfig, options.context)
    async with kube:
        if options.resources:
            await apply_config(kube, options.resources)
        else:
            try:
                await kube.resource_for("gitmoor.io/v1alpha1", "Sync")
            except UnknownKindError:
                raise GitmoorError(
                    "gitmoor's CRDs are not installed: run `gitmoor install --crds-only` (or pass "
                    "--config)"
                ) from None
        elector: LeaderElector | Membership | None = None
        identity = options.identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        if options.sharded:
            # Each replica holds a Lease of its own and works only its share of the keys.
            elector = Membership(
                kube,
                namespace=options.lease_namespace,
                group=options.replica_group,
                identity=identity,
                duration=options.lease_duration,
                renew=options.lease_renew,
            )
        elif options.leader_election:
            elector = LeaderElector(
                kube,
                namespace=options.lease_namespace,
                name=options.lease_name,
                identity=identity,
                duration=options.lease_duration,
                renew=options.lease_renew,
            )
        if elector is not None:
            # Out of the cluster on a fresh one, nothing has made the Lease's namespace yet.
            await ensure_namespace(kube, options.lease_namespace)
            # No write leaves this process unless the lease is surely held (and, sharded,
            # unless what it is written for is this replica's).
            kube.fence(elector.check)
        ledger: Ledger | None = None
        unopened = False

        async def open_ledger() -> Ledger:
            assert options.ledger_url is not None
            # Sharded, the attempts left in progress are not all of stopped agents: another
            # replica may be running them, so none is marked interrupted here.
            cluster = None if options.sharded else options.cluster
            return await Ledger.open(options.ledger_url, cluster=cluster)

        tasks = [asyncio.create_task(_trim())]
        # The render worker starts while the agent connects and waits for its lease.
        await asyncio.to_thread(render.warm_up, options.render_limits)
        try:
            while not stop.is_set():
                if elector is not None and not await elector.acquire(stop):
                    break
                if ledger is None and options.ledger_url and not unopened:
                    # Opened once leading: the attempts this cluster's agent left in progress
                    # when it stopped (or crashed) are marked interrupted here, never lost.
                    try:
                        ledger = await open_ledger()
                    except LedgerError as err:
                        # Deploys go on; records wait in the spool until it opens.
                        log.error(
                            "ledger unavailable at start; records are spooled", error=str(err)
                        )
                        unopened = True
                    else:
                        chores = _retain(ledger, options.ledger_retention, _singleton(elector))
                        tasks.append(asyncio.create_task(chores))
                key = await snapshot_key(kube, options.lease_namespace)
                reopen = open_ledger if unopened else None
                if not await _lead(kube, options, ledger, elector, stop, readiness, key, reopen):
                    break
                # An API server outage or a rival: everything in flight was cancelled; wait
                # for the lease again and start afresh from the cluster's state.
                log.warning("leadership lost; waiting to lead again")
        finally:
            for task in tasks:
                task.cancel()
            if ledger is not None:
                await ledger.close()
            if elector is not None:
                await elector.release()
        log.info("stopped")
        return 0


async def _lead(
    kube: Kube,
    options: RunOptions,
    ledger: Ledger | None,
    elector: LeaderElector | Membership | None,
    stop: asyncio.Event,
    readiness: Readiness | None,
    key: bytes,
    reopen: Callable[[], Awaitable[Ledger]] | None = None,
) -> bool:
    """Reconcile while leading; True when leadership was lost (rather than `stop` set)."""
    agent = Agent(
        kube,
        AgentOptions(
            cache_dir=options.cache_dir,
            concurrency=options.concurrency,
            namespace=options.namespace,
            ledger=ledger,
            cluster=options.cluster,
            environment=options.environment,
            tenancy=options.tenancy,
            snapshot_key=key,
            open_ledger=reopen,
            render_limits=options.render_limits,
            health_rules=options.health_rules,
            file_roots=options.file_roots,
            spool_dir=options.spool_dir,
            on_change=readiness.changed if readiness is not None else None,
            cache_keep=options.cache_keep,
        ),
        membership=elector if isinstance(elector, Membership) else None,
    )
    if isinstance(elector, Membership):
        elector.on_change = agent.reshard
    if readiness is not None:
        readiness.agent = agent
    done = asyncio.Event()
    lost = asyncio.Event()

    async def keep() -> None:
        if elector is not None:
            await elector.keep()
            lost.set()
            done.set()

    async def forward_stop() -> None:
        await stop.wait()
        done.set()

    helpers = [asyncio.create_task(keep()), asyncio.create_task(forward_stop())]
    try:
        await agent.run(done, abort=lost)
    finally:
        for task in helpers:
            task.cancel()
        if isinstance(elector, Membership):
            elector.on_change = None
        if readiness is not None and readiness.agent is agent:
            readiness.agent = None
    return lost.is_set() and not stop.is_set()


async def snapshot_key(kube: Kube, namespace: str) -> bytes:
    """The key that seals rollback snapshots, kept in a Secret of the agent's namespace so a
    restarted agent (or its successor) can still open them; created on first use."""
    secret = await kube.get("v1", "Secret", KEY_SECRET, namespace)
    if secret is None:
        try:
            secret = await kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": KEY_SECRET, "namespace": namespace},
                    "type": "Opaque",
                    "data": {KEY_FIELD: base64.b64encode(new_key()).decode()},
                }
            )
        except KubeApiError as err:
            if err.status != 409:
                raise
            secret = await kube.get("v1", "Secret", KEY_SECRET, namespace)  # a rival made it
    key = base64.b64decode(((secret or {}).get("data") or {}).get(KEY_FIELD, ""))
    if len(key) != 32:
        raise GitmoorError(
            f"Secret {namespace}/{KEY_SECRET} holds no 32-byte `{KEY_FIELD}`: delete it to have "
            "a new one made (rollback snapshots sealed with the old key are then dropped)"
        )
    return key


def _singleton(elector: LeaderElector | Membership | None) -> Callable[[], bool]:
    """Whether this agent does the once-per-cluster chores now: always when it is the only
    one (it runs them only while leading); sharded, when it owns `shards.SINGLETONS`."""
    if not isinstance(elector, Membership):
        return lambda: True
    return lambda: elector.standing(SINGLETONS) is Standing.MINE


async def _retain(ledger: Ledger, retention: float | None, mine: Callable[[], bool]) -> None:
    if not retention:
        return
    while True:
        if not mine():
            # Another replica's chore; look again later (ownership may move here).
            await asyncio.sleep(_CHORE_RETRY)
            continue
        try:
            pruned = await ledger.prune(older_than=timedelta(seconds=retention))
            if pruned:
                log.info("ledger pruned", records=pruned)
        except GitmoorError as err:
            log.warning("ledger retention failed", error=str(err))
        await asyncio.sleep(6 * 3600)


async def _trim() -> None:
    # Cheap (milliseconds) and harmless when nothing was freed.
    while True:
        await asyncio.sleep(_TRIM_EVERY)
        # Render workers left idle by a burst go first, so their memory goes too.
        await asyncio.to_thread(render.reap)
        memory.release()
