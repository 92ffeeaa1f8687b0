"""One owner per object: two Syncs that declare the same object never fight over it. The second
is refused naming the first, unless the first released it or the second asks to take it over;
a takeover is recorded, and the former owner neither corrects nor prunes the object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitmoor.commands.operations import sync_now
from gitmoor.ledger import Ledger
from gitmoor.model import Action
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness, Obj
from tests.integration.agent.manifests import configmap
from tests.integration.agent.test_cli import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

SHARED = "shared"
TAKEOVER = {"gitmoor.io/takeover": "true"}


def _annotated(yaml_text: str, **annotations: str) -> str:
    lines = "".join(f"    {k}: {v!r}\n" for k, v in annotations.items())
    return yaml_text.replace("metadata:\n", f"metadata:\n  annotations:\n{lines}", 1)


async def _two_syncs(
    h: AgentHarness,
    git_servers: GitServers,
    name: str,
    *,
    first: dict[str, str],
    second: dict[str, str],
) -> tuple[Worktree, str]:
    """Sync `first` applies its path and is Ready; then Sync `second` is created on its own path
    of the same repository. Returns the worktree and the commit."""
    repo, tree = h.repo(git_servers, name)
    sha = tree.commit(
        "two apps",
        {
            **{f"first/{k}": v for k, v in first.items()},
            **{f"second/{k}": v for k, v in second.items()},
        },
    )
    tree.push()
    await h.source("repo", repo.file_url)
    await h.sync("first", "repo", "first")
    await h.wait_applied("first", sha)
    # A long interval: whatever the second Sync does later, something woke it.
    await h.sync("second", "repo", "second", interval="1h")
    return tree, sha


def _owner(obj: Obj) -> str:
    found = obj["metadata"].get("labels") or {}
    return f"{found.get('gitmoor.io/sync-namespace')}/{found.get('gitmoor.io/sync-name')}"


def _ready(sync: Obj | None) -> tuple[str, str, str]:
    ready = cond.get_condition(sync or {}, cond.READY) or {}
    return (str(ready.get("status")), str(ready.get("reason")), str(ready.get("message")))


async def _live(h: AgentHarness, name: str = SHARED) -> Obj:
    live = await h.kube.get("v1", "ConfigMap", name, h.namespace)
    assert live is not None, f"ConfigMap {name} is gone"
    return live


async def _reconcile_both_a_few_times(h: AgentHarness) -> None:
    """`gitmoor sync` on each Sync in turn: full reconciles, each waited for."""
    for _ in range(3):
        for name in ("first", "second"):
            await sync_now(h.kube, name, h.namespace, timeout=60)


async def test_a_second_sync_declaring_the_same_object_is_refused_and_nothing_flips(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    tree, _ = await _two_syncs(
        h,
        git_servers,
        unique_name,
        first={"cm.yaml": configmap(SHARED, ns, by="first")},
        second={
            "cm.yaml": configmap(SHARED, ns, by="second"),
            "own.yaml": configmap("second-only", ns, v="1"),
        },
    )

    refused = await h.wait_condition(
        "Sync", "second", cond.READY, "False", reason="OwnershipConflict"
    )

    message = _ready(refused)[2]
    assert message.startswith("1 object(s) owned by other Syncs; nothing was applied.")
    assert 'gitmoor.io/takeover: "true"' in message
    assert f"ConfigMap/{ns}/{SHARED}: owned by Sync {ns}/first, which still declares it" in message
    assert cond.is_true(refused, cond.STALLED)
    # The whole revision is refused: not even the object nobody else declares was written.
    assert await h.kube.get("v1", "ConfigMap", "second-only", ns) is None
    live = await _live(h)
    assert (_owner(live), live["data"]) == (f"{ns}/first", {"by": "first"})
    rv = live["metadata"]["resourceVersion"]

    await _reconcile_both_a_few_times(h)

    live = await _live(h)
    assert live["metadata"]["resourceVersion"] == rv, "someone wrote the shared object"
    assert _ready(await h.get("Sync", "first"))[:2] == ("True", "ReconciliationSucceeded")
    assert _ready(await h.get("Sync", "second"))[1] == "OwnershipConflict"

    # `gitmoor diff` says so before a pull request merges, and shows what a takeover would do.
    diff = ("diff", str(tree.path / "second"), "--sync", "second", "-n", ns)
    code, _, err = await gitmoor(*diff, kubeconfig=h.kubeconfig)
    assert code == 1
    assert f"ConfigMap/{ns}/{SHARED}: owned by Sync {ns}/first, which still declares it" in err
    tree.write({"second/cm.yaml": _annotated(configmap(SHARED, ns, by="second"), **TAKEOVER)})
    code, out, err = await gitmoor(*diff, "-o", "json", kubeconfig=h.kubeconfig)
    assert code == 1, err
    changed = json.loads(out)["changed"]
    assert [(c["subject"], c["note"]) for c in changed] == [
        (
            f"ConfigMap/{ns}/{SHARED}",
            f'taken over from Sync {ns}/first: gitmoor.io/takeover: "true" while Sync '
            f"{ns}/first still declares it",
        )
    ]
    assert (await _live(h))["metadata"]["resourceVersion"] == rv


async def test_a_takeover_by_annotation_is_recorded_and_the_former_owner_stops_managing_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    _, sha = await _two_syncs(
        h,
        git_servers,
        unique_name,
        first={"cm.yaml": configmap(SHARED, ns, by="first")},
        second={"cm.yaml": _annotated(configmap(SHARED, ns, by="second"), **TAKEOVER)},
    )

    await h.wait_applied("second", sha)
    # The former owner's watch sees the relabel: it corrects nothing and is refused at once,
    # since its path still declares the object.
    first = await h.wait_condition(
        "Sync", "first", cond.READY, "False", reason="OwnershipConflict", within=30
    )
    assert (
        f"owned by Sync {ns}/second, which took it over with gitmoor.io/takeover"
        in (_ready(first)[2])
    )
    live = await _live(h)
    assert (_owner(live), live["data"]) == (f"{ns}/second", {"by": "second"})
    rv = live["metadata"]["resourceVersion"]

    await _reconcile_both_a_few_times(h)

    live = await _live(h)
    assert live["metadata"]["resourceVersion"] == rv, "the two Syncs took turns writing it"
    assert _ready(await h.get("Sync", "second"))[:2] == ("True", "ReconciliationSucceeded")
    assert _ready(await h.get("Sync", "first"))[1] == "OwnershipConflict"
    events = await h.events("Sync", "second")
    assert any(
        e["reason"] == "TakenOver"
        and f"ConfigMap/{ns}/{SHARED}: taken over from Sync {ns}/first" in e["message"]
        for e in events
    )
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="second", namespace=ns, changed_only=True)
    taken = [o for r in records for o in r.objects if o.action is Action.TAKEN_OVER]
    assert [(o.ref.kind, o.ref.name) for o in taken] == [("ConfigMap", SHARED)]


async def test_deleting_the_former_owner_leaves_what_was_taken_over_in_place(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    _, sha = await _two_syncs(
        h,
        git_servers,
        unique_name,
        first={
            "cm.yaml": configmap(SHARED, ns, by="first"),
            "own.yaml": configmap("first-only", ns, v="1"),
        },
        second={"cm.yaml": _annotated(configmap(SHARED, ns, by="second"), **TAKEOVER)},
    )
    await h.wait_applied("second", sha)
    await h.wait_condition("Sync", "first", cond.READY, "False", reason="OwnershipConflict")
    first = await h.get("Sync", "first")
    assert first is not None
    # Its inventory still lists the object: only the live labels say it is not its own now.
    ids = [e["id"] for e in first["status"]["inventory"]["entries"]]
    assert f"_ConfigMap_{ns}_{SHARED}" in ids

    # Deleting the first Sync prunes what it applied (deletionPolicy Delete, by default).
    await h.kube.delete("gitmoor.io/v1alpha1", "Sync", "first", ns)
    await h.wait_for("Sync", "first", lambda o: not o, what="Sync first gone")

    assert await h.kube.get("v1", "ConfigMap", "first-only", ns) is None
    live = await _live(h)
    assert (_owner(live), live["data"]) == (f"{ns}/second", {"by": "second"})
    events = await h.events("Sync", "first")
    assert any(
        e["reason"] == "PruneKept" and f"owned by Sync {ns}/second now" in e["message"]
        for e in events
    ), [e["message"] for e in events]
    rv = live["metadata"]["resourceVersion"]
    await sync_now(h.kube, "second", ns, timeout=60)
    assert (await _live(h))["metadata"]["resourceVersion"] == rv
    assert _ready(await h.get("Sync", "second"))[0] == "True"


async def test_an_object_the_owner_releases_is_adopted_with_a_takeover_in_the_ledger(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    kept = {"gitmoor.io/prune": "disabled"}  # the first Sync's prune leaves it in place
    tree, _ = await _two_syncs(
        h,
        git_servers,
        unique_name,
        first={
            "cm.yaml": _annotated(configmap(SHARED, ns, by="first"), **kept),
            "own.yaml": configmap("first-only", ns, v="1"),
        },
        second={"cm.yaml": configmap(SHARED, ns, by="second")},
    )
    await h.wait_condition("Sync", "second", cond.READY, "False", reason="OwnershipConflict")

    released = tree.commit("first lets go of the shared object", {}, remove=["first/cm.yaml"])
    tree.push()
    await h.wait_applied("first", released)
    first = await h.get("Sync", "first")
    assert first is not None
    assert f"_ConfigMap_{ns}_{SHARED}" not in [
        e["id"] for e in first["status"]["inventory"]["entries"]
    ]
    # The first Sync's applied revision released the object: the refused one is tried again at
    # once, not at its interval, and adopts it.
    adopted = await h.wait_condition("Sync", "second", cond.READY, "True", within=30)

    assert _ready(adopted)[1] == "ReconciliationSucceeded"
    live = await _live(h)
    assert (_owner(live), live["data"]) == (f"{ns}/second", {"by": "second"})
    code, out, err = await gitmoor(
        "history",
        "second",
        "-n",
        ns,
        "--ledger",
        str(h.ledger_url),
        "-o",
        "json",
        kubeconfig=h.kubeconfig,
    )
    assert code == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    taken = [
        (o["kind"], o["name"]) for r in records for o in r["objects"] if o["action"] == "taken_over"
    ]
    assert taken == [("ConfigMap", SHARED)]
    assert any(
        f"took over from other Syncs: ConfigMap/{ns}/{SHARED}" in r["message"] for r in records
    )
    code, out, err = await gitmoor(
        "history",
        "second",
        "-n",
        ns,
        "--ledger",
        str(h.ledger_url),
        "-o",
        "wide",
        kubeconfig=h.kubeconfig,
    )
    assert code == 0, err
    assert "1 taken over from another Sync" in out
    # The first Sync no longer watches it: an edit is corrected by the second alone.
    rv = live["metadata"]["resourceVersion"]
    await sync_now(h.kube, "first", ns, timeout=60)
    assert (await _live(h))["metadata"]["resourceVersion"] == rv
    assert _ready(await h.get("Sync", "first"))[0] == "True"

    async def shared() -> Obj:
        return await _live(h)

    await h.kube.patch_merge("v1", "ConfigMap", SHARED, ns, {"data": {"by": "someone"}})
    fixed = await eventually(
        shared, lambda o: o["data"] == {"by": "second"}, within=30, what="the edit corrected"
    )
    assert _owner(fixed) == f"{ns}/second"


async def test_deleting_the_owner_hands_what_it_pruned_to_the_sync_that_was_refused(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    h, ns = harness, harness.namespace
    await _two_syncs(
        h,
        git_servers,
        unique_name,
        first={"cm.yaml": configmap(SHARED, ns, by="first")},
        second={"cm.yaml": configmap(SHARED, ns, by="second")},
    )
    await h.wait_condition("Sync", "second", cond.READY, "False", reason="OwnershipConflict")
    first_uid = (await _live(h))["metadata"]["uid"]

    # The owner's deletion prunes the object: the Sync that still declares it is woken and
    # creates it again, instead of staying refused (or Ready with the object gone).
    await h.kube.delete("gitmoor.io/v1alpha1", "Sync", "first", ns)
    await h.wait_for("Sync", "first", lambda o: not o, what="Sync first gone")
    await h.wait_condition("Sync", "second", cond.READY, "True", within=30)

    live = await _live(h)
    assert live["metadata"]["uid"] != first_uid
    assert (_owner(live), live["data"]) == (f"{ns}/second", {"by": "second"})


def _rbac(name: str, namespace: str) -> dict[str, str]:
    role = f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [list, watch]
"""
    binding = f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {name}
subjects:
  - kind: ServiceAccount
    name: {name}
    namespace: {namespace}
"""
    return {"role.yaml": role, "binding.yaml": binding}


async def test_two_vendor_paths_declaring_one_cluster_role_binding_do_not_fight(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    """The issue's case: kube-prometheus and kube-state-metrics both ship the ClusterRole and
    ClusterRoleBinding `kube-state-metrics` (cluster-scoped, so no targetNamespace separates
    them)."""
    h, ns = harness, harness.namespace
    name = f"ksm-{unique_name}"[:63]
    rbac = "rbac.authorization.k8s.io/v1"
    try:
        await _two_syncs(
            h,
            git_servers,
            unique_name,
            first=_rbac(name, ns),
            second={**_rbac(name, ns), "cm.yaml": configmap("ksm", ns, v="1")},
        )
        refused = await h.wait_condition(
            "Sync", "second", cond.READY, "False", reason="OwnershipConflict"
        )
        message = _ready(refused)[2]
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            assert f"{kind}/{name}: owned by Sync {ns}/first, which still declares it" in message
        assert message.startswith("2 object(s) owned by other Syncs")
        versions = {}
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            live = await h.kube.get(rbac, kind, name)
            assert live is not None
            assert _owner(live) == f"{ns}/first"
            versions[kind] = live["metadata"]["resourceVersion"]

        await _reconcile_both_a_few_times(h)

        for kind in ("ClusterRole", "ClusterRoleBinding"):
            live = await h.kube.get(rbac, kind, name)
            assert live is not None
            assert live["metadata"]["resourceVersion"] == versions[kind], kind
        assert _ready(await h.get("Sync", "first"))[0] == "True"
        assert _ready(await h.get("Sync", "second"))[1] == "OwnershipConflict"
    finally:
        # Cluster-scoped: the test namespace's deletion does not take them along.
        await h.stop()
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            await h.kube.delete(rbac, kind, name)
