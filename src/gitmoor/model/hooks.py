"""Hooks and waves: what Argo CD's and Helm's annotations mean to gitmoor.

A hook is an object created (never applied) when a new content is deployed, at a point of the
attempt, awaited until it completes, and deleted as its policy says. gitmoor has four points:

- `pre`: after the revision's Namespaces and CRDs, before anything else is written;
- `main`: with the objects of its wave;
- `post`: after the revision is applied, healthy and pruned;
- `on-failure`: when writing the revision failed or it did not turn healthy;
- `pre-delete`, `post-delete`: when the Sync is deleted and prunes what it applied, before and
  after the prune (Argo CD's PreDelete/PostDelete, Helm's pre-delete/post-delete).

Argo CD's `argocd.argoproj.io/hook` wins over Helm's `helm.sh/hook` when both are set, as in
Argo CD. Helm's install hooks run only when the Sync has deployed nothing yet, its upgrade hooks
only when it has. Hooks that belong to other moments (rolling back, `helm test`) and Argo CD's
`Skip` are left out of the revision altogether. Delete hooks are part of the revision (checked
by its dry run) but run only at deletion.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ARGO_HOOK = "argocd.argoproj.io/hook"
ARGO_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
ARGO_WAVE = "argocd.argoproj.io/sync-wave"
HELM_HOOK = "helm.sh/hook"
HELM_DELETE_POLICY = "helm.sh/hook-delete-policy"
HELM_WEIGHT = "helm.sh/hook-weight"


class HookPoint(enum.StrEnum):
    """When in an attempt a hook runs."""

    PRE = "pre"
    MAIN = "main"
    POST = "post"
    ON_FAILURE = "on-failure"
    PRE_DELETE = "pre-delete"
    POST_DELETE = "post-delete"


class When(enum.StrEnum):
    """Which deployments of a Sync a hook runs on."""

    ALWAYS = "always"
    INSTALL = "install"  # the Sync has deployed nothing yet
    UPGRADE = "upgrade"  # the Sync has deployed before


class DeletePolicy(enum.StrEnum):
    """When a hook object is deleted."""

    BEFORE_CREATION = "before-hook-creation"  # the previous one, before it is created again
    SUCCEEDED = "hook-succeeded"
    FAILED = "hook-failed"


_ARGO_POINTS: dict[str, HookPoint | None] = {
    "presync": HookPoint.PRE,
    "sync": HookPoint.MAIN,
    "postsync": HookPoint.POST,
    "syncfail": HookPoint.ON_FAILURE,
    "predelete": HookPoint.PRE_DELETE,
    "postdelete": HookPoint.POST_DELETE,
    # Not a moment of gitmoor's: left out.
    "skip": None,
}
_HELM_POINTS: dict[str, tuple[HookPoint, When] | None] = {
    "pre-install": (HookPoint.PRE, When.INSTALL),
    "pre-upgrade": (HookPoint.PRE, When.UPGRADE),
    "post-install": (HookPoint.POST, When.INSTALL),
    "post-upgrade": (HookPoint.POST, When.UPGRADE),
    "pre-delete": (HookPoint.PRE_DELETE, When.ALWAYS),
    "post-delete": (HookPoint.POST_DELETE, When.ALWAYS),
    "pre-rollback": None,
    "post-rollback": None,
    "test": None,
    "test-success": None,
    "test-failure": None,
    "crd-install": None,
}
_POLICIES = {
    "beforehookcreation": DeletePolicy.BEFORE_CREATION,
    "before-hook-creation": DeletePolicy.BEFORE_CREATION,
    "hooksucceeded": DeletePolicy.SUCCEEDED,
    "hook-succeeded": DeletePolicy.SUCCEEDED,
    "hookfailed": DeletePolicy.FAILED,
    "hook-failed": DeletePolicy.FAILED,
}


@dataclass(frozen=True)
class Hook:
    """What an object's hook annotations say. `runs` pairs each point with the deployments it
    runs on; empty means the object is left out (Skip, rollback or test hooks)."""

    runs: frozenset[tuple[HookPoint, When]]
    weight: int = 0
    policies: frozenset[DeletePolicy] = frozenset({DeletePolicy.BEFORE_CREATION})
    annotation: str = ARGO_HOOK  # the annotation it was read from, for messages

    @property
    def left_out(self) -> bool:
        return not self.runs

    def runs_at(self, point: HookPoint, *, installing: bool) -> bool:
        return any(
            p is point
            and (
                when is When.ALWAYS
                or (when is When.INSTALL and installing)
                or (when is When.UPGRADE and not installing)
            )
            for p, when in self.runs
        )


TRACKED = (HookPoint.PRE, HookPoint.MAIN, HookPoint.POST)  # on-failure hooks are not tracked
DELETION = (HookPoint.PRE_DELETE, HookPoint.POST_DELETE)  # run only when the Sync is deleted


@dataclass(frozen=True)
class HookRuns:
    """Which points' hooks completed for which content (a Sync's `status.hooks`): an attempt
    of that content runs only the others, so a retry or a recovery does not run a migration
    twice, while a failed smoke test is run again."""

    content: str = ""
    done: frozenset[HookPoint] = frozenset()

    def done_for(self, content: str) -> frozenset[HookPoint]:
        return self.done if content and content == self.content else frozenset()

    def with_done(self, point: HookPoint) -> HookRuns:
        return HookRuns(self.content, self.done | {point})

    @classmethod
    def of_status(cls, value: Any) -> HookRuns:
        if not isinstance(value, Mapping):
            return cls()
        done = frozenset(HookPoint(p) for p in value.get("done") or () if p in set(HookPoint))
        return cls(str(value.get("content") or ""), done)

    def as_status(self) -> dict[str, Any]:
        return {"content": self.content, "done": sorted(p.value for p in self.done)}


class HookAnnotationError(ValueError):
    """A hook annotation gitmoor cannot read; the message names the annotation and the value."""

    def __init__(self, annotation: str, message: str) -> None:
        super().__init__(message)
        self.annotation = annotation


def hook_of(obj: dict[str, Any]) -> Hook | None:
    """The object's hook, or None when it is an ordinary object. Raises HookAnnotationError
    for an unknown hook type, delete policy or a weight that is not an integer."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict):
        return None
    argo = annotations.get(ARGO_HOOK)
    helm = annotations.get(HELM_HOOK)
    if argo is None and helm is None:
        return None
    if argo is not None:
        runs = _argo_runs(str(argo))
        source = ARGO_HOOK
    else:
        runs = _helm_runs(str(helm))
        source = HELM_HOOK
    # Argo CD orders hooks by their wave, and reads Helm's weight as one when there is none.
    wave_key = ARGO_WAVE if annotations.get(ARGO_WAVE) is not None else HELM_WEIGHT
    weight = parse_integer(annotations.get(wave_key), wave_key)
    policy_key = ARGO_DELETE_POLICY if source == ARGO_HOOK else HELM_DELETE_POLICY
    if annotations.get(policy_key) is None:
        policy_key = HELM_DELETE_POLICY if source == ARGO_HOOK else ARGO_DELETE_POLICY
    policies = _policies(annotations.get(policy_key), policy_key)
    return Hook(frozenset(runs), weight, policies, source)


def wave_of(obj: dict[str, Any]) -> int:
    """Argo CD's sync wave of an ordinary object (0 without one)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ARGO_WAVE) if isinstance(annotations, dict) else None
    return parse_integer(value, ARGO_WAVE)


def parse_integer(value: Any, annotation: str) -> int:
    if value is None or str(value).strip() == "":
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        raise HookAnnotationError(
            annotation, f'annotation {annotation} must be an integer, got "{value}"'
        ) from None


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _argo_runs(value: str) -> set[tuple[HookPoint, When]]:
    runs: set[tuple[HookPoint, When]] = set()
    for name in _names(value):
        key = name.lower()
        if key not in _ARGO_POINTS:
            known = ", ".join(
                ("PreSync", "Sync", "PostSync", "SyncFail", "PreDelete", "PostDelete", "Skip")
            )
            raise HookAnnotationError(
                ARGO_HOOK, f'annotation {ARGO_HOOK}: unknown hook "{name}" (known: {known})'
            )
        point = _ARGO_POINTS[key]
        if point is not None:
            runs.add((point, When.ALWAYS))
    return runs


def _helm_runs(value: str) -> set[tuple[HookPoint, When]]:
    found: set[tuple[HookPoint, When]] = set()
    for name in _names(value):
        key = name.lower()
        if key not in _HELM_POINTS:
            known = ", ".join(k for k in _HELM_POINTS if k not in ("crd-install",))
            raise HookAnnotationError(
                HELM_HOOK, f'annotation {HELM_HOOK}: unknown hook "{name}" (known: {known})'
            )
        run = _HELM_POINTS[key]
        if run is not None:
            found.add(run)
    # pre-install plus pre-upgrade is simply: every time.
    runs: set[tuple[HookPoint, When]] = set()
    for point in HookPoint:
        whens = {when for p, when in found if p is point}
        if {When.INSTALL, When.UPGRADE} <= whens:
            runs.add((point, When.ALWAYS))
        else:
            runs.update((point, when) for when in whens)
    return runs


def _policies(value: Any, annotation: str) -> frozenset[DeletePolicy]:
    if value is None or str(value).strip() == "":
        # Argo CD's and Helm's default: the previous object goes before the next is created.
        return frozenset({DeletePolicy.BEFORE_CREATION})
    policies: set[DeletePolicy] = set()
    for name in _names(str(value)):
        policy = _POLICIES.get(name.lower())
        if policy is None:
            raise HookAnnotationError(
                annotation,
                f'annotation {annotation}: unknown delete policy "{name}" (known: '
                "before-hook-creation, hook-succeeded, hook-failed; or Argo CD's "
                "BeforeHookCreation, HookSucceeded, HookFailed)",
            )
        policies.add(policy)
    return frozenset(policies)
