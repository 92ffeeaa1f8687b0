"""What `gitmoor images` shows: image repositories, the tag each policy chose, and the last
commit each update automation pushed, read from the resources' status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gitmoor.kube import Kube
from gitmoor.model.api import API_VERSION
from gitmoor.reconcile import conditions as cond


@dataclass(frozen=True)
class RepositoryRow:
    namespace: str
    name: str
    ready: str
    ready_reason: str
    image: str
    tags: int | None
    last_scan: str
    latest_tags: tuple[str, ...]
    created: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "latest_tags": list(self.latest_tags)}


@dataclass(frozen=True)
class PolicyRow:
    namespace: str
    name: str
    ready: str
    ready_reason: str
    repository: str
    policy: str  # "semver ^1.0", "numerical asc", ...
    image: str
    tag: str
    digest: str
    previous: str
    created: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AutomationRow:
    namespace: str
    name: str
    ready: str
    ready_reason: str
    source: str
    branch: str
    path: str
    last_commit: str
    last_push: str
    last_run: str
    created: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ready(obj: dict[str, Any]) -> tuple[str, str, str]:
    ready = cond.get_condition(obj, cond.READY) or {}
    return (
        str(ready.get("status", "Unknown")),
        str(ready.get("reason", "")),
        str(ready.get("message", "")),
    )


def _policy_text(spec: dict[str, Any]) -> str:
    policy = spec.get("policy") or {}
    if "semver" in policy:
        text = f"semver {(policy['semver'] or {}).get('range', '')}"
    elif "numerical" in policy:
        text = f"numerical {(policy['numerical'] or {}).get('order', 'asc')}"
    else:
        text = f"alphabetical {(policy.get('alphabetical') or {}).get('order', 'asc')}"
    pattern = (spec.get("filterTags") or {}).get("pattern")
    return f"{text} of /{pattern}/" if pattern else text


async def image_rows(
    kube: Kube, namespace: str
) -> tuple[list[RepositoryRow], list[PolicyRow], list[AutomationRow]]:
    """The three kinds in `namespace` ("" for all), sorted by namespace and name."""

    def ordered(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(objs, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    repositories = []
    for o in ordered(await kube.list(API_VERSION, "ImageRepository", namespace)):
        meta, spec, status = o["metadata"], o.get("spec") or {}, o.get("status") or {}
        scan = status.get("lastScanResult") or {}
        ready, reason, message = _ready(o)
        repositories.append(
            RepositoryRow(
                meta["namespace"],
                meta["name"],
                ready,
                reason,
                str(spec.get("image", "")),
                scan.get("tagCount"),
                str(scan.get("scanTime", "")),
                tuple(scan.get("latestTags") or ()),
                str(meta.get("creationTimestamp", "")),
                message,
            )
        )
    policies = []
    for o in ordered(await kube.list(API_VERSION, "ImagePolicy", namespace)):
        meta, spec, status = o["metadata"], o.get("spec") or {}, o.get("status") or {}
        latest = status.get("latestRef") or {}
        ref = spec.get("imageRepositoryRef") or {}
        ready, reason, message = _ready(o)
        policies.append(
            PolicyRow(
                meta["namespace"],
                meta["name"],
                ready,
                reason,
                f"{ref.get('namespace') or meta['namespace']}/{ref.get('name', '')}",
                _policy_text(spec),
                str(latest.get("name", "")),
                str(latest.get("tag", "")),
                str(latest.get("digest", "")),
                str((status.get("observedPreviousRef") or {}).get("tag", "")),
                str(meta.get("creationTimestamp", "")),
                message,
            )
        )
    automations = []
    for o in ordered(await kube.list(API_VERSION, "ImageUpdateAutomation", namespace)):
        meta, spec, status = o["metadata"], o.get("spec") or {}, o.get("status") or {}
        git = spec.get("git") or {}
        push = (git.get("push") or {}).get("branch") or (
            ((git.get("checkout") or {}).get("ref") or {}).get("branch", "")
        )
        ready, reason, message = _ready(o)
        automations.append(
            AutomationRow(
                meta["namespace"],
                meta["name"],
                ready,
                reason,
                str((spec.get("sourceRef") or {}).get("name", "")),
                str(push),
                str((spec.get("update") or {}).get("path", "./")),
                str(status.get("lastPushCommit", "")),
                str(status.get("lastPushTime", "")),
                str(status.get("lastAutomationRunTime", "")),
                str(meta.get("creationTimestamp", "")),
                message,
            )
        )
    return repositories, policies, automations
