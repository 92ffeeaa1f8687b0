"""What follows a failed attempt: one table from the type of error to the condition reason,
whether retrying the same input can help (Stalled), and when to try again.

Rules are matched top to bottom; the first whose type (and predicate) matches decides. An
error that names its own delay (`retry_after`, e.g. from a `Retry-After` header) is retried
after exactly that long, whatever the row says.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmoor.errors import (
    ApplyError,
    ChartDependencyError,
    ChartDependencyUnavailableError,
    ChartDigestError,
    ChartError,
    ChartIndexError,
    ChartNotFoundError,
    ChartRepositoryUnavailableError,
    ChartVersionNotFoundError,
    CrashError,
    CrossNamespaceRefError,
    DecryptionKeysError,
    DependencyCycleError,
    DryRunError,
    EmptyRevisionError,
    GitmoorError,
    HealthGateError,
    HookFailedError,
    ImmutableFieldError,
    InvalidImagePolicyError,
    InventoryUnreadableError,
    MarkerPolicyNotFoundError,
    NamespaceNotFoundError,
    NoMatchingTagError,
    NotReadyError,
    OwnershipConflictError,
    PermanentError,
    PruneBlockedError,
    PushRefusedError,
    RefNotFoundError,
    RegistryContentError,
    RegistryDigestError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    RenderError,
    RenderErrors,
    SecretNotFoundError,
    SigningKeyError,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailableError,
    SourceVerificationError,
    TransientError,
    UnknownKindError,
)
from gitmoor.model import Missing, ObjectRef, Status
from gitmoor.render.tools import RenderTimeoutError

BACKOFF_BASE = 2.0  # seconds after the first failure; doubled for each one more
NOT_READY_CAP = 60.0  # waiting for a source or a dependency: they also wake the Sync themselves
RETRY_AFTER_CAP = 3600.0  # an error's own delay is honoured up to an hour


class Delay(enum.StrEnum):
    """When to try again after an error."""

    BACKOFF = "backoff"  # exponential from 2 s, capped at retryInterval (or interval)
    NOT_READY = "not-ready"  # exponential from 2 s, capped at a minute
    INTERVAL = "interval"  # the same input fails again: wait a whole interval
    # What the error waits for is watched (objects of the Sync still progressing): the watch
    # wakes it when that is there, so only the interval is the safety net; backoff when the
    # watch cannot see all of it.
    WATCHED = "watched"
    NEVER = "never"  # only a change of the resource helps; its watch event wakes it


@dataclass(frozen=True)
class Rule:
    error: type[BaseException]
    reason: str  # empty: the error's own `reason`
    stalled: bool
    delay: Delay
    when: Callable[[BaseException], bool] | None = None
    note: str = ""


def _transient_apply(err: BaseException) -> bool:
    return isinstance(err, ApplyError) and err.transient


def _timed_out(err: BaseException) -> bool:
    return isinstance(err, HealthGateError) and err.verdict.timed_out


def missing(error: BaseException) -> frozenset[Missing]:
    """What the cluster lacks for a revision whose dry run was refused only for lack of it:
    the Namespaces and kinds to wait for (their arrival wakes the Sync). Empty when anything
    else was refused too: then only a new commit helps, and waiting is no use."""
    if not isinstance(error, DryRunError) or isinstance(error, ImmutableFieldError):
        return frozenset()
    found: set[Missing] = set()
    for failure in error.failures:
        cause = failure.error
        if isinstance(cause, NamespaceNotFoundError):
            found.add(Missing.namespace(cause.namespace))
        elif isinstance(cause, UnknownKindError):
            found.add(Missing.served_kind(cause.api_version.rpartition("/")[0], cause.kind))
        else:
            return frozenset()
    return frozenset(found)


def arrival(obj: dict[str, Any]) -> Missing | None:
    """What a Namespace or CRD seen by the watch provides, once it can be used: an active
    Namespace, the kind of an established CRD."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind == "Namespace":
        if obj.get("metadata", {}).get("deletionTimestamp") or status.get("phase") == "Terminating":
            return None
        return Missing.namespace(str(obj["metadata"]["name"]))
    if kind == "CustomResourceDefinition":
        established = any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        if established and names.get("kind"):
            return Missing.served_kind(str(spec.get("group", "")), str(names["kind"]))
    return None


def progressing(error: BaseException, applied: Mapping[ObjectRef, str]) -> dict[ObjectRef, str]:
    """The objects (with their apiVersion) a health gate timed out on while they were still
    progressing, when every object it waited for in vain is one of `applied` (what the Sync
    applied, which the watch sees): those are awaited, and their turning Current wakes the
    Sync. Empty when anything Failed, is missing or unknown, or cannot be watched: then the
    attempt is retried with backoff."""
    if not isinstance(error, HealthGateError) or not error.verdict.timed_out:
        return {}
    waiting = error.verdict.not_ready
    if not waiting or any(
        h.status is not Status.IN_PROGRESS or h.ref not in applied for h in waiting
    ):
        return {}
    return {h.ref: applied[h.ref] for h in waiting}


def explained(error: BaseException) -> str:
    """The error's message, led by what the cluster lacks when that is all that is wrong."""
    lacking = missing(error)
    if not lacking:
        return str(error)
    listed = ", ".join(str(m) for m in sorted(lacking))
    return f"waiting for {listed} to exist (tried again as soon as it does): {error}"


def _namespaces_missing(err: BaseException) -> bool:
    lacking = missing(err)
    return bool(lacking) and all(m.kind == Missing.NAMESPACE for m in lacking)


def _kinds_not_served(err: BaseException) -> bool:
    return any(m.kind == Missing.KIND for m in missing(err))


RULES: tuple[Rule, ...] = (
    Rule(CrashError, "ReconciliationFailed", False, Delay.BACKOFF, note="a bug: any exception"),
    Rule(NotReadyError, "", False, Delay.NOT_READY, note="source, dependency, pinned commit"),
    Rule(DependencyCycleError, "DependencyCycle", True, Delay.NEVER),
    Rule(CrossNamespaceRefError, "CrossNamespaceRefRefused", True, Delay.INTERVAL),
    Rule(DecryptionKeysError, "DecryptionKeysInvalid", True, Delay.INTERVAL),
    Rule(RenderTimeoutError, "BuildFailed", False, Delay.BACKOFF, note="kustomize/Helm timed out"),
    Rule(RenderError, "BuildFailed", True, Delay.INTERVAL),
    Rule(RenderErrors, "BuildFailed", True, Delay.INTERVAL),
    Rule(EmptyRevisionError, "EmptyRevision", True, Delay.INTERVAL, note="allowEmpty: false"),
    Rule(PruneBlockedError, "PruneBlocked", True, Delay.INTERVAL, note="over pruneLimit"),
    Rule(OwnershipConflictError, "OwnershipConflict", True, Delay.INTERVAL, note="other Syncs'"),
    Rule(ImmutableFieldError, "ImmutableFieldChanged", True, Delay.INTERVAL),
    Rule(DryRunError, "NamespaceMissing", False, Delay.NOT_READY, _namespaces_missing, "watched"),
    Rule(DryRunError, "KindNotServed", False, Delay.NOT_READY, _kinds_not_served, "CRD watched"),
    Rule(DryRunError, "ValidationFailed", True, Delay.INTERVAL),
    Rule(ApplyError, "ApplyFailed", False, Delay.BACKOFF, _transient_apply, "throttled, 5xx"),
    Rule(ApplyError, "ApplyFailed", True, Delay.INTERVAL, note="refused by the API server"),
    Rule(HookFailedError, "HookFailed", False, Delay.BACKOFF, note="a hook did not complete"),
    Rule(HealthGateError, "HealthCheckTimeout", False, Delay.WATCHED, _timed_out, "progressing"),
    Rule(HealthGateError, "HealthCheckFailed", False, Delay.BACKOFF),
    Rule(SecretNotFoundError, "SecretNotFound", False, Delay.BACKOFF),
    Rule(SourceAuthError, "AuthenticationFailed", False, Delay.BACKOFF),
    Rule(ChartDependencyUnavailableError, "DependencyNotResolved", False, Delay.BACKOFF),
    Rule(ChartDependencyError, "DependencyNotResolved", True, Delay.INTERVAL),
    Rule(ChartRepositoryUnavailableError, "RepositoryUnavailable", False, Delay.BACKOFF),
    Rule(ChartVersionNotFoundError, "VersionNotFound", False, Delay.BACKOFF, note="or range"),
    Rule(ChartNotFoundError, "ChartNotFound", False, Delay.BACKOFF),
    Rule(ChartIndexError, "InvalidIndex", True, Delay.INTERVAL),
    Rule(ChartDigestError, "DigestMismatch", True, Delay.INTERVAL),
    Rule(ChartError, "InvalidChartArchive", True, Delay.INTERVAL, note="corrupt, oversized"),
    Rule(RegistryUnavailableError, "RegistryUnavailable", False, Delay.BACKOFF, note="429"),
    Rule(RegistryNotFoundError, "ArtifactNotFound", False, Delay.BACKOFF, note="tag, range"),
    Rule(RegistryDigestError, "DigestMismatch", True, Delay.INTERVAL),
    Rule(RegistryContentError, "InvalidArtifact", True, Delay.INTERVAL, note="unsafe, too big"),
    Rule(NoMatchingTagError, "NoMatchingTag", False, Delay.INTERVAL, note="no tag matches"),
    Rule(InvalidImagePolicyError, "InvalidSpec", True, Delay.INTERVAL),
    Rule(MarkerPolicyNotFoundError, "PolicyNotFound", False, Delay.INTERVAL),
    Rule(PushRefusedError, "PushRefused", False, Delay.BACKOFF, note="protected branch"),
    Rule(SigningKeyError, "InvalidSigningKey", True, Delay.INTERVAL),
    Rule(RefNotFoundError, "RefNotFound", False, Delay.BACKOFF),
    Rule(SourceUnavailableError, "GitOperationFailed", False, Delay.BACKOFF),
    Rule(SourceVerificationError, "VerificationFailed", True, Delay.INTERVAL, note="unsigned"),
    Rule(SourceConfigError, "InvalidSpec", True, Delay.INTERVAL),
    Rule(InventoryUnreadableError, "InventoryUnreadable", True, Delay.INTERVAL, note="chunk"),
    Rule(PermanentError, "ReconciliationFailed", True, Delay.INTERVAL),
    Rule(TransientError, "ReconciliationFailed", False, Delay.BACKOFF),
    Rule(GitmoorError, "ReconciliationFailed", False, Delay.BACKOFF),
)
_LAST_RESORT = Rule(BaseException, "ReconciliationFailed", False, Delay.BACKOFF)


@dataclass(frozen=True)
class Retry:
    """The verdict on one error. `delay` is exact (jitter is added where it is scheduled);
    None means do not come back until something changes. `failures` is the new count of
    consecutive failures (0 when retrying sooner cannot help)."""

    reason: str
    stalled: bool
    delay: float | None
    failures: int


def rule_for(error: BaseException) -> Rule:
    for rule in RULES:
        if isinstance(error, rule.error) and (rule.when is None or rule.when(error)):
            return rule
    return _LAST_RESORT


def reason_of(error: BaseException) -> tuple[str, bool]:
    """(condition reason, stalled) for an error."""
    rule = rule_for(error)
    return (
        rule.reason or str(getattr(error, "reason", "")) or "ReconciliationFailed"
    ), rule.stalled


def classify(
    error: BaseException,
    *,
    failures: int,
    interval: float,
    retry_interval: float | None = None,
    watched: bool = False,
) -> Retry:
    """What to do after `error`, given `failures` consecutive failures before it. `watched`:
    the agent watches everything the error waits for (see `progressing`)."""
    rule = rule_for(error)
    reason, stalled = reason_of(error)
    own = getattr(error, "retry_after", None)
    if isinstance(own, int | float) and own > 0:
        return Retry(reason, stalled, min(float(own), RETRY_AFTER_CAP), failures + 1)
    if rule.delay is Delay.NEVER:
        return Retry(reason, stalled, None, 0)
    if rule.delay is Delay.INTERVAL or (rule.delay is Delay.WATCHED and watched):
        return Retry(reason, stalled, interval, 0)
    cap = NOT_READY_CAP if rule.delay is Delay.NOT_READY else (retry_interval or interval)
    return Retry(reason, stalled, backoff_delay(failures + 1, cap=cap), failures + 1)


def backoff_delay(failures: int, *, base: float = BACKOFF_BASE, cap: float = 300.0) -> float:
    """Exponential delay after `failures` consecutive failures (1 -> base), capped."""
    exponent: int = max(0, min(failures, 64) - 1)
    return min(cap, base * float(2**exponent))


def jittered(seconds: float, spread: float = 0.1) -> float:
    """`seconds` +/- `spread`, so many objects with one interval do not fire together."""
    return seconds * (1 + random.uniform(-spread, spread))  # noqa: S311 - not cryptographic


def backoff(failures: int, *, base: float = BACKOFF_BASE, cap: float = 300.0) -> float:
    """`backoff_delay`, jittered by 20%: for loops that retry on their own (watches)."""
    return jittered(backoff_delay(failures, base=base, cap=cap), 0.2)
