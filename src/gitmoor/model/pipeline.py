"""The values one reconcile passes from stage to stage (see ARCHITECTURE.md).

source -> Artifact -> render -> Manifests -> plan -> Plan -> apply -> ChangeSet -> health -> Verdict
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from gitmoor.model import labels
from gitmoor.model.refs import ObjectRef


@dataclass(frozen=True)
class Commit:
    """What Git says about the commit a revision points at."""

    sha: str
    author: str
    author_email: str
    time: datetime
    message: str


@dataclass(frozen=True)
class Signature:
    """A signature gitmoor verified before handing a revision out.

    `signed` is `commit` or `tag`, `sha` the object signed; `fingerprint` is the OpenPGP primary
    key's fingerprint (40 hex digits) or the SSH key's (`SHA256:...`); `signer` the key's user id
    or the allowed-signers principal.
    """

    signed: str
    sha: str
    fingerprint: str
    signer: str = ""


@dataclass(frozen=True)
class ChartArtifact:
    """A chart from its repository (a ChartSource), unpacked into `path` (the chart directory).

    `digest` (`sha256:<hex>`) is the archive's; `url` where it was downloaded from (never with
    credentials)."""

    chart: str
    version: str
    digest: str
    url: str
    path: str
    fetched_at: datetime

    @property
    def revision(self) -> str:
        """`podinfo@6.5.1@sha256:<hex>`: what is deployed, as the ledger records it."""
        return f"{self.chart}@{self.version}@{self.digest}"


@dataclass(frozen=True)
class Artifact:
    """A fetched revision, checked out into `path` with the source's ignore rules applied.

    `revision` reads `main@sha1:<hex>` (or `v1.2.0@sha1:<hex>`, or `sha1:<hex>` for an exact
    commit); `digest` (`sha256:<hex>`) covers the content that survived the ignore rules, so two
    revisions with the same files have the same digest. `verified_by` holds the signatures
    checked when the source requires them (`spec.verify`), else nothing.
    """

    url: str
    revision: str
    digest: str
    path: str
    commit: Commit
    fetched_at: datetime
    verified_by: tuple[Signature, ...] = ()
    # Entries of the commit's tree left out as unsafe (symlinks leading out of the checkout,
    # absolute or climbing paths, devices): a Sync whose path holds one is refused.
    refused: tuple[str, ...] = ()
    # A Sync with chartRef: the chart rendered instead of the path (which holds its values).
    chart: ChartArtifact | None = None

    @property
    def signer(self) -> str | None:
        """The fingerprints that vouched for this revision (comma-separated), if any did."""
        return ", ".join(dict.fromkeys(s.fingerprint for s in self.verified_by)) or None


@dataclass(frozen=True, eq=False)
class Manifest:
    """One rendered object and where it came from.

    `source` is the file relative to the rendered path (or `chart/templates/x.yaml` for Helm);
    `line` is the 1-based line of the document's first line in that file, when known.
    """

    obj: dict[str, Any]
    source: str
    line: int | None = None
    # Where a namespaced object without metadata.namespace goes when the Sync sets no
    # targetNamespace: a Helm release's namespace, as `helm install -n` does. None: an error.
    default_namespace: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.from_object(self.obj)

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def where(self) -> str:
        """`file:line` (or just the file) for messages."""
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass(frozen=True)
class Rendered:
    manifests: tuple[Manifest, ...]
    digest: str


class Action(enum.StrEnum):
    """What apply did, or would do, to one object."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"  # prune refused by policy (gitmoor.io/prune: disabled, not ours)
    KEPT = "kept"  # prune held back: a CRD or Namespace still holds what is not ours, or
    # another Sync owns the object now
    TAKEN_OVER = "taken_over"  # written, taking the object over from the Sync that owned it
    FAILED = "failed"


def _canonical(obj: Any) -> bytes:
    # orjson hands back its 4 KiB working buffer; a copy of the exact size is what is kept.
    return bytes(memoryview(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)))


@dataclass(frozen=True, slots=True)
class Applied:
    """An object as gitmoor last applied it, kept as JSON bytes: an agent holds one per managed
    object for as long as it runs, and bytes are a fraction of the size of nested dicts.

    `sent` is the object as sent; `baseline` the fields it sets as the server stored them (what
    drift is measured by). Two manifests are the same when their canonical bytes are.
    """

    api_version: str
    sent: bytes
    baseline: bytes
    ignore_drift: bool = False  # annotated `gitmoor.io/drift: ignore`

    @classmethod
    def of(cls, api_version: str, desired: dict[str, Any], baseline: dict[str, Any]) -> Applied:
        ignore = labels.annotation(desired, labels.DRIFT) == labels.DRIFT_IGNORE
        return cls(api_version, _canonical(desired), _canonical(baseline), ignore)

    def desired(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.sent)
        return value

    def baseline_object(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.baseline)
        return value

    def same_manifest(self, desired: dict[str, Any]) -> bool:
        return _canonical(desired) == self.sent


@dataclass(frozen=True, eq=False)
class PlannedObject:
    """An object of the desired revision and what it takes to bring the live one there.

    `desired` is the manifest as it will be sent (ownership labels added, target namespace set);
    `action` is CREATED when nothing is live, CONFIGURED when the dry run differs from live in a
    field gitmoor manages, UNCHANGED otherwise; `changed` lists the differing field paths.
    """

    manifest: Manifest
    desired: dict[str, Any]
    api_version: str
    action: Action
    live_resource_version: str | None = None
    changed: tuple[str, ...] = ()
    recreate: bool = False  # an immutable field changed and the Sync allows delete + create
    # The fields the manifest sets, as the server would store them: what drift is measured by.
    baseline: dict[str, Any] | None = None
    # Set when the plan carried the object over from the last apply without asking the server.
    applied: Applied | None = None
    # With Action.TAKEN_OVER: from which Sync and why (it released the object, or the
    # gitmoor.io/takeover annotation asks for it).
    takeover: str = ""

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.from_object(self.desired)


@dataclass(frozen=True)
class Phase:
    """Objects applied together, health-gated before the next phase starts.

    `name` is `foundation` (CRDs and Namespaces), or `order-N` for explicit gitmoor.io/order phases
    (the default order is 0). `order` is that N, the wave whose main hooks run with the phase;
    None for the foundation, which is no wave.
    """

    name: str
    objects: tuple[PlannedObject, ...]
    order: int | None = None


@dataclass(frozen=True)
class InventoryEntry:
    """One object a Sync applied: `id` is `<group>_<Kind>_<namespace>_<name>` (Flux-compatible
    form, empty group/namespace left empty), `v` the apiVersion's version."""

    id: str
    v: str

    @classmethod
    def of(cls, ref: ObjectRef, api_version: str) -> InventoryEntry:
        return cls(
            f"{ref.group}_{ref.kind}_{ref.namespace}_{ref.name}", api_version.rpartition("/")[2]
        )

    @property
    def ref(self) -> ObjectRef:
        group, kind, namespace, name = self.id.split("_", 3)
        return ObjectRef(group, kind, namespace, name)

    @property
    def api_version(self) -> str:
        group = self.id.split("_", 1)[0]
        return f"{group}/{self.v}" if group else self.v


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    prune: tuple[InventoryEntry, ...]
    inventory: tuple[InventoryEntry, ...]

    @property
    def objects(self) -> tuple[PlannedObject, ...]:
        return tuple(o for p in self.phases for o in p.objects)


@dataclass(frozen=True)
class ObjectChange:
    ref: ObjectRef
    api_version: str
    action: Action
    resource_version: str | None = None
    message: str = ""
    # Another Sync (`namespace/name`) owns the object now: prune left it to that Sync, and it
    # leaves this Sync's inventory.
    owner: str = ""


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[ObjectChange, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def written(self) -> tuple[ObjectChange, ...]:
        return tuple(
            c
            for c in self.changes
            if c.action in (Action.CREATED, Action.CONFIGURED, Action.TAKEN_OVER, Action.DELETED)
        )

    def summary(self) -> str:
        parts = [f"{self.count(a)} {a.value}" for a in Action if self.count(a)]
        return ", ".join(parts) or "nothing to do"

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.changes + other.changes)


class Status(enum.StrEnum):
    """kstatus-style health of one object."""

    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    UNKNOWN = "Unknown"
    NOT_FOUND = "NotFound"
    TERMINATING = "Terminating"


@dataclass(frozen=True)
class Health:
    ref: ObjectRef
    status: Status
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of waiting on a set of objects."""

    healthy: bool
    timed_out: bool
    objects: tuple[Health, ...] = field(default=())

    @property
    def not_ready(self) -> tuple[Health, ...]:
        return tuple(h for h in self.objects if h.status is not Status.CURRENT)

    def summary(self) -> str:
        if self.healthy:
            return f"{len(self.objects)} objects healthy"
        shown = "; ".join(
            f"{h.ref}: {h.status.value}" + (f" ({h.message})" if h.message else "")
            for h in self.not_ready
        )
        return ("timed out waiting: " if self.timed_out else "unhealthy: ") + shown
