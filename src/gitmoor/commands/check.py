"""`gitmoor check` and `gitmoor install --wait`: is gitmoor installed and running as it should?

Each check is a verdict (ok, failed, or could not be checked) with what was seen and, when it
did not pass, what to do. The verdicts are pure functions of what was read (`*_verdict`);
`run_checks` reads the cluster, `wait_agent` polls until the agent is available and leading.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitmoor import __version__
from gitmoor.errors import ConnectionFailedError, GitmoorError, KubeApiError
from gitmoor.health import compute
from gitmoor.install import manifests
from gitmoor.install.manifests import STRICT_ARGS
from gitmoor.kube import Kube
from gitmoor.model import Status
from gitmoor.model.api import GROUP
from gitmoor.model.crds import crds
from gitmoor.model.defaults import NAME, STRICT
from gitmoor.reconcile.shards import GROUP_LABEL, REPLICA_GROUP

LEASE = "gitmoor-leader"  # the agent's default --lease-name
_LEASE_API = "coordination.k8s.io/v1"
_CRD_API = "apiextensions.k8s.io/v1"
_SAR_API = "authorization.k8s.io/v1"
_DEFAULT_LEASE_SECONDS = 15.0


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "FAILED"
    UNCHECKED = "unchecked"  # could not be checked: not a pass


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.name,
            "result": self.outcome.value,
            "detail": self.detail,
            "hint": self.hint,
        }


def _ok(name: str, detail: str) -> Check:
    return Check(name, Outcome.OK, detail)


def _failed(name: str, detail: str, hint: str) -> Check:
    return Check(name, Outcome.FAILED, detail, hint)


# -- verdicts (pure) -------------------------------------------------------------------------


def cluster_verdict(version: str | None, problem: str = "") -> Check:
    if version is None:
        return _failed(
            "cluster", problem or "not reachable", "check --kubeconfig/--context and the network"
        )
    return _ok("cluster", f"reachable, Kubernetes {version}")


def first_difference(expected: Any, live: Any, path: str = "") -> str | None:
    """Where `live` first differs from `expected` (a field path), or None when they agree."""
    if isinstance(expected, dict) and isinstance(live, dict):
        for key in sorted(set(expected) | set(live)):
            if key not in live:
                return f"{path}.{key}: missing" if path else f"{key}: missing"
            if key not in expected:
                return f"{path}.{key}: not expected" if path else f"{key}: not expected"
            found = first_difference(expected[key], live[key], f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(live, list):
        if len(expected) != len(live):
            return f"{path}: {len(live)} items, expected {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, live, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if expected == live else f"{path}: differs"


def _crd_difference(expected: dict[str, Any], live: dict[str, Any]) -> str | None:
    """How an installed CRD differs from the one this CLI generates, in what matters: its
    group, names, scope, and each version's serving, schema, subresources and columns."""
    want, have = expected["spec"], live.get("spec") or {}
    for key in ("group", "scope"):
        if want.get(key) != have.get(key):
            return f"spec.{key} is {have.get(key)!r}, expected {want.get(key)!r}"
    if want["names"]["kind"] != (have.get("names") or {}).get("kind"):
        return "spec.names.kind differs"
    served = {v["name"]: v for v in have.get("versions") or []}
    for version in want["versions"]:
        name = version["name"]
        if name not in served:
            return f"version {name} is not served"
        for key in ("served", "storage", "schema", "subresources", "additionalPrinterColumns"):
            found = first_difference(version.get(key), served[name].get(key), f"{name} {key}")
            if found:
                # `v1alpha1 schema spec.wait`, not `...openAPIV3Schema.properties.spec...`
                return found.replace("openAPIV3Schema.", "").replace("properties.", "")
    return None


def crd_verdict(expected: list[dict[str, Any]], live: dict[str, dict[str, Any] | None]) -> Check:
    """`live` by CRD name (None: not installed)."""
    names = [c["metadata"]["name"] for c in expected]
    missing = [n for n in names if live.get(n) is None]
    if missing:
        if len(missing) == 1:
            shown = missing[0]
        elif len(missing) == len(names):
            # Every one: a count keeps the line within 80 columns.
            shown = f"all {len(names)} ({GROUP})"
        else:
            shown = ", ".join(n.split(".", 1)[0] for n in missing) + f" ({GROUP})"
        return _failed("CRDs", f"{shown} not installed", "gitmoor install")
    for crd in expected:
        name = crd["metadata"]["name"]
        obj = live[name]
        assert obj is not None
        difference = _crd_difference(crd, obj)
        if difference:
            return _failed(
                "CRDs",
                f"{name} is not gitmoor {__version__}'s: {difference}",
                "gitmoor install",
            )
        if compute(obj).status is not Status.CURRENT:
            return _failed("CRDs", f"{name} is not established", f"kubectl describe crd {name}")
    return _ok("CRDs", f"all {len(names)} ({GROUP}) as gitmoor {__version__} expects")


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str
    namespace: str = ""  # "" cluster-wide

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {what}{where}"


def needed_permissions(namespace: str, *, strict: bool, sharded: bool = False) -> list[Permission]:
    """What the agent's ServiceAccount must be allowed, read from the RBAC `install` writes:
    its ClusterRole (cluster-wide) and its Role (in its namespace). What it may apply (the
    `gitmoor-apply` binding, which the README invites to narrow) is not required. Sharded
    replicas also list, watch and delete Leases."""
    needed: list[Permission] = []
    objects = manifests(
        namespace=namespace,
        tenancy=STRICT if strict else "cluster-admin",
        replicas=2 if sharded else 1,
        ledger_secret="ledger" if sharded else None,  # only its RBAC is read here
    )
    # Only the roles bound to the agent's ServiceAccount: others (gitmoor-ledger-reader) are
    # installed for people.
    bound = {
        (obj["roleRef"]["kind"], obj["roleRef"]["name"])
        for obj in objects
        if obj["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and any(
            (s.get("kind"), s.get("name"), s.get("namespace", namespace))
            == ("ServiceAccount", NAME, namespace)
            for s in obj.get("subjects") or []
        )
    }
    for obj in objects:
        if obj["kind"] not in ("ClusterRole", "Role"):
            continue
        if (obj["kind"], obj["metadata"]["name"]) not in bound:
            continue
        where = namespace if obj["kind"] == "Role" else ""
        for rule in obj["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    needed.extend(Permission(v, group, resource, where) for v in rule["verbs"])
    return needed


def rbac_verdict(subject: str, answers: dict[Permission, bool | None]) -> Check:
    """`answers`: allowed or not per permission; None when the caller may not ask."""
    if any(a is None for a in answers.values()):
        return Check(
            "RBAC",
            Outcome.UNCHECKED,
            f"could not check {subject}: you may not create SubjectAccessReviews",
            "ask a cluster admin to run gitmoor check",
        )
    denied = [str(p) for p, allowed in answers.items() if not allowed]
    if denied:
        more = f" (and {len(denied) - 3} more)" if len(denied) > 3 else ""
        return _failed(
            "RBAC",
            f"{subject} may not {', '.join(denied[:3])}{more}",
            "gitmoor install",
        )
    # `ServiceAccount ns/name` -> `ns/name`: the line fits 80 columns.
    who = subject.rpartition(" ")[2]
    return _ok("RBAC", f"{who} may do all it needs ({len(answers)} checked)")


def deployment_verdict(obj: dict[str, Any] | None, namespace: str) -> Check:
    if obj is None:
        return _failed(
            "agent",
            f"Deployment {namespace}/{NAME} not found",
            f"gitmoor install -n {namespace}",
        )
    health = compute(obj)
    if health.status is not Status.CURRENT:
        return _failed(
            "agent",
            f"Deployment {namespace}/{NAME} not available: {health.message or health.status}",
            f"kubectl -n {namespace} describe deployment {NAME}",
        )
    status = obj.get("status") or {}
    ready = f"{status.get('readyReplicas') or 0}/{(obj.get('spec') or {}).get('replicas', 1)}"
    return _ok("agent", f"Deployment {namespace}/{NAME} available ({ready} ready)")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lease_verdict(lease: dict[str, Any] | None, namespace: str, now: datetime) -> Check:
    """A leader holds the Lease and renewed it within its duration."""
    logs = f"kubectl -n {namespace} logs deployment/{NAME}"
    if lease is None:
        return _failed("leader", f"no agent has led yet: no Lease {namespace}/{LEASE}", logs)
    spec = lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    if not holder:
        return _failed("leader", f"no agent holds Lease {namespace}/{LEASE}", logs)
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or _DEFAULT_LEASE_SECONDS)
    if renewed is None:
        return _failed("leader", f"{holder} holds Lease {namespace}/{LEASE}, never renewed", logs)
    ago = (now - renewed).total_seconds()
    if ago > duration:
        return _failed(
            "leader",
            f"{holder} last renewed Lease {namespace}/{LEASE} {ago:.0f}s ago (lease: "
            f"{duration:.0f}s): it is gone or cut off",
            logs,
        )
    return _ok("leader", f"{holder} leads, renewed {max(ago, 0):.0f}s ago")


def replicas_verdict(leases: list[dict[str, Any]], namespace: str, now: datetime) -> Check:
    """Replicas sharing the Syncs (`--sharded`): at least one holds its Lease, renewed within
    its duration."""
    logs = f"kubectl -n {namespace} logs deployment/{NAME}"
    live: list[str] = []
    for lease in leases:
        spec = lease.get("spec") or {}
        renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
        duration = float(spec.get("leaseDurationSeconds") or _DEFAULT_LEASE_SECONDS)
        if spec.get("holderIdentity") and renewed and (now - renewed).total_seconds() <= duration:
            live.append(str(spec["holderIdentity"]))
    if not live:
        return _failed(
            "leader",
            f"no agent replica holds a Lease in {namespace} ({GROUP_LABEL}={REPLICA_GROUP})",
            logs,
        )
    return _ok("leader", f"{len(live)} replica(s) share the Syncs: {', '.join(sorted(live))}")


def _sharded(deployment: dict[str, Any] | None) -> bool:
    containers = (
        (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    ).get("containers") or []
    return any("--sharded" in (c.get("args") or []) for c in containers)


async def _leadership(
    kube: Kube, namespace: str, deployment: dict[str, Any] | None, now: datetime
) -> Check:
    if _sharded(deployment):
        leases = await kube.list(
            _LEASE_API, "Lease", namespace, label_selector=f"{GROUP_LABEL}={REPLICA_GROUP}"
        )
        return replicas_verdict(leases, namespace, now)
    lease = await kube.get(_LEASE_API, "Lease", LEASE, namespace)
    return lease_verdict(lease, namespace, now)


# -- reading ---------------------------------------------------------------------------------


async def run_checks(
    kube: Kube, namespace: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> list[Check]:
    """Every check, in order; when the cluster cannot be reached, that one alone."""
    try:
        version = await kube.server_version()
    except (ConnectionFailedError, KubeApiError) as problem:
        return [cluster_verdict(None, str(problem))]
    checks = [cluster_verdict(version)]
    expected = crds()
    live = {
        c["metadata"]["name"]: await kube.get(
            _CRD_API, "CustomResourceDefinition", c["metadata"]["name"]
        )
        for c in expected
    }
    checks.append(crd_verdict(expected, live))
    deployment = await kube.get("apps/v1", "Deployment", NAME, namespace)
    checks.append(await _rbac(kube, namespace, deployment))
    checks.append(deployment_verdict(deployment, namespace))
    checks.append(await _leadership(kube, namespace, deployment, now()))
    return checks


def _strict(deployment: dict[str, Any] | None) -> bool:
    containers = (
        (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    ).get("containers") or []
    args = [a for c in containers for a in c.get("args") or []]
    return all(a in args for a in STRICT_ARGS)


async def _rbac(kube: Kube, namespace: str, deployment: dict[str, Any] | None) -> Check:
    """SubjectAccessReviews for the agent's ServiceAccount (the caller's own rights, which a
    SelfSubjectAccessReview would tell, say nothing about the agent's)."""
    user = f"system:serviceaccount:{namespace}:{NAME}"
    subject = f"ServiceAccount {namespace}/{NAME}"
    groups = [
        "system:serviceaccounts",
        f"system:serviceaccounts:{namespace}",
        "system:authenticated",
    ]
    needed = needed_permissions(namespace, strict=_strict(deployment), sharded=_sharded(deployment))
    limit = asyncio.Semaphore(8)

    async def ask(permission: Permission) -> bool | None:
        resource, _, subresource = permission.resource.partition("/")
        attributes = {
            "verb": permission.verb,
            "group": permission.group,
            "resource": resource,
            "subresource": subresource,
            "namespace": permission.namespace,
        }
        review = {
            "apiVersion": _SAR_API,
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
        }
        try:
            async with limit:
                answer = await kube.create(review)
        except KubeApiError as problem:
            if problem.status in (401, 403):
                return None
            raise
        return bool((answer.get("status") or {}).get("allowed"))

    try:
        answers = await asyncio.gather(*(ask(p) for p in needed))
    except GitmoorError as problem:
        return Check("RBAC", Outcome.UNCHECKED, f"could not check {subject}: {problem}")
    return rbac_verdict(subject, dict(zip(needed, answers, strict=True)))


async def agent_checks(kube: Kube, namespace: str) -> list[Check]:
    """The agent's Deployment and its leadership, as `install --wait` waits for them."""
    deployment = await kube.get("apps/v1", "Deployment", NAME, namespace)
    return [
        deployment_verdict(deployment, namespace),
        await _leadership(kube, namespace, deployment, datetime.now(UTC)),
    ]


class AgentNotReadyError(GitmoorError):
    """The agent did not become available and leading in time; `checks` say what is missing."""

    def __init__(self, message: str, checks: list[Check]) -> None:
        super().__init__(message)
        self.checks = checks


async def wait_agent(
    kube: Kube,
    namespace: str,
    *,
    timeout: float,
    progress: Callable[[str], None] = lambda _: None,
    poll: float = 1.0,
) -> list[Check]:
    """Poll until the agent's Deployment is available and an agent leads; report each change
    of what is seen. Raises AgentNotReadyError naming what is missing when time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    shown: dict[str, str] = {}
    while True:
        checks = await agent_checks(kube, namespace)
        for check in checks:
            line = f"{check.name}: {check.detail}"
            if shown.get(check.name) != line:
                shown[check.name] = line
                progress(line)
        if all(c.ok for c in checks):
            return checks
        if loop.time() > deadline:
            missing = [c for c in checks if not c.ok]
            raise AgentNotReadyError(
                "the agent is not ready: " + "; ".join(f"{c.detail} ({c.hint})" for c in missing),
                missing,
            )
        await asyncio.sleep(poll)
