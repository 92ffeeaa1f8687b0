"""What follows a failed attempt: one table from the type of error to the condition reason,
whether retrying the same input can help (Stalled), and when to try again.

Rules are matched top to bottom; the first whose type (and predicate) matches decides. An
error that names its own delay (`retry_after`, e.g. from a `Retry-After` header) is retried
after exactly that long, whatever the row says.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

from gitmoor.errors import (
    ApplyError,
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
    NotReadyError,
    OwnershipConflictError,
    PermanentError,
    PruneBlockedError,
    RefNotFoundError,
    RenderError,
    RenderErrors,
    SecretNotFoundError,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailableError,
    SourceVerificationError,
    TransientError,
)
from gitmoor.render.tools import RenderTimeoutError

BACKOFF_BASE = 2.0  # seconds after the first failure; doubled for each one more
NOT_READY_CAP = 60.0  # waiting for a source or a dependency: they also wake the Sync themselves
RETRY_AFTER_CAP = 3600.0  # an error's own delay is honoured up to an hour


class Delay(enum.StrEnum):
    """When to try again after an error."""

    BACKOFF = "backoff"  # exponential from 2 s, capped at retryInterval (or interval)
    NOT_READY = "not-ready"  # exponential from 2 s, capped at a minute
    INTERVAL = "interval"  # the same input fails again: wait a whole interval
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
    Rule(DryRunError, "ValidationFailed", True, Delay.INTERVAL),
    Rule(ApplyError, "ApplyFailed", False, Delay.BACKOFF, _transient_apply, "throttled, 5xx"),
    Rule(ApplyError, "ApplyFailed", True, Delay.INTERVAL, note="refused by the API server"),
    Rule(HookFailedError, "HookFailed", False, Delay.BACKOFF, note="a hook did not complete"),
    Rule(HealthGateError, "HealthCheckTimeout", False, Delay.BACKOFF, _timed_out),
    Rule(HealthGateError, "HealthCheckFailed", False, Delay.BACKOFF),
    Rule(SecretNotFoundError, "SecretNotFound", False, Delay.BACKOFF),
    Rule(SourceAuthError, "AuthenticationFailed", False, Delay.BACKOFF),
    Rule(RefNotFoundError, "RefNotFound", False, Delay.BACKOFF),
    Rule(SourceUnavailableError, "GitOperationFailed", False, Delay.BACKOFF),
    Rule(SourceVerificationError, "VerificationFailed", True, Delay.INTERVAL, note="unsigned"),
    Rule(SourceConfigError, "InvalidSpec", True, Delay.INTERVAL),
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
    error: BaseException, *, failures: int, interval: float, retry_interval: float | None = None
) -> Retry:
    """What to do after `error`, given `failures` consecutive failures before it."""
    rule = rule_for(error)
    reason, stalled = reason_of(error)
    own = getattr(error, "retry_after", None)
    if isinstance(own, int | float) and own > 0:
        return Retry(reason, stalled, min(float(own), RETRY_AFTER_CAP), failures + 1)
    if rule.delay is Delay.NEVER:
        return Retry(reason, stalled, None, 0)
    if rule.delay is Delay.INTERVAL:
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
