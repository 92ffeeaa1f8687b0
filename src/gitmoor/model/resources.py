"""The gitmoor.io/v1alpha1 resources (GitSource, ChartSource, OCISource, Sync) as validated models.

These models are the single definition: the CRDs' openAPIV3Schema is generated from them
(`gitmoor.model.crds`), and `gitmoor run --config FILE` loads the same documents through them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from gitmoor.model.api import API_VERSION
from gitmoor.model.cel import CelError, compile_expr
from gitmoor.model.durations import parse_duration
from gitmoor.model.names import DNS_LABEL, DNS_SUBDOMAIN
from gitmoor.model.notifications import NotificationSink

_DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)")


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, Field(pattern=_DURATION), AfterValidator(_duration)]


Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --- shared -------------------------------------------------------------------------------------


class ObjectMeta(BaseModel):
    """The part of metadata gitmoor reads; the rest is kept as is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    name: Name
    namespace: NamespaceName = "default"
    generation: int | None = None
    resource_version: str | None = None
    uid: str | None = None


class Condition(_Model):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class LocalObjectReference(_Model):
    name: Name


# --- GitSource ----------------------------------------------------------------------------------


class GitRef(_Model):
    """Which revision to follow: at most one of branch, tag, semver, commit.

    With none set, the remote's default branch (its HEAD) is followed.
    """

    branch: str | None = Field(default=None, min_length=1)
    tag: str | None = Field(default=None, min_length=1)
    semver: str | None = Field(
        default=None,
        min_length=1,
        description="A range over tags, e.g. '>=1.2.0 <2.0.0' or '~1.4'.",
    )
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")

    @model_validator(mode="after")
    def _one_kind(self) -> GitRef:
        chosen = [k for k in ("branch", "tag", "semver", "commit") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(
                f"ref takes one of branch, tag, semver, commit; got {', '.join(chosen)}"
            )
        return self


VerifyMode = Literal["head", "tag", "tagAndHead"]


class GitVerification(_Model):
    """Which signatures a revision needs before it is handed to any Sync, and whose keys count."""

    mode: VerifyMode = Field(
        default="head",
        description="head: the commit's own signature; tag: the annotated tag's (ref.tag or "
        "ref.semver only); tagAndHead: both.",
    )
    secret_ref: LocalObjectReference = Field(
        description="Secret whose keys ending in .asc hold armored OpenPGP public keys "
        "(gpg --export --armor) and whose key allowed_signers (or keys ending in "
        ".allowed_signers) holds SSH allowed-signers lines. Read at every check."
    )


class GitSourceSpec(_Model):
    url: str = Field(
        description="https://, ssh://, scp-like git@host:org/repo, or file:// URL; "
        "credentials go in secretRef, never in the URL."
    )
    ref: GitRef = Field(default_factory=GitRef)
    interval: Duration = "1m"
    timeout: Duration = "60s"
    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="Secret with username/password (or bearerToken) for HTTPS, identity and "
        "known_hosts for SSH, and optionally caFile.",
    )
    ignore: str | None = Field(
        default=None, description="gitignore-style patterns of paths to leave out of the artifact."
    )
    access_from: list[NamespaceName] = Field(
        default_factory=list,
        description="Other namespaces whose Syncs may use this source when the agent refuses "
        "cross-namespace references (--no-cross-namespace-refs).",
    )
    verify: GitVerification | None = Field(
        default=None,
        description="Hand out only revisions signed by one of the keys in verify.secretRef.",
    )
    suspend: bool = False

    @model_validator(mode="after")
    def _verify_needs_a_tag(self) -> GitSourceSpec:
        if self.verify and self.verify.mode != "head" and not (self.ref.tag or self.ref.semver):
            raise ValueError(
                f"verify.mode {self.verify.mode} checks a tag's signature: set ref.tag or "
                "ref.semver, or use mode head"
            )
        return self

    @model_validator(mode="after")
    def _url(self) -> GitSourceSpec:
        url = self.url
        if url.startswith(("https://", "http://", "ssh://")):
            netloc = url.split("://", 1)[1].split("/", 1)[0]
            if ":" in netloc.rpartition("@")[0] or (url.startswith("http") and "@" in netloc):
                raise ValueError("url must not carry credentials: put them in a Secret (secretRef)")
            return self
        if url.startswith("file://") or _SCP_LIKE.match(url):
            return self
        # The value is not echoed: a malformed URL may still hold a password.
        raise ValueError("url: expected https://, ssh://, git@host:path (scp-like) or file://")


class Artifact(_Model):
    revision: str
    digest: str
    last_update_time: datetime
    url: str = ""
    message: str = Field(default="", description="The commit's subject line.")
    author: str = ""
    signer: str | None = Field(
        default=None,
        description="Fingerprint(s) of the key(s) whose signatures were verified (spec.verify).",
    )
    unsafe_entries: list[str] | None = Field(
        default=None,
        description="Entries of the commit's tree left out as unsafe (symlinks leading out of "
        "the checkout or nowhere, climbing paths, devices), the first 20: every Sync refuses "
        "this revision until they are gone or excluded by spec.ignore.",
    )


class GitSourceStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    artifact: Artifact | None = None
    short_revision: str | None = Field(
        default=None,
        description="artifact.revision in a few characters (a commit's first 12 hex digits, a "
        "chart's name@version), for `kubectl get`.",
    )
    last_handled_reconcile_at: str | None = None
    replica: str | None = Field(
        default=None,
        description="The agent replica that owns this resource, when several share them.",
    )


class GitSource(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["GitSource"] = "GitSource"
    metadata: ObjectMeta
    spec: GitSourceSpec
    status: GitSourceStatus | None = None


# --- ChartSource --------------------------------------------------------------------------------

# Helm's own rule for chart names: lower-case letters, digits and dashes (dots and underscores
# are tolerated by Helm and seen in the wild).
_CHART_NAME = r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$"


class ChartSourceSpec(_Model):
    """One chart of a vendor's Helm repository, the versions to follow and how to reach it."""

    url: str = Field(
        description="The chart repository: https:// (its index.yaml is read), or oci:// of a "
        "registry path (the chart is <url>/<chart>); credentials go in secretRef, never in the "
        "URL."
    )
    chart: str = Field(
        min_length=1, max_length=250, pattern=_CHART_NAME, description="The chart's name."
    )
    version: str = Field(
        default="*",
        min_length=1,
        max_length=200,
        description="An exact version (6.5.0) or a semver range ('>=6.0.0 <7.0.0', '~6.5', "
        "'6.x'): the highest version in range is used. Pre-releases only when the range "
        "names one.",
    )
    interval: Duration = Field(default="10m", description="How often the index is checked.")
    timeout: Duration = Field(default="60s", description="Limit for one download.")
    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="Secret with username/password (basic auth) or bearerToken (token), and "
        "optionally ca.crt (or caFile), a CA bundle the repository's certificate is checked "
        "against.",
    )
    access_from: list[NamespaceName] = Field(
        default_factory=list,
        description="Other namespaces whose Syncs may use this chart when the agent refuses "
        "cross-namespace references (--no-cross-namespace-refs).",
    )
    suspend: bool = False

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        # The range grammar lives with the sources; its syntax is checked here too so that a
        # refused version is an InvalidSpec at once, not a failure at the first fetch.
        if not _RANGE.match(value.strip()):
            raise ValueError(
                f"version {value!r} is neither a version nor a semver range "
                "(e.g. 6.5.0, >=6.0.0 <7.0.0, ~6.5, 6.x)"
            )
        return value.strip()

    @model_validator(mode="after")
    def _url(self) -> ChartSourceSpec:
        url = self.url
        if not url.startswith(("https://", "http://", "oci://")):
            # The value is not echoed: a malformed URL may still hold a password.
            raise ValueError(
                "url: expected https:// (or http://) of a Helm chart repository, or oci:// of "
                "a registry path"
            )
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        if "@" in netloc:
            raise ValueError("url must not carry credentials: put them in a Secret (secretRef)")
        if not netloc:
            raise ValueError("url: names no host")
        return self


# Comparators, versions, wildcards, hyphens and `||`: what `SemverRange` parses (it says more
# precisely what is wrong when the agent reads the range).
_RANGE = re.compile(r"^[0-9A-Za-z.*+<>=!~^|, -]+$")


class ChartArtifact(_Model):
    revision: str = Field(description="<chart>@<version>@sha256:<digest of the archive>.")
    digest: str = Field(description="sha256:<hex> of the chart archive.")
    chart: str
    version: str
    url: str = Field(default="", description="Where the archive was downloaded from.")
    last_update_time: datetime


class ChartSourceStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    artifact: ChartArtifact | None = None
    short_revision: str | None = Field(
        default=None,
        description="artifact.revision in a few characters (a commit's first 12 hex digits, a "
        "chart's name@version), for `kubectl get`.",
    )
    last_handled_reconcile_at: str | None = None
    replica: str | None = Field(
        default=None,
        description="The agent replica that owns this resource, when several share them.",
    )


class ChartSource(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["ChartSource"] = "ChartSource"
    metadata: ObjectMeta
    spec: ChartSourceSpec
    status: ChartSourceStatus | None = None


# --- OCISource ---------------------------------------------------------------------------------

# The layer type `flux push artifact` writes; `oras push` writes what it is told.
FLUX_LAYER = "application/vnd.cncf.flux.content.v1.tar+gzip"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


class OCIRef(_Model):
    """Which artifact of the repository: a digest wins over a semver range, which wins over a
    tag; none given means the tag `latest`."""

    tag: str | None = Field(default=None, description="A tag, e.g. latest or v1.2.0.")
    semver: str | None = Field(
        default=None,
        max_length=200,
        description="A semver range over the tags (>=1.0.0 <2.0.0, 1.x); the highest in "
        "range is used, pre-releases only when the range names one.",
    )
    digest: str | None = Field(default=None, description="An exact manifest: sha256:<hex>.")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not _TAG.match(value):
            raise ValueError(f"tag {value!r} is not an OCI tag")
        return value

    @field_validator("semver")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        if value is not None and not _RANGE.match(value.strip()):
            raise ValueError(f"semver {value!r} is not a semver range (e.g. >=1.0.0 <2.0.0, 1.x)")
        return value.strip() if value is not None else None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError("digest must be sha256:<64 lower-case hex digits>")
        return value


# extract: a tar+gzip of files, unpacked into the tree; copy: one file, as it is (`oras push
# app.yaml:application/yaml`).
OCILayerOperation = Literal["extract", "copy"]


class OCILayerSelector(_Model):
    media_type: str = Field(
        default=FLUX_LAYER,
        min_length=1,
        max_length=255,
        description="The media type of the layer to use; the first layer of that type is used.",
    )
    operation: OCILayerOperation = Field(
        default="extract",
        description="extract: the layer is a tar+gzip of files, unpacked. copy: the layer is "
        "one file, put in the tree under the name its org.opencontainers.image.title "
        "annotation gives (as oras push records it), or 'layer'.",
    )


class OCISourceSpec(_Model):
    """Manifests published as an OCI artifact (`flux push artifact`, `oras push`): a tar+gzip
    layer of YAML, rendered by a Sync like a Git tree."""

    url: str = Field(
        description="oci://HOST/REPOSITORY of the artifact; credentials go in secretRef, never "
        "in the URL."
    )
    ref: OCIRef = Field(default_factory=OCIRef)
    layer_selector: OCILayerSelector = Field(default_factory=OCILayerSelector)
    interval: Duration = Field(default="5m", description="How often the registry is checked.")
    timeout: Duration = Field(default="60s", description="Limit for one download.")
    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="Secret with username/password (Basic, or exchanged for a token when the "
        "registry asks for one) or bearerToken, and optionally ca.crt, a CA bundle the "
        "registry's certificate is checked against.",
    )
    access_from: list[NamespaceName] = Field(
        default_factory=list,
        description="Other namespaces whose Syncs may use this source when the agent refuses "
        "cross-namespace references (--no-cross-namespace-refs).",
    )
    suspend: bool = False

    @model_validator(mode="after")
    def _url(self) -> OCISourceSpec:
        if not self.url.startswith("oci://"):
            raise ValueError("url: expected oci://HOST/REPOSITORY")
        rest = self.url.removeprefix("oci://")
        netloc, _, path = rest.partition("/")
        if "@" in netloc:
            raise ValueError("url must not carry credentials: put them in a Secret (secretRef)")
        if not netloc or not path.strip("/"):
            raise ValueError("url: expected oci://HOST/REPOSITORY")
        return self


class OCISourceStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    artifact: Artifact | None = None
    last_handled_reconcile_at: str | None = None


class OCISource(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["OCISource"] = "OCISource"
    metadata: ObjectMeta
    spec: OCISourceSpec
    status: OCISourceStatus | None = None


# --- Sync ---------------------------------------------------------------------------------------


class SourceReference(_Model):
    kind: Literal["GitSource", "OCISource"] = "GitSource"
    name: Name
    namespace: NamespaceName | None = Field(
        default=None, description="Defaults to the Sync's own namespace."
    )


class ChartReference(_Model):
    kind: Literal["ChartSource"] = "ChartSource"
    name: Name
    namespace: NamespaceName | None = Field(
        default=None, description="Defaults to the Sync's own namespace."
    )


class SyncReference(_Model):
    name: Name
    namespace: NamespaceName | None = Field(
        default=None, description="Defaults to the Sync's own namespace."
    )


class ObjectReference(_Model):
    api_version: str
    kind: str
    name: Name
    namespace: NamespaceName | None = None


class HealthCheckExpr(_Model):
    """A health rule for one kind, in Flux's `healthCheckExprs` shape: CEL expressions over the
    object (as `self`, and its top-level fields by name), tried in the order inProgress, failed,
    current; none true -> InProgress. It applies to every version of the API group."""

    api_version: str = Field(description="apiVersion of the kind, e.g. example.com/v1.")
    kind: str
    current: str = Field(description="CEL: true when the object is healthy.")
    in_progress: str | None = Field(default=None, description="CEL: true while it progresses.")
    failed: str | None = Field(default=None, description="CEL: true when it has failed.")

    @field_validator("current", "in_progress", "failed")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_expr(value)
            except CelError as err:
                raise ValueError(str(err)) from None
        return value


class HelmSpec(_Model):
    release_name: Name | None = Field(default=None, description="Defaults to the Sync's name.")
    namespace: NamespaceName | None = Field(
        default=None, description="Release namespace; defaults to targetNamespace or the Sync's."
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    values_files: list[str] = Field(
        default_factory=list,
        description="Files relative to the chart (with chartRef: to the Sync's path), merged "
        "in order before values.",
    )


class Decryption(_Model):
    provider: Literal["sops"] = "sops"
    secret_ref: LocalObjectReference = Field(
        description="A Secret of the Sync's namespace: age identities in keys ending .agekey, "
        "armored OpenPGP secret keys in keys ending .asc."
    )


class SyncSpec(_Model):
    source_ref: SourceReference | None = Field(
        default=None,
        description="The GitSource to render the path of. Required, unless chartRef is set "
        "and every value is inline (helm.values): then nothing is read from Git.",
    )
    path: str = Field(
        default="./",
        description="Directory in the source to render; with chartRef, the directory the "
        "helm.valuesFiles are read from.",
    )
    chart_ref: ChartReference | None = Field(
        default=None,
        description="Render this ChartSource's chart instead of the path: the chart comes from "
        "its repository, its values from helm.values and, with a sourceRef, helm.valuesFiles "
        "from Git.",
    )
    interval: Duration = "5m"
    retry_interval: Duration | None = Field(
        default=None,
        description="Upper bound of the backoff after a failure; defaults to interval.",
    )
    timeout: Duration = Field(default="5m", description="How long the health gate waits.")
    prune: bool = True
    deletion_policy: Literal["Delete", "Orphan"] | None = Field(
        default=None,
        description="What deleting this Sync does to what it applied: Delete prunes it, Orphan "
        "leaves it running. Defaults to Delete when prune is on, else Orphan.",
    )
    allow_empty: bool = Field(
        default=False,
        description="Accept a revision that renders no objects (refused by default: an emptied "
        "kustomization must not prune everything).",
    )
    prune_limit: int | str = Field(
        default="50%",
        description="Hold a revision that would prune more than this share of the inventory "
        '("50%") or this many objects (10) until the spec changes or `gitmoor sync '
        '--allow-prune`; "100%" turns the check off.',
    )
    wait: bool = Field(default=True, description="Health-gate every applied object.")
    health_checks: list[ObjectReference] = Field(default_factory=list)
    health_check_exprs: list[HealthCheckExpr] = Field(
        default_factory=list,
        description="Health rules for kinds this Sync applies; they override the agent's "
        "--health-rules and gitmoor's built-in rules for those kinds.",
    )
    depends_on: list[SyncReference] = Field(default_factory=list)
    target_namespace: NamespaceName | None = None
    create_namespace: bool = Field(
        default=False,
        description="Create the targetNamespace (else helm.namespace) when it is missing, "
        "labelled as this Sync's. It is not part of the revision: never pruned, and left in "
        "place when the Sync is deleted (declare the Namespace in Git to have it managed).",
    )
    decryption: Decryption | None = Field(
        default=None, description="Decrypt SOPS files of the path with these keys."
    )
    service_account_name: Name | None = Field(
        default=None,
        description="Every dry run, apply, hook, prune, rollback, drift correction and health "
        "gate read of this Sync acts as this ServiceAccount of the Sync's namespace "
        "(impersonation): a tenant gets only what its RBAC grants. The continuous drift and "
        "health watches read as the agent. Default: the agent's --default-service-account, "
        "else the agent itself.",
    )
    force: bool = Field(
        default=False,
        description="Delete and recreate objects whose immutable fields changed.",
    )
    drift: Literal["correct", "report"] = Field(
        default="correct",
        description="correct: re-apply a drifted object within seconds; report: set Drifted, "
        "notify, and leave it (only new revisions are applied).",
    )
    atomic: bool = Field(
        default=False,
        description="When apply or the health gate fails, restore the last healthy revision and "
        "do not retry the failed one until a new commit, a spec change or `gitmoor sync --force`.",
    )
    helm: HelmSpec | None = None
    environment: str | None = Field(
        default=None,
        max_length=63,
        description="The ledger's name for where this Sync deploys (e.g. prod); default: the "
        "agent's --environment, else its cluster name.",
    )
    notifications: list[NotificationSink] = Field(
        default_factory=list,
        description="Where to report failure, rollback, drift and recovery.",
    )
    suspend: bool = False

    @field_validator("prune_limit")
    @classmethod
    def _prune_limit(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("pruneLimit must not be negative")
            return value
        text = value.strip()
        number = text[:-1] if text.endswith("%") else text
        if not number.isdigit() or (text.endswith("%") and int(number) > 100):
            raise ValueError(f"pruneLimit {value!r} must be a count (10) or a percentage (25%)")
        return text if text.endswith("%") else int(number)

    @property
    def deletes_on_removal(self) -> bool:
        """Whether deleting the Sync prunes what it applied."""
        return (self.deletion_policy or ("Delete" if self.prune else "Orphan")) == "Delete"

    @model_validator(mode="after")
    def _source(self) -> SyncSpec:
        # Without Git, only a chart with inline values is left to render.
        if self.source_ref is not None:
            return self
        if self.chart_ref is None:
            raise ValueError("sourceRef is required (without one, chartRef and helm.values)")
        if self.helm is not None and self.helm.values_files:
            raise ValueError("helm.valuesFiles are read from Git: set sourceRef")
        if self.path not in ("./", ".", ""):
            raise ValueError("path is a directory of the sourceRef's: set sourceRef")
        if self.decryption is not None:
            raise ValueError("decryption reads files of the sourceRef's path: set sourceRef")
        return self

    @model_validator(mode="after")
    def _path(self) -> SyncSpec:
        parts = self.path.replace("\\", "/").split("/")
        if ".." in parts or self.path.startswith("/"):
            raise ValueError(
                f"path {self.path!r} must stay inside the source (no '..', not absolute)"
            )
        return self


class InventoryItem(_Model):
    id: str
    v: str


class InventoryChunk(_Model):
    name: str = Field(description="A ConfigMap in the Sync's namespace holding this chunk.")
    digest: str = Field(description="sha256 of the chunk's bytes; checked when read.")


class Inventory(_Model):
    count: int | None = Field(default=None, description="How many objects the Sync manages.")
    entries: list[InventoryItem] = Field(
        default_factory=list, description="Every object, while the list stays small."
    )
    compressed: str | None = Field(
        default=None,
        description="The entries as base64 of gzip of their JSON, for large inventories.",
    )
    digest: str | None = Field(
        default=None, description="sha256 of the gzip the chunks hold, joined in order."
    )
    chunks: list[InventoryChunk] = Field(
        default_factory=list,
        description="For the largest inventories: where the gzip of the entries' JSON is kept.",
    )


class HistoryEntry(_Model):
    revision: str
    result: str
    reason: str = ""
    message: str = ""
    started_at: datetime
    finished_at: datetime
    changes: str = Field(default="", description="e.g. '2 created, 1 configured, 5 unchanged'.")
    content: str | None = Field(
        default=None,
        description="Digest of the objects as sent: equal for revisions that changed nothing "
        "of this Sync.",
    )


class HookRunsStatus(_Model):
    content: str = Field(description="Digest of the objects (hooks included) they ran for.")
    done: list[str] = Field(default_factory=list, description="pre, main, post.")


class SyncStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_attempted_revision: str | None = None
    last_applied_revision: str | None = None
    short_revision: str | None = Field(
        default=None,
        description="lastAppliedRevision in a few characters (a commit's first 12 hex digits, a "
        "chart's name@version), for `kubectl get`.",
    )
    last_healthy_revision: str | None = None
    hooks: HookRunsStatus | None = Field(
        default=None,
        description="Which points' hooks (pre, main, post) completed for which content: an "
        "attempt of that content runs only the others.",
    )
    pinned_revision: str | None = Field(
        default=None, description="Set while `gitmoor rollback` pins the Sync to a revision."
    )
    delete_hooks: bool | None = Field(
        default=None,
        description="What was applied holds pre-delete or post-delete hooks: a deletion that "
        "cannot read them from its source says so with a Warning.",
    )
    last_failed_revision: str | None = Field(
        default=None, description="Set when an atomic Sync rolled this revision back."
    )
    last_handled_reconcile_at: str | None = None
    inventory: Inventory | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    replica: str | None = Field(
        default=None,
        description="The agent replica that owns this resource, when several share them.",
    )


class Sync(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["Sync"] = "Sync"
    metadata: ObjectMeta
    spec: SyncSpec
    status: SyncStatus | None = None


Resource = GitSource | ChartSource | Sync
RESOURCES: tuple[type[GitSource] | type[ChartSource] | type[Sync], ...] = (
    GitSource,
    ChartSource,
    Sync,
)
