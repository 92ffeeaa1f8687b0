"""One exception tree. The type of an error decides what the agent does next:

- `TransientError` (network, throttling, a server hiccup): retry with backoff, after `retry_after`
  seconds when the cause says so;
- `PermanentError` (an invalid manifest, a refused request): stop retrying the same input and
  report it, until the input changes.
"""

from __future__ import annotations

from gitmoor.model import ObjectRef, Verdict, labels


class GitmoorError(Exception):
    """Base of every error gitmoor raises on purpose."""


class TransientError(GitmoorError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(GitmoorError):
    pass


class KubeApiError(GitmoorError):
    """The API server answered a request with an error status."""

    def __init__(
        self,
        message: str,
        *,
        ref: ObjectRef | None,
        status: int,
        reason: str,
        causes: tuple[tuple[str, str], ...] = (),
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.ref = ref
        self.status = status
        self.reason = reason
        self.causes = causes  # (field path, message) pairs from the API's status details
        self.detail = detail or message  # the server's message without our prefix


class KubeTransientError(KubeApiError, TransientError):
    def __init__(
        self,
        message: str,
        *,
        ref: ObjectRef | None,
        status: int,
        reason: str,
        retry_after: float | None = None,
        causes: tuple[tuple[str, str], ...] = (),
        detail: str = "",
    ) -> None:
        KubeApiError.__init__(
            self, message, ref=ref, status=status, reason=reason, causes=causes, detail=detail
        )
        self.retry_after = retry_after


class KubePermanentError(KubeApiError, PermanentError):
    pass


class KubeNotFoundError(KubePermanentError):
    pass


class NamespaceNotFoundError(KubeNotFoundError):
    """A request for an object in a namespace that does not exist (yet): the API server's
    `namespaces "<name>" not found`. `namespace` is the one missing."""

    def __init__(
        self,
        message: str,
        *,
        ref: ObjectRef | None,
        namespace: str,
        causes: tuple[tuple[str, str], ...] = (),
        detail: str = "",
    ) -> None:
        super().__init__(
            message, ref=ref, status=404, reason="NotFound", causes=causes, detail=detail
        )
        self.namespace = namespace


class UnknownKindError(PermanentError):
    """No API resource serves this apiVersion and kind (e.g. its CRD is not installed)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(
            f"the API server serves no kind {kind} in {api_version}: is its CRD installed?"
        )
        self.api_version = api_version
        self.kind = kind


class NotLeaderError(TransientError):
    """A write refused by the agent itself: its leadership is not surely held."""


class ConnectionFailedError(TransientError):
    """The API server could not be reached at all."""


# --- sources ------------------------------------------------------------------------------------


class SourceError(GitmoorError):
    """Fetching from Git failed. `url` never carries credentials."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class SourceUnavailableError(SourceError, TransientError):
    """The server could not be reached or timed out: retry with backoff."""

    def __init__(self, message: str, *, url: str, retry_after: float | None = None) -> None:
        SourceError.__init__(self, message, url=url)
        self.retry_after = retry_after


class SourceAuthError(SourceError, TransientError):
    """The server refused the credentials or the host key / certificate did not verify.

    Transient on purpose: the fix (a corrected Secret, a rotated key) arrives without a change to
    the GitSource, so the agent keeps retrying with backoff.
    """

    def __init__(self, message: str, *, url: str) -> None:
        SourceError.__init__(self, message, url=url)
        self.retry_after = None


class RefNotFoundError(SourceError, TransientError):
    """The branch, tag, semver range or commit matches nothing (yet)."""

    def __init__(self, message: str, *, url: str) -> None:
        SourceError.__init__(self, message, url=url)
        self.retry_after = None


class SecretNotFoundError(SourceError, TransientError):
    """The Secret named by secretRef does not exist (yet): retried with backoff, since it is
    often created after the GitSource."""

    def __init__(self, message: str, *, url: str) -> None:
        SourceError.__init__(self, message, url=url)
        self.retry_after = None


class SourceConfigError(SourceError, PermanentError):
    """The GitSource itself is wrong (bad URL, bad semver range, missing Secret key)."""


class SourceVerificationError(SourceError, PermanentError):
    """A revision's commit or tag is unsigned, or not signed by a key spec.verify trusts: it is
    never handed out. `sha` is the object refused (`signed` says which kind), `commit` the
    revision's commit, `signer` the fingerprint of the key that signed it (None when unsigned or
    unknown) and `verdict` why it was refused (`Unsigned`, `UnknownKey`, `BadSignature`, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        signed: str,
        sha: str,
        commit: str,
        signer: str | None,
        verdict: str,
    ) -> None:
        SourceError.__init__(self, message, url=url)
        self.signed = signed
        self.sha = sha
        self.commit = commit
        self.signer = signer
        self.verdict = verdict


# --- charts from their repositories --------------------------------------------------------------


class ChartError(SourceError):
    """Getting a chart from its repository failed. `url` (the repository's, never with
    credentials) and `chart` say which."""

    def __init__(self, message: str, *, url: str, chart: str) -> None:
        SourceError.__init__(self, message, url=url)
        self.chart = chart


class ChartRepositoryUnavailableError(ChartError, TransientError):
    """The repository could not be reached, timed out or answered a server error."""

    def __init__(
        self, message: str, *, url: str, chart: str, retry_after: float | None = None
    ) -> None:
        ChartError.__init__(self, message, url=url, chart=chart)
        self.retry_after = retry_after


class ChartAuthError(ChartError, SourceAuthError):
    """The repository refused the credentials (401, 403) or its certificate did not verify."""

    def __init__(self, message: str, *, url: str, chart: str) -> None:
        ChartError.__init__(self, message, url=url, chart=chart)
        self.retry_after = None


class ChartNotFoundError(ChartError, TransientError):
    """The index lists no such chart (a vendor may publish it later: retried)."""

    def __init__(self, message: str, *, url: str, chart: str) -> None:
        ChartError.__init__(self, message, url=url, chart=chart)
        self.retry_after = None


class ChartVersionNotFoundError(ChartNotFoundError):
    """The exact version is not in the index, or no version matches the range."""


class ChartIndexError(ChartError, PermanentError):
    """The repository's index.yaml cannot be read as a Helm index (or is too large)."""


class ChartArchiveError(ChartError, PermanentError):
    """The chart archive is corrupt, too large or unsafe (links, paths leaving the chart)."""


class ChartDigestError(ChartArchiveError):
    """The archive's sha256 is not the digest the index gives for it."""


class ChartDependencyError(ChartError, PermanentError):
    """A dependency of a chart (Chart.yaml `dependencies`) cannot be resolved: `chart` names the
    dependency, `url` its repository; the message says why (not found, refused, out of date
    Chart.lock, a file:// path leaving the repository)."""


class ChartDependencyUnavailableError(ChartDependencyError, TransientError):
    """A dependency's repository could not be reached or does not list it yet: retried."""

    def __init__(
        self, message: str, *, url: str, chart: str, retry_after: float | None = None
    ) -> None:
        ChartDependencyError.__init__(self, message, url=url, chart=chart)
        self.retry_after = retry_after


class RegistryError(SourceError):
    """A request to an OCI registry failed. `url` names the repository (`oci://host/path`),
    never with credentials."""


class RegistryUnavailableError(RegistryError, TransientError):
    """The registry could not be reached, timed out, answered a server error or 429."""

    def __init__(self, message: str, *, url: str, retry_after: float | None = None) -> None:
        RegistryError.__init__(self, message, url=url)
        self.retry_after = retry_after


class RegistryAuthError(RegistryError, SourceAuthError):
    """The registry refused the credentials (401, 403), asked for an authentication it cannot
    be given, or its certificate did not verify."""

    def __init__(self, message: str, *, url: str) -> None:
        RegistryError.__init__(self, message, url=url)
        self.retry_after = None


class RegistryNotFoundError(RegistryError, TransientError):
    """No such repository, tag or digest (it may be pushed later: retried)."""

    def __init__(self, message: str, *, url: str) -> None:
        RegistryError.__init__(self, message, url=url)
        self.retry_after = None


class RegistryContentError(RegistryError, PermanentError):
    """The registry answered something unusable: not a tag list or manifest, too large, or a
    blob whose sha256 is not its digest."""


class RegistryDigestError(RegistryContentError):
    """A manifest or blob whose sha256 is not the digest it was asked for or announced as."""


# --- image update automation ----------------------------------------------------------------


class NoMatchingTagError(TransientError):
    """An ImagePolicy's filter and order pick no tag of its repository (a tag may be pushed
    later). `policy` is ns/name."""

    def __init__(self, message: str, *, policy: str) -> None:
        super().__init__(message)
        self.policy = policy
        self.retry_after = None


class InvalidImagePolicyError(PermanentError):
    """An ImagePolicy that cannot be applied to any tag list (a range that does not parse)."""

    def __init__(self, message: str, *, policy: str) -> None:
        super().__init__(message)
        self.policy = policy


class ImageUpdateError(SourceError):
    """Writing new tags to a configuration repository failed. `url` is the repository's."""


class MarkerPolicyNotFoundError(ImageUpdateError, PermanentError):
    """A marker under the update path names an ImagePolicy that does not exist (or cannot
    serve it): nothing is written until it exists or the marker goes. `markers` lists
    `file:line: why`."""

    def __init__(self, message: str, *, url: str, markers: tuple[str, ...]) -> None:
        ImageUpdateError.__init__(self, message, url=url)
        self.markers = markers


class PushRefusedError(ImageUpdateError, TransientError):
    """The Git server refused the update commit (a protected branch, a pre-receive hook) or a
    concurrent writer kept winning the race: nothing was pushed; retried with backoff."""

    def __init__(self, message: str, *, url: str, branch: str) -> None:
        ImageUpdateError.__init__(self, message, url=url)
        self.branch = branch
        self.retry_after = None


class SigningKeyError(ImageUpdateError, PermanentError):
    """The signing key Secret holds no usable OpenPGP or SSH private key."""


# --- render -------------------------------------------------------------------------------------


class RenderError(PermanentError):
    """A manifest could not be rendered. `file` is relative to the rendered path."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        ref: ObjectRef | None = None,
    ) -> None:
        where = f"{file}:{line}" if file and line else (file or "")
        prefix = ": ".join(p for p in (where, ref.subject if ref else "") if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.line = line
        self.ref = ref
        self.cause = message


class DependenciesNotVendoredError(RenderError):
    """A chart lists dependencies its `charts/` does not hold, and nothing may fetch them here
    (an offline render: `gitmoor validate`, `render`); the agent fetches them."""


class RenderErrors(PermanentError):
    """Several render errors found in one pass: all are reported at once."""

    def __init__(self, errors: list[RenderError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


# --- plan / apply / health ----------------------------------------------------------------------


class ObjectFailure(GitmoorError):
    """One object the API server refused (dry run or apply). `error` is the error that refused
    it, when there was one (a missing namespace, a kind not served, the server's answer)."""

    def __init__(
        self,
        ref: ObjectRef,
        message: str,
        *,
        where: str = "",
        field: str = "",
        error: GitmoorError | None = None,
    ) -> None:
        super().__init__(f"{ref.subject}: {message}")
        self.ref = ref
        self.where = where
        self.field = field
        self.cause = message
        self.error = error


class DryRunError(PermanentError):
    """The server-side dry run refused objects of the revision; nothing was written."""

    def __init__(self, failures: list[ObjectFailure], message: str = "") -> None:
        listed = "; ".join((f"{f.where}: " if f.where else "") + str(f) for f in failures)
        super().__init__(message or f"dry run failed for {len(failures)} object(s): {listed}")
        self.failures = failures


class ImmutableFieldError(DryRunError):
    """Objects need fields changed that the API server will not change in place. The way out
    comes first, then one entry per object naming the field (the server's dump of the whole
    object is left out: it is the manifest the author just wrote)."""

    def __init__(self, failures: list[ObjectFailure]) -> None:
        listed = "; ".join(
            (f"{f.where}: " if f.where else "")
            + f"{f.ref.subject}: {f.field or 'a field'} cannot change in place"
            for f in failures
        )
        super().__init__(
            failures,
            "immutable fields changed: set spec.force: true on the Sync to let gitmoor delete "
            f"and recreate these objects, or revert the change. {listed}",
        )


class OwnershipConflictError(DryRunError):
    """Objects of the revision are owned by other Syncs that still hold them: the whole
    revision is refused and nothing is written. The way out comes first, then one entry per
    object naming the Sync that owns it (`owners`: object -> `namespace/name`); `others` are
    objects the dry run refused besides, so one attempt reports every problem."""

    def __init__(
        self,
        conflicts: list[ObjectFailure],
        owners: dict[ObjectRef, str],
        others: list[ObjectFailure] | None = None,
    ) -> None:
        listed = "; ".join(
            (f"{f.where}: " if f.where else "") + f"{f.ref.subject}: {f.cause}" for f in conflicts
        )
        rest = list(others or [])
        also = "; ".join((f"{f.where}: " if f.where else "") + str(f) for f in rest)
        also = f" Also refused: {also}" if also else ""
        super().__init__(
            [*conflicts, *rest],
            f"{len(conflicts)} object(s) owned by other Syncs; nothing was applied. Remove them "
            "from one of the two Syncs' paths, or annotate them here with "
            f'{labels.TAKEOVER}: "{labels.TAKEOVER_ALLOWED}" to take them over. {listed}.{also}',
        )
        self.conflicts = conflicts
        self.owners = owners


class ApplyError(GitmoorError):
    """Applying objects failed part-way; `failures` are the objects refused and `changes` what
    was written before (a ChangeSet, typed loosely here to keep errors free of pipeline values).
    `retry_after`: the longest wait the API server asked for (`Retry-After`) among the
    transient refusals (each failure's `error`), None when none asked."""

    def __init__(
        self, failures: list[ObjectFailure], *, transient: bool = False, changes: object = None
    ) -> None:
        listed = "; ".join(str(f) for f in failures)
        super().__init__(f"apply failed for {len(failures)} object(s): {listed}")
        self.failures = failures
        self.transient = transient
        self.changes = changes
        # The longest, not the first: retrying before every throttled object may be written
        # again only fails those again.
        asked = [
            f.error.retry_after
            for f in failures
            if isinstance(f.error, TransientError) and f.error.retry_after is not None
        ]
        self.retry_after: float | None = max(asked) if asked else None


class HealthGateError(GitmoorError):
    """Applied objects did not all turn healthy within the Sync's timeout (or one Failed)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.summary())
        self.verdict = verdict


class HookFailedError(HealthGateError):
    """A hook (a migration Job, a smoke test) did not complete: the revision failed at that
    point. `point` is when it ran: pre, main, post or on-failure."""

    def __init__(self, point: str, verdict: Verdict) -> None:
        super().__init__(verdict)
        self.point = point
        self.args = (f"{point} hook did not complete: {verdict.summary()}",)


# --- reconcile: why a Sync cannot run (yet) ------------------------------------------------------


class NotReadyError(TransientError):
    """Something the Sync needs is not there yet (its source, a dependency, a pinned commit):
    retried with backoff, and whatever it waits for wakes it when it arrives. `reason` is the
    condition reason shown on the Sync."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.reason = reason


class DependencyCycleError(PermanentError):
    """`dependsOn` forms a cycle: waiting cannot help, only a spec change."""


class CrashError(GitmoorError):
    """A reconcile raised something gitmoor did not raise on purpose (a bug): the Sync says so
    and is retried with backoff instead of staying `Reconciling` for ever."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"internal error: {type(error).__name__}: {error}")
        self.error = error


class EmptyRevisionError(PermanentError):
    """The revision renders no objects and the Sync does not allow that (`allowEmpty`)."""


class PruneBlockedError(PermanentError):
    """Applying the revision would prune more of the inventory than `pruneLimit` allows."""

    def __init__(self, message: str, *, pruned: int, inventory: int) -> None:
        super().__init__(message)
        self.pruned = pruned
        self.inventory = inventory


class CrossNamespaceRefError(PermanentError):
    """A Sync names a GitSource of another namespace that does not grant it access, while the
    agent refuses cross-namespace references."""


class DecryptionKeysError(PermanentError):
    """The Secret named by a Sync's spec.decryption holds no usable key."""


class MigrationInputError(PermanentError):
    """A file given to `gitmoor import` cannot be read as Kubernetes documents."""

    def __init__(self, file: str, line: int | None, cause: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {cause}")
        self.file = file
        self.line = line
        self.cause = cause


class InventoryUnreadableError(PermanentError):
    """A Sync's inventory, kept in chunks beside its status, cannot be read back whole: a chunk
    is missing or its content no longer matches the digest the status names. Nothing is pruned
    from it; `chunk` names the one at fault (empty when it is the whole)."""

    def __init__(self, namespace: str, name: str, *, chunk: str, why: str) -> None:
        super().__init__(
            f"the inventory of Sync {namespace}/{name} cannot be read: {why}; nothing is pruned "
            "until it is restored (or reset: see the README, 'Inventory')"
        )
        self.namespace = namespace
        self.name = name
        self.chunk = chunk


class StatusTooLargeError(PermanentError):
    """A status would exceed what the API server and etcd accept in one object."""

    def __init__(self, namespace: str, name: str, *, size: int, limit: int) -> None:
        super().__init__(
            f"the status of {namespace}/{name} would be {size} bytes, over {limit}: not written"
        )
        self.namespace = namespace
        self.name = name


class OperationError(GitmoorError):
    """A CLI operation could not be carried out (object missing, suspended, timed out)."""


class UnknownRevisionError(OperationError):
    """`rollback --to` named a revision the source does not have: nothing was changed."""
