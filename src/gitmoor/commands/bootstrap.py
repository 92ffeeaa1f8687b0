"""`gitmoor bootstrap`: install gitmoor, point it at a repository path, and wait until the cluster
runs what that path declares.

Every object is written only when a server-side dry run says it differs from what is live, so a
second run with the same arguments writes nothing and says so. The GitSource and Sync it creates
are plain documents that also belong in the repository (`repository_manifests`): once there, the
Sync manages gitmoor itself and the rest of the cluster, and rebuilding a lost cluster is running
bootstrap again.

The bootstrap Sync does not health-gate what it applies (`wait: false`): it applies itself, and
its own status reads Reconciling while it waits, so a gate would wait on itself. Health is still
checked: by the Syncs it applies (each gates its own objects), and by bootstrap, which waits until
every Sync in the bootstrap Sync's inventory is Ready.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitmoor import install, plan
from gitmoor.commands.crds import CONFIG_MANAGER
from gitmoor.errors import GitmoorError
from gitmoor.health import wait_healthy
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.model import (
    Action,
    ChangeSet,
    ObjectChange,
    ObjectRef,
    Verdict,
    inventory,
)
from gitmoor.model.api import API_VERSION, GROUP
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.defaults import BOOTSTRAP_NAME, AgentMode
from gitmoor.model.resources import GitSource, Sync
from gitmoor.reconcile import conditions as cond

PART_OF = "gitmoor"
_POLL = 1.0
_SUSPENDED = "Suspended"

Progress = Callable[[str], None]


class BootstrapError(GitmoorError):
    """Bootstrap could not finish: an object refused, or not Ready in time. `states` is the last
    readiness seen of each GitSource and Sync waited for."""

    def __init__(self, message: str, states: tuple[State, ...] = ()) -> None:
        super().__init__(message)
        self.states = states


class BootstrapSpecError(ValueError):
    """The arguments make an invalid GitSource or Sync; the message names each field."""


@dataclass(frozen=True)
class BootstrapSpec:
    """What bootstrap installs and creates. `credentials` become the Secret `secret_name`; with
    only `secret_name`, an existing Secret is referred to."""

    url: str
    path: str
    branch: str | None = "main"
    name: str = BOOTSTRAP_NAME
    namespace: str = install.DEFAULT_NAMESPACE
    secret_name: str | None = None
    credentials: GitCredentials | None = field(default=None, repr=False)
    interval: str = "1m"
    sync_interval: str = "10m"
    image: str = install.DEFAULT_IMAGE
    ledger_volume: str | None = None
    agent_mode: AgentMode = AgentMode.IN_CLUSTER

    @property
    def secret_ref(self) -> str | None:
        if self.credentials is not None and not self.credentials.is_empty:
            return self.secret_name or f"{self.name}-git-auth"
        return self.secret_name

    def source(self) -> dict[str, Any]:
        """The GitSource document (only the fields set here: stable as defaults evolve)."""
        spec: dict[str, Any] = {"url": self.url, "interval": self.interval}
        if self.branch:
            spec["ref"] = {"branch": self.branch}
        if self.secret_ref:
            spec["secretRef"] = {"name": self.secret_ref}
        return _validated(GitSource, self._doc("GitSource", spec))

    def sync(self) -> dict[str, Any]:
        """The Sync document for `path`, applying whatever the path holds, gitmoor included."""
        spec = {
            "sourceRef": {"name": self.name},
            "path": self.path,
            "interval": self.sync_interval,
            "prune": True,
            # Deleting this one Sync must not take gitmoor, its CRDs and every application
            # with it: what it applied stays.
            "deletionPolicy": "Orphan",
            "wait": False,
        }
        return _validated(Sync, self._doc("Sync", spec))

    def _doc(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": PART_OF},
            },
            "spec": spec,
        }

    def install_manifests(self) -> list[dict[str, Any]]:
        return install.manifests(
            namespace=self.namespace, image=self.image, ledger_volume=self.ledger_volume
        )

    def repository_manifests(self) -> list[dict[str, Any]]:
        """What belongs in the repository at `path` so the cluster manages gitmoor itself: the
        install manifests, the GitSource and the Sync. Never the Secret."""
        return [*self.install_manifests(), self.source(), self.sync()]

    def secret(self) -> dict[str, Any] | None:
        creds = self.credentials
        if creds is None or creds.is_empty or not self.secret_ref:
            return None
        values: dict[str, bytes | None] = {
            "username": creds.username.encode() if creds.username else None,
            "password": creds.password.encode() if creds.password else None,
            "bearerToken": creds.bearer_token.encode() if creds.bearer_token else None,
            "identity": creds.identity,
            "known_hosts": creds.known_hosts,
            "caFile": creds.ca_file,
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.secret_ref,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": PART_OF},
            },
            "type": "Opaque",
            "data": {k: base64.b64encode(v).decode() for k, v in values.items() if v},
        }


def _validated(model: type[GitSource] | type[Sync], doc: dict[str, Any]) -> dict[str, Any]:
    try:
        model.model_validate(doc)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        )
        raise BootstrapSpecError(f"{doc['kind']}: {problems}") from None
    return doc


@dataclass(frozen=True)
class State:
    """Readiness of one GitSource or Sync as last read."""

    kind: str
    namespace: str
    name: str
    ready: bool
    reason: str
    message: str
    revision: str = ""
    stalled: bool = False

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def line(self) -> str:
        if self.reason == _SUSPENDED:
            return f"{self.subject}: suspended, not waited for"
        if self.ready:
            return f"{self.subject}: Ready" + (f" at {self.revision}" if self.revision else "")
        return f"{self.subject}: {self.reason or 'Waiting'}" + (
            f": {self.message}" if self.message else ""
        )


@dataclass(frozen=True)
class BootstrapResult:
    changes: ChangeSet
    revision: str
    states: tuple[State, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes.written)


async def bootstrap(
    kube: Kube, spec: BootstrapSpec, *, timeout: float, progress: Progress = lambda _: None
) -> BootstrapResult:
    """Install, create the Secret, GitSource and Sync, and wait until the Sync and every Sync it
    applies are Ready at the source's revision. Raises BootstrapError when time runs out or a
    Sync is stalled, with the last state of each."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    objects = spec.install_manifests()
    secret = spec.secret()
    resources = [spec.source(), spec.sync()]
    changes: list[ObjectChange] = []

    definitions = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    progress("installing gitmoor's CustomResourceDefinitions")
    for obj in definitions:
        changes.append(await ensure(kube, obj))
    await _wait_objects(kube, definitions, deadline, progress)
    for obj in definitions:
        kube.forget_crd(obj)

    progress(f"installing the agent into namespace {spec.namespace}")
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for obj in [*rest, *([secret] if secret else []), *resources]:
        changes.append(await ensure(kube, obj))

    if spec.agent_mode is AgentMode.IN_CLUSTER:
        agent = [o for o in objects if o["kind"] == "Deployment"]
        progress("waiting for the agent Deployment to be Available")
        await _wait_objects(kube, agent, deadline, progress)
    else:
        progress("agent mode none: not waiting for the agent Deployment; run the agent yourself")
    revision, states = await wait_ready(kube, spec, deadline=deadline, progress=progress)
    return BootstrapResult(ChangeSet(tuple(changes)), revision, states)


async def ensure(kube: Kube, obj: dict[str, Any]) -> ObjectChange:
    """Apply `obj` only when a dry run says it would change what is live."""
    api_version = str(obj["apiVersion"])
    ref = ObjectRef.from_object(obj)
    live = await kube.get(api_version, ref.kind, ref.name, ref.namespace)
    if live is not None:
        result = await kube.apply(obj, field_manager=CONFIG_MANAGER, dry_run=True)
        fields = plan.differs(live, result)
        if not fields:
            return ObjectChange(ref, api_version, Action.UNCHANGED)
        await kube.apply(obj, field_manager=CONFIG_MANAGER)
        # Field paths only: a Secret's values never reach a message.
        return ObjectChange(ref, api_version, Action.CONFIGURED, message=", ".join(fields))
    await kube.apply(obj, field_manager=CONFIG_MANAGER)
    return ObjectChange(ref, api_version, Action.CREATED)


async def _wait_objects(
    kube: Kube, objs: list[dict[str, Any]], deadline: float, progress: Progress
) -> None:
    targets = [(ObjectRef.from_object(o), str(o["apiVersion"])) for o in objs]
    shown: set[str] = set()

    def report(verdict: Verdict) -> None:
        for health in verdict.objects:
            line = f"{health.ref.subject}: {health.status.value}" + (
                f" ({health.message})" if health.message else ""
            )
            if line not in shown:
                shown.add(line)
                progress(line)

    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    verdict = await wait_healthy(kube, targets, timeout=remaining, on_progress=report)
    if not verdict.healthy:
        raise BootstrapError(
            f"not ready in time: {verdict.summary()}; run `gitmoor bootstrap` again with a longer "
            "--timeout, or look at those objects' events (kubectl describe)"
        )


async def wait_ready(
    kube: Kube, spec: BootstrapSpec, *, deadline: float, progress: Progress = lambda _: None
) -> tuple[str, tuple[State, ...]]:
    """Wait until the GitSource has an artifact, the Sync is Ready at its revision, and so is
    every Sync in that Sync's inventory (and in theirs). Returns the revision and the states."""
    loop = asyncio.get_running_loop()
    shown: dict[str, str] = {}
    while True:
        revision, states = await _states(kube, spec)
        for s in states:
            if shown.get(s.subject) != s.line():
                shown[s.subject] = s.line()
                progress(s.line())
        stalled = [s for s in states if s.stalled]
        if stalled:
            raise BootstrapError(
                "stalled (retrying cannot help until the repository or the cluster changes): "
                + "; ".join(s.line() for s in stalled),
                states,
            )
        if states and all(s.ready for s in states):
            return revision, states
        if loop.time() > deadline:
            waiting = [s for s in states if not s.ready]
            hint = (
                " (is the agent running?)"
                if spec.agent_mode is AgentMode.NONE
                or all(s.reason in ("", "Waiting") for s in waiting)
                else ""
            )
            raise BootstrapError(
                "not ready in time" + hint + ": " + "; ".join(s.line() for s in waiting), states
            )
        await asyncio.sleep(_POLL)


async def _states(kube: Kube, spec: BootstrapSpec) -> tuple[str, tuple[State, ...]]:
    source = await kube.get(API_VERSION, "GitSource", spec.name, spec.namespace)
    source_state = _state("GitSource", spec.namespace, spec.name, source)
    revision = source_state.revision if source_state.ready else ""
    states = [source_state]
    seen: set[tuple[str, str]] = set()
    queue = [(spec.namespace, spec.name)]
    while queue:
        namespace, name = queue.pop(0)
        if (namespace, name) in seen:
            continue
        seen.add((namespace, name))
        obj = await kube.get(API_VERSION, "Sync", name, namespace)
        state = _state("Sync", namespace, name, obj)
        if ((obj or {}).get("spec") or {}).get("suspend"):
            # Someone chose to stop it: waiting for it would only time out.
            states.append(State("Sync", namespace, name, True, _SUSPENDED, "", state.revision))
            continue
        ref = ((obj or {}).get("spec") or {}).get("sourceRef") or {}
        same_source = (ref.get("name"), ref.get("namespace") or namespace) == (
            spec.name,
            spec.namespace,
        )
        attempted = str(((obj or {}).get("status") or {}).get("lastAttemptedRevision") or "")
        if state.stalled and same_source and attempted != revision:
            # Stalled on an older revision; the agent has yet to try the source's new one.
            state = State("Sync", namespace, name, False, state.reason, state.message, "")
        if state.ready and same_source and state.revision != revision:
            # Ready, but at an older revision than the source holds: not there yet.
            state = State(
                "Sync",
                namespace,
                name,
                False,
                "Progressing",
                f"at {state.revision or 'no revision'}, the source has {revision or 'none yet'}",
                state.revision,
            )
        states.append(state)
        if state.ready:
            queue.extend(_child_syncs(await stored_inventory.inline(kube, obj or {})))
    return revision, tuple(states)


def _child_syncs(sync: dict[str, Any]) -> list[tuple[str, str]]:
    children = []
    for entry in inventory.decode((sync.get("status") or {}).get("inventory")):
        ref = entry.ref
        if (ref.group, ref.kind) == (GROUP, "Sync"):
            children.append((ref.namespace, ref.name))
    return children


def _state(kind: str, namespace: str, name: str, obj: dict[str, Any] | None) -> State:
    if obj is None:
        return State(kind, namespace, name, False, "NotFound", "")
    status = obj.get("status") or {}
    current = status.get("observedGeneration") == obj["metadata"].get("generation")
    ready = cond.get_condition(obj, cond.READY) or {}
    if kind == "GitSource":
        revision = str((status.get("artifact") or {}).get("revision") or "")
    else:
        revision = str(status.get("lastAppliedRevision") or "")
    if not current:
        return State(kind, namespace, name, False, "Waiting", "not reconciled yet", revision)
    return State(
        kind,
        namespace,
        name,
        ready.get("status") == "True" and (kind != "GitSource" or bool(revision)),
        str(ready.get("reason") or ""),
        str(ready.get("message") or ""),
        revision,
        stalled=cond.is_true(obj, cond.STALLED),
    )
