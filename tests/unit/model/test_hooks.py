"""What Argo CD's and Helm's hook annotations mean to gitmoor: a case table."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.model.hooks import (
    DeletePolicy,
    Hook,
    HookAnnotationError,
    HookPoint,
    When,
    hook_of,
    wave_of,
)

PRE, MAIN, POST, FAIL = HookPoint.PRE, HookPoint.MAIN, HookPoint.POST, HookPoint.ON_FAILURE
ALWAYS, INSTALL, UPGRADE = When.ALWAYS, When.INSTALL, When.UPGRADE
PRE_DELETE, POST_DELETE = HookPoint.PRE_DELETE, HookPoint.POST_DELETE
BEFORE, OK, KO = DeletePolicy.BEFORE_CREATION, DeletePolicy.SUCCEEDED, DeletePolicy.FAILED


def job(**annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "migrate-", "annotations": annotations},
    }


ARGO = "argocd.argoproj.io/hook"
HELM = "helm.sh/hook"
WAVE = "argocd.argoproj.io/sync-wave"

CASES: list[tuple[str, dict[str, str], set[tuple[HookPoint, When]], int, set[DeletePolicy]]] = [
    ("argo PreSync", {ARGO: "PreSync"}, {(PRE, ALWAYS)}, 0, {BEFORE}),
    ("argo Sync", {ARGO: "Sync"}, {(MAIN, ALWAYS)}, 0, {BEFORE}),
    ("argo PostSync", {ARGO: "PostSync"}, {(POST, ALWAYS)}, 0, {BEFORE}),
    ("argo SyncFail", {ARGO: "SyncFail"}, {(FAIL, ALWAYS)}, 0, {BEFORE}),
    ("argo list", {ARGO: "PreSync, PostSync"}, {(PRE, ALWAYS), (POST, ALWAYS)}, 0, {BEFORE}),
    ("argo case-insensitive", {ARGO: "presync"}, {(PRE, ALWAYS)}, 0, {BEFORE}),
    ("argo Skip is left out", {ARGO: "Skip"}, set(), 0, {BEFORE}),
    (
        "argo delete hooks",
        {ARGO: "PreDelete,PostDelete"},
        {(PRE_DELETE, ALWAYS), (POST_DELETE, ALWAYS)},
        0,
        {BEFORE},
    ),
    (
        "argo wave and policies",
        {ARGO: "PreSync", WAVE: "-2", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"},
        {(PRE, ALWAYS)},
        -2,
        {OK},
    ),
    (
        "argo two policies",
        {ARGO: "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed"},
        {(POST, ALWAYS)},
        0,
        {OK, KO},
    ),
    ("helm pre-install only", {HELM: "pre-install"}, {(PRE, INSTALL)}, 0, {BEFORE}),
    ("helm pre-upgrade only", {HELM: "pre-upgrade"}, {(PRE, UPGRADE)}, 0, {BEFORE}),
    ("helm pre both", {HELM: "pre-install,pre-upgrade"}, {(PRE, ALWAYS)}, 0, {BEFORE}),
    (
        "helm post both, weight, policy",
        {
            HELM: "post-install,post-upgrade",
            "helm.sh/hook-weight": "5",
            "helm.sh/hook-delete-policy": "hook-succeeded,before-hook-creation",
        },
        {(POST, ALWAYS)},
        5,
        {OK, BEFORE},
    ),
    ("helm test is left out", {HELM: "test"}, set(), 0, {BEFORE}),
    (
        "helm delete runs at deletion, rollback is left out",
        {HELM: "pre-delete,post-rollback"},
        {(PRE_DELETE, ALWAYS)},
        0,
        {BEFORE},
    ),
    (
        "helm hook that also runs on install",
        {HELM: "pre-install,pre-delete"},
        {(PRE, INSTALL), (PRE_DELETE, ALWAYS)},
        0,
        {BEFORE},
    ),
    (
        "argo wins over helm, wave over weight",
        {ARGO: "PostSync", HELM: "pre-install", WAVE: "3", "helm.sh/hook-weight": "9"},
        {(POST, ALWAYS)},
        3,
        {BEFORE},
    ),
    (
        "argo hook with helm's policy",
        {ARGO: "PreSync", "helm.sh/hook-delete-policy": "hook-failed"},
        {(PRE, ALWAYS)},
        0,
        {KO},
    ),
]


@pytest.mark.parametrize(
    ("annotations", "runs", "weight", "policies"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hook_annotations(
    annotations: dict[str, str],
    runs: set[tuple[HookPoint, When]],
    weight: int,
    policies: set[DeletePolicy],
) -> None:
    hook = hook_of(job(**annotations))
    assert hook is not None
    assert (set(hook.runs), hook.weight, set(hook.policies)) == (runs, weight, policies)
    assert hook.left_out == (not runs)


def test_an_object_without_hook_annotations_is_no_hook() -> None:
    assert hook_of(job(**{WAVE: "2"})) is None
    assert hook_of({"kind": "ConfigMap", "metadata": {"name": "a"}}) is None


@pytest.mark.parametrize(
    ("annotations", "names"),
    [
        ({ARGO: "BeforeSync"}, (ARGO, '"BeforeSync"')),
        ({HELM: "pre-instal"}, (HELM, '"pre-instal"')),
        ({ARGO: "PreSync", WAVE: "one"}, (WAVE, '"one"')),
        ({HELM: "pre-install", "helm.sh/hook-weight": "1.5"}, ("helm.sh/hook-weight", '"1.5"')),
        (
            {ARGO: "PreSync", "argocd.argoproj.io/hook-delete-policy": "Always"},
            ("argocd.argoproj.io/hook-delete-policy", '"Always"'),
        ),
    ],
)
def test_unreadable_hook_annotations_are_named(
    annotations: dict[str, str], names: tuple[str, str]
) -> None:
    with pytest.raises(HookAnnotationError) as caught:
        hook_of(job(**annotations))
    assert caught.value.annotation == names[0]
    assert names[1] in str(caught.value)


@pytest.mark.parametrize(
    ("hook", "point", "installing", "runs"),
    [
        (Hook(frozenset({(PRE, INSTALL)})), PRE, True, True),
        (Hook(frozenset({(PRE, INSTALL)})), PRE, False, False),
        (Hook(frozenset({(PRE, UPGRADE)})), PRE, True, False),
        (Hook(frozenset({(PRE, UPGRADE)})), PRE, False, True),
        (Hook(frozenset({(PRE, ALWAYS)})), PRE, False, True),
        (Hook(frozenset({(PRE, ALWAYS)})), POST, False, False),
    ],
)
def test_install_and_upgrade_hooks_run_on_their_deployments(
    hook: Hook, point: HookPoint, installing: bool, runs: bool
) -> None:
    assert hook.runs_at(point, installing=installing) is runs


def test_an_ordinary_objects_wave() -> None:
    assert wave_of(job(**{WAVE: " 4 "})) == 4
    assert wave_of(job()) == 0
    with pytest.raises(HookAnnotationError):
        wave_of(job(**{WAVE: "late"}))


def test_hook_runs_remember_points_per_content() -> None:
    from gitmoor.model.hooks import HookRuns

    runs = HookRuns("sha256:a").with_done(PRE)
    assert runs.done_for("sha256:a") == {PRE}
    assert runs.done_for("sha256:b") == frozenset()  # new content: every point again
    assert runs.done_for("") == frozenset()
    again = HookRuns.of_status(runs.with_done(MAIN).as_status())
    assert again == HookRuns("sha256:a", frozenset({PRE, MAIN}))
    assert HookRuns.of_status(None) == HookRuns()
    assert HookRuns.of_status({"content": "x", "done": ["pre", "sideways"]}).done == {PRE}
