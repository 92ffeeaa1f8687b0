"""Hooks and waves end to end: Argo CD's and Helm's annotations as a repository carries them,
deployed by the agent onto the real control plane (Jobs run on kwok nodes)."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.model import labels
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness, attempted
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


def job(
    ns: str,
    *,
    hook: str,
    name: str = "",
    annotations: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
    deadline: int | None = None,
    system: str = "argocd.argoproj.io/hook",
) -> str:
    identity = f"name: {name}" if name else "generateName: migrate-"
    notes = "".join(f"    {k}: {v!r}\n" for k, v in {system: hook, **(annotations or {})}.items())
    selector = "".join(f"        {k}: {v!r}\n" for k, v in (node_selector or {}).items())
    return (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n"
        f"  {identity}\n  namespace: {ns}\n  annotations:\n{notes}"
        "spec:\n  backoffLimit: 0\n"
        + (f"  activeDeadlineSeconds: {deadline}\n" if deadline else "")
        + "  template:\n    spec:\n      restartPolicy: Never\n"
        + (f"      nodeSelector:\n{selector}" if selector else "")
        + "      containers:\n        - name: migrate\n          image: busybox:1.37\n"
    )


def hook_configmap(name: str, ns: str, hook: str, system: str = "argocd.argoproj.io/hook") -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
        f"  annotations:\n    {system}: {hook}\ndata:\n  at: {hook}\n"
    )


async def jobs(harness: AgentHarness) -> list[dict[str, Any]]:
    return await harness.kube.list(
        "batch/v1", "Job", harness.namespace, label_selector=f"{labels.SYNC_NAME}=app"
    )


async def test_a_pre_hook_completes_before_anything_else_is_written(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    # The hook's pod can run only on a node carrying this label, which no node has yet.
    gate = {f"gitmoor.test/{unique_name[-20:]}": "yes"}
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1",
        {
            "migrate.yaml": job(ns, hook="PreSync", node_selector=gate),
            "cm.yaml": configmap("settings", ns, v="1"),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", timeout="120s")

    async def pending() -> list[dict[str, Any]]:
        harness.check_alive()
        pods = await harness.kube.list("v1", "Pod", ns)
        return [
            p
            for p in pods
            if any(
                c.get("type") == "PodScheduled" and c.get("status") == "False"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]

    await eventually(pending, bool, within=60, what="the hook's pod waiting for a node")
    # The hook has not completed: nothing of the revision itself may exist yet.
    assert await harness.kube.get("v1", "ConfigMap", "settings", ns) is None
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert not cond.is_true(sync, cond.READY)

    node = "kwok-node-0"
    await harness.kube.patch_merge("v1", "Node", node, "", {"metadata": {"labels": gate}})
    try:
        await harness.wait_applied("app", sha, within=120)
    finally:
        undo = {"metadata": {"labels": dict.fromkeys(gate)}}
        await harness.kube.patch_merge("v1", "Node", node, "", undo)
    (hook,) = await jobs(harness)
    assert hook["metadata"]["name"].startswith("migrate-")  # named by the server
    done = next(c for c in hook["status"]["conditions"] if c["type"] == "Complete")
    made = (await harness.kube.get("v1", "ConfigMap", "settings", ns) or {})["metadata"]
    assert done["lastTransitionTime"] <= made["creationTimestamp"]
    # Hooks are not managed objects: not in the inventory, so never pruned as such.
    status = (await harness.get("Sync", "app") or {})["status"]
    assert "migrate" not in str(status["inventory"])


async def test_hooks_run_once_per_content_and_install_hooks_only_on_install(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    files = {
        "app/migrate.yaml": job(ns, hook="PreSync"),
        "app/installed.yaml": hook_configmap("installed", ns, "pre-install", "helm.sh/hook"),
        "app/cm.yaml": configmap("settings", ns, v="1"),
        # Not a hook: named once by gitmoor, kept across revisions.
        "app/generated.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n"
            f"  namespace: {ns}\ndata:\n  v: '1'\n"
        ),
    }
    first = tree.commit("v1", files)
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "app", timeout="90s")
    await harness.wait_applied("app", first)
    (hook,) = await jobs(harness)
    installed = await harness.kube.get("v1", "ConfigMap", "installed", ns)
    assert installed is not None
    generated = [
        c
        for c in await harness.kube.list("v1", "ConfigMap", ns)
        if c["metadata"]["name"].startswith("gen-")
    ]
    assert len(generated) == 1

    # A commit elsewhere in the repository: same content for this Sync, no hook runs.
    other = tree.commit("elsewhere", {"other/readme.yaml": configmap("x", ns)})
    tree.push()
    await harness.wait_applied("app", other)
    assert [j["metadata"]["uid"] for j in await jobs(harness)] == [hook["metadata"]["uid"]]

    # New content: the PreSync hook runs again (its earlier run deleted first, the default
    # policy); the pre-install hook does not, the Sync is installed already; the generated
    # object is updated in place.
    second = tree.commit(
        "v2",
        {
            "app/cm.yaml": configmap("settings", ns, v="2"),
            "app/generated.yaml": files["app/generated.yaml"].replace("'1'", "'2'"),
        },
    )
    tree.push()
    await harness.wait_applied("app", second)
    (rerun,) = await jobs(harness)
    assert rerun["metadata"]["uid"] != hook["metadata"]["uid"]
    again = await harness.kube.get("v1", "ConfigMap", "installed", ns)
    assert again is not None
    assert again["metadata"]["uid"] == installed["metadata"]["uid"]
    now = await harness.kube.get("v1", "ConfigMap", generated[0]["metadata"]["name"], ns)
    assert now is not None
    assert now["data"] == {"v": "2"}
    assert now["metadata"]["uid"] == generated[0]["metadata"]["uid"]


async def test_a_failed_post_hook_fails_the_revision_runs_syncfail_and_rolls_back(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    good = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", atomic=True, timeout="60s")
    await harness.wait_applied("app", good)

    never = {"gitmoor.test/no-such-node": "true"}
    bad = tree.commit(
        "v2 with a smoke test that fails",
        {
            "cm.yaml": configmap("settings", ns, v="2"),
            "smoke.yaml": job(
                ns,
                hook="PostSync",
                name="smoke",
                node_selector=never,
                deadline=2,
                annotations={"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"},
            ),
            "noted.yaml": hook_configmap("failure-noted", ns, "SyncFail"),
        },
    )
    tree.push()
    sync = await harness.wait_condition("Sync", "app", cond.READY, "False", reason="RolledBack")
    message = cond.get_condition(sync, cond.READY)["message"]
    for part in ("HookFailed", "Job/", "smoke"):
        assert part in message, message
    assert bad[:10] in message
    # The revision's main objects were applied, then restored.
    settings = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert settings is not None
    assert settings["data"] == {"v": "1"}
    # The failed hook stays for inspection (HookSucceeded only); the SyncFail hook ran.
    smoke = await harness.kube.get("batch/v1", "Job", "smoke", ns)
    assert smoke is not None
    # (FailureTarget first, then Failed, on recent Kubernetes versions)
    assert {c["type"] for c in smoke["status"]["conditions"]} & {"Failed", "FailureTarget"}
    noted = await harness.kube.get("v1", "ConfigMap", "failure-noted", ns)
    assert noted is not None
    assert noted["data"] == {"at": "SyncFail"}


async def test_a_hook_the_api_server_refuses_fails_validation_before_anything_is_written(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    broken = job(ns, hook="PreSync").replace("backoffLimit: 0", "backoffLimit: -3")
    sha = tree.commit("v1", {"migrate.yaml": broken, "cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="ValidationFailed"
    )
    message = cond.get_condition(sync, cond.READY)["message"]
    for part in ("Job/", "migrate-*", "backoffLimit", "migrate.yaml"):
        assert part in message, message
    assert str(sync["status"]["lastAttemptedRevision"]).endswith(sha)
    assert await harness.kube.get("v1", "ConfigMap", "settings", ns) is None
    assert await jobs(harness) == []


async def test_a_retry_runs_again_only_the_hooks_that_did_not_complete(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    never = {"gitmoor.test/no-such-node": "true"}
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1 with a migration that works and a smoke test that fails",
        {
            "migrate.yaml": job(ns, hook="PreSync"),
            "smoke.yaml": job(ns, hook="PostSync", name="smoke", node_selector=never, deadline=1),
            "cm.yaml": configmap("settings", ns, v="1"),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", timeout="60s", retryInterval="2s")

    async def runs() -> tuple[list[str], list[str]]:
        found = await jobs(harness)
        migrations = [j["metadata"]["uid"] for j in found if j["metadata"]["name"] != "smoke"]
        smokes = [j["metadata"]["uid"] for j in found if j["metadata"]["name"] == "smoke"]
        return migrations, smokes

    sync = await harness.wait_condition("Sync", "app", cond.READY, "False", reason="HookFailed")
    assert sync["status"]["hooks"]["done"] == ["main", "pre"]
    (migration,), (first_smoke,) = await runs()

    # The retries run the smoke test again (a new Job each time), never the migration.
    found = await eventually(
        runs,
        lambda r: bool(r[1]) and r[1] != [first_smoke],
        within=60,
        what="the smoke test run again by a retry",
    )
    assert found[0] == [migration]
    assert attempted(await harness.get("Sync", "app") or {}).endswith(sha)


async def test_delete_hooks_run_when_the_sync_is_deleted_and_a_failed_one_holds_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    """PreDelete and PostDelete (Argo CD) run only when the Sync is deleted, around the prune.
    A pre-delete hook that fails keeps the Sync and what it applied, and says so; fixed in
    Git, the next revision's hooks run and the deletion completes."""
    ns = harness.namespace
    never = {"gitmoor.test/no-such-node": "true"}
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1",
        {
            "app/cm.yaml": configmap("settings", ns, v="1"),
            "app/check.yaml": job(
                ns, hook="PreDelete", name="check", node_selector=never, deadline=2
            ),
            "app/after.yaml": hook_configmap("after-delete", ns, "PostDelete"),
            "kept/cm.yaml": configmap("kept", ns, v="1"),
            "kept/check.yaml": job(
                ns, hook="PreDelete", name="kept-check", node_selector=never, deadline=2
            ),
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "app", timeout="60s")
    await harness.sync("kept", "repo", "kept", timeout="60s")
    applied = await harness.wait_applied("app", sha)
    await harness.wait_applied("kept", sha)
    # The Sync knows it carries delete hooks (a deletion that cannot read them warns).
    assert applied["status"]["deleteHooks"] is True

    assert await harness.kube.get("batch/v1", "Job", "kept-check", ns) is None

    # The way out without a fix: deletionPolicy Orphan deletes at once, no hooks, no prune.
    await harness.kube.delete("gitmoor.io/v1alpha1", "Sync", "kept", ns)
    await harness.wait_condition("Sync", "kept", cond.READY, "False", reason="DeleteHookFailed")
    orphan = {"spec": {"deletionPolicy": "Orphan"}}
    await harness.kube.patch_merge("gitmoor.io/v1alpha1", "Sync", "kept", ns, orphan)

    async def deleted(name: str) -> bool:
        harness.check_alive()
        return await harness.get("Sync", name) is None

    await eventually(lambda: deleted("kept"), bool, within=60, what="Sync kept deleted")
    assert await harness.kube.get("v1", "ConfigMap", "kept", ns) is not None
    # The failed hook stays for inspection (no hook-failed policy).
    assert await harness.kube.get("batch/v1", "Job", "kept-check", ns) is not None
    # Part of the revision (dry-run with it), but not run by a deployment.
    assert await jobs(harness) == []
    assert await harness.kube.get("v1", "ConfigMap", "after-delete", ns) is None

    await harness.kube.delete("gitmoor.io/v1alpha1", "Sync", "app", ns)
    held = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="DeleteHookFailed"
    )
    message = cond.get_condition(held, cond.READY)["message"]
    assert "pre-delete hook did not complete" in message, message
    assert "Job/" in message, message
    assert "check" in message, message
    # Held like a failed Helm uninstall: nothing pruned, no post-delete hook.
    assert await harness.kube.get("v1", "ConfigMap", "settings", ns) is not None
    assert await harness.kube.get("v1", "ConfigMap", "after-delete", ns) is None

    # Fixed in Git: the next revision's pre-delete hook completes, the rest follows.
    tree.commit(
        "v2: a check that passes",
        {"app/check.yaml": hook_configmap("before-delete", ns, "PreDelete")},
    )
    tree.push()
    await eventually(lambda: deleted("app"), bool, within=90, what="Sync app deleted")
    assert await harness.kube.get("v1", "ConfigMap", "settings", ns) is None
    before = await harness.kube.get("v1", "ConfigMap", "before-delete", ns)
    after = await harness.kube.get("v1", "ConfigMap", "after-delete", ns)
    # No delete policy: the hooks stay, as Helm leaves them after an uninstall.
    assert before is not None
    assert after is not None
    assert before["metadata"]["creationTimestamp"] <= after["metadata"]["creationTimestamp"]
