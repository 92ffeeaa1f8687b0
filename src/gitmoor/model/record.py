"""One reconcile attempt as the deployment ledger keeps it, and the images a revision runs.

A Record carries names, refs, revisions, times and counts: never object content. That is what
keeps Secret values out of the ledger by construction: `ObjectAction` holds a ref and an action,
and `images_of` reads only the `image` fields of pod specs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from gitmoor.model.pipeline import Action, ObjectChange
from gitmoor.model.refs import ObjectRef


class Trigger(enum.StrEnum):
    """What started an attempt."""

    INTERVAL = "interval"
    RESOURCE = "resource"  # the GitSource or Sync changed
    DRIFT = "drift"  # a managed object was changed or deleted outside Git
    WEBHOOK = "webhook"
    CLI = "cli"
    STARTUP = "startup"
    ROLLBACK = "rollback"  # `gitmoor rollback`
    CLUSTER = "cluster"  # a Namespace or CRD the revision waited for appeared
    HEALTH = "health"  # what a timed-out health gate waited for turned Current


class Result(enum.StrEnum):
    """How an attempt ended (`in_progress` until it does)."""

    IN_PROGRESS = "in_progress"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"  # failed, then the last healthy revision was restored
    INTERRUPTED = "interrupted"  # the agent stopped (crashed) before the attempt finished


@dataclass(frozen=True)
class ObjectAction:
    """One object of a revision and what the attempt did to it: a ref, never content."""

    ref: ObjectRef
    api_version: str
    action: Action

    @classmethod
    def of(cls, change: ObjectChange) -> ObjectAction:
        return cls(change.ref, change.api_version, change.action)


_TIMES = ("commit_time", "started_at", "applied_at", "healthy_at", "finished_at")


@dataclass(frozen=True)
class Record:
    """One reconcile attempt that changed, or tried to change, the cluster.

    Identity of the sync is (`cluster`, `sync_namespace`, `sync_name`); `environment` is the
    Sync's ledger label. `revision` reads `main@sha1:<hex>`, `commit_message` is the subject line.
    Times are timezone-aware and kept in UTC (naive datetimes are refused); those not reached
    stay None. `objects` lists every object of the revision with its action; `images` are the
    container images of the manifests the attempt left running: the revision's own when
    `result` is `applied` (or `failed`), those of the restored revision `rolled_back_to` when
    `rolled_back`. `signer` holds the fingerprint(s) of the key(s) whose signatures were
    verified before the revision was handed out (GitSource `spec.verify`), None when none were
    required. `id` is set by the ledger.
    """

    sync_namespace: str
    sync_name: str
    environment: str
    cluster: str
    source_url: str
    revision: str
    trigger: Trigger
    started_at: datetime
    commit_sha: str = ""
    commit_author: str = ""
    commit_time: datetime | None = None
    commit_message: str = ""
    applied_at: datetime | None = None
    healthy_at: datetime | None = None
    finished_at: datetime | None = None
    result: Result = Result.IN_PROGRESS
    reason: str = ""
    message: str = ""
    created: int = 0
    configured: int = 0
    deleted: int = 0
    unchanged: int = 0
    objects: tuple[ObjectAction, ...] = ()
    images: tuple[str, ...] = ()
    rolled_back_to: str | None = None
    signer: str | None = None
    # Identical attempts this record stands for: a revision failing the same way at each retry.
    attempts: int = 1
    # The digest of the objects the attempt left running (model.content): equal across
    # revisions that changed nothing of this Sync.
    content: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        for name in _TIMES:
            value: datetime | None = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"Record.{name} must be timezone-aware, got {value!r}")
            # Frozen: normalising to UTC in place is the one write a Record ever gets.
            object.__setattr__(self, name, value.astimezone(UTC))
        object.__setattr__(self, "trigger", Trigger(self.trigger))
        object.__setattr__(self, "result", Result(self.result))
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "images", tuple(self.images))

    @property
    def sync(self) -> str:
        """`namespace/name` of the Sync."""
        return f"{self.sync_namespace}/{self.sync_name}"

    @property
    def deployed_revision(self) -> str | None:
        """The revision running once this attempt ended, when the attempt decided it.

        `applied` -> `revision`; `rolled_back` -> `rolled_back_to`; any other result leaves the
        running revision to earlier records (None). A drift correction deploys nothing: it puts
        back what an earlier record deployed (None).
        """
        if self.trigger is Trigger.DRIFT:
            return None
        if self.result is Result.APPLIED:
            return self.revision
        if self.result is Result.ROLLED_BACK:
            return self.rolled_back_to
        return None

    @property
    def deployed_at(self) -> datetime | None:
        """When `deployed_revision` became the running one: `applied_at` for an applied attempt
        (the moment its objects were written), `finished_at` for a rollback (the moment the
        restored revision was back). Falls back to the later times that exist; None when the
        attempt deployed nothing."""
        if self.trigger is Trigger.DRIFT:
            return None
        if self.result is Result.APPLIED:
            return self.applied_at or self.finished_at or self.started_at
        if self.result is Result.ROLLED_BACK and self.rolled_back_to:
            return self.finished_at or self.applied_at or self.started_at
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601, objects as flat dicts, plus `deployed_revision` and
        `deployed_at`."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "objects":
                value = [
                    {
                        "group": o.ref.group,
                        "kind": o.ref.kind,
                        "namespace": o.ref.namespace,
                        "name": o.ref.name,
                        "api_version": o.api_version,
                        "action": o.action.value,
                    }
                    for o in self.objects
                ]
            elif f.name == "images":
                value = list(self.images)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            data[f.name] = value
        deployed_at = self.deployed_at
        data["deployed_revision"] = self.deployed_revision
        data["deployed_at"] = deployed_at.isoformat() if deployed_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """The Record `as_dict` gave (as the agent's ledger API sends it); the derived
        `deployed_*` keys are recomputed, not read. Raises ValueError (or KeyError/TypeError)
        when `data` is not one."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        values["objects"] = tuple(
            ObjectAction(
                ObjectRef(o["group"], o["kind"], o["namespace"], o["name"]),
                o["api_version"],
                Action(o["action"]),
            )
            for o in values.get("objects") or ()
        )
        values["images"] = tuple(values.get("images") or ())
        return cls(**values)


def sha_of(revision: str) -> str:
    """The commit hash in `main@sha1:<hex>` (or `sha1:<hex>`), or "" when there is none."""
    _, sep, digest = revision.rpartition("sha1:")
    return digest if sep else ""


def short_revision(revision: str | None) -> str:
    """A revision in a few characters, for a narrow column (`kubectl get`'s REVISION, the
    status table): a commit's first 12 hex digits; a chart's `name@version` (its archive
    digest left out); a chart with values from Git as both, the commit cut to 7 digits.
    Anything else (an unknown shape) as it is."""
    if not revision:
        return ""
    parts = [p for p in revision.split(";") if p]
    short = []
    for part in parts:
        sha = sha_of(part)
        if sha:
            short.append(sha[: 7 if len(parts) > 1 else 12])
        elif "@sha256:" in part:
            short.append(part.split("@sha256:", 1)[0])
        else:
            short.append(part)
    return ",".join(short)


_POD_SPEC_PATHS: tuple[tuple[str, ...], ...] = (
    ("spec", "template", "spec"),  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, ...
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
    ("template", "spec"),  # PodTemplate
)
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def images_of(obj: dict[str, Any]) -> list[str]:
    """Container images of an object that has a pod spec or a pod template, in order, each once.

    Reads only `image` fields of containers, init containers and ephemeral containers; any other
    object (a ConfigMap, a Secret) yields nothing.
    """
    specs: list[Any] = [_dig(obj, path) for path in _POD_SPEC_PATHS]
    if obj.get("kind") == "Pod":
        specs.insert(0, obj.get("spec"))
    found: dict[str, None] = {}
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        for key in _CONTAINER_LISTS:
            containers = spec.get(key)
            if not isinstance(containers, list):
                continue
            for container in containers:
                image = container.get("image") if isinstance(container, dict) else None
                if isinstance(image, str) and image.strip():
                    found.setdefault(image.strip(), None)
    return list(found)


def images_in(objects: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """Every container image of a set of objects, sorted, each once: what `Record.images` holds."""
    return tuple(sorted({image for obj in objects for image in images_of(obj)}))
