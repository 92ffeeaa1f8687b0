"""`gitmoor diff` as a reviewer runs it on a pull request: a working tree that is not committed,
a real agent that applied the branch before, the real API server's dry run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from gitmoor.model import InventoryEntry, ObjectRef, inventory
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers, Worktree
from testenv.ports import free_port
from testenv.wait import eventually
from tests.integration.agent import manifests
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment
from tests.integration.gitmoor_process import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


def secret(name: str, namespace: str, **data: str) -> str:
    lines = "".join(f"  {k}: {v}\n" for k, v in data.items())
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"stringData:\n{lines}"
    )


@pytest.fixture
async def applied(
    kube: Kube,
    kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
    git_servers: GitServers,
    unique_name: str,
) -> tuple[Worktree, str]:
    """A branch applied by a real agent to the Sync `app` (path `app`), the agent stopped again;
    returns the working tree (a clone with that branch checked out) and the namespace."""
    await install_crds(kube)
    harness = AgentHarness(kube, kubeconfig, namespace, tmp_path)
    await harness.start()
    try:
        repo, tree = harness.repo(git_servers, unique_name)
        sha = tree.commit(
            "the app",
            {
                "app/settings.yaml": configmap("settings", namespace, v="1"),
                "app/stays.yaml": configmap("stays", namespace, same="yes"),
                "app/old.yaml": configmap("old", namespace, going="soon"),
                "app/creds.yaml": secret("creds", namespace, password="old-pass-7f3a"),
                "app/web.yaml": deployment("web", namespace),
            },
        )
        tree.push()
        await harness.source("repo", repo.file_url)
        await harness.sync("app", "repo", "app")
        await harness.wait_applied("app", sha)
    finally:
        await harness.stop()
    return tree, namespace


async def _versions(kube: Kube, namespace: str) -> dict[str, str]:
    found = {}
    for kind, api in (("ConfigMap", "v1"), ("Secret", "v1"), ("Deployment", "apps/v1")):
        for obj in await kube.list(api, kind, namespace, label_selector="gitmoor.io/sync-name"):
            found[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return found


async def test_diff_shows_a_changed_field_a_new_and_a_pruned_object_and_nothing_else(
    applied: tuple[Worktree, str], kube: Kube, kubeconfig: Path
) -> None:
    tree, ns = applied
    before = await _versions(kube, ns)
    tree.write(
        {
            "app/settings.yaml": configmap("settings", ns, v="2"),
            "app/new.yaml": configmap("new", ns, fresh="1"),
        }
    )
    (tree.path / "app" / "old.yaml").unlink()

    code, out, err = await gitmoor(
        "diff", tree.path / "app", "--sync", "app", "-n", ns, kubeconfig=kubeconfig
    )
    assert code == 1, err
    assert f"+ ConfigMap/{ns}/new  created" in out, err
    assert f"~ ConfigMap/{ns}/settings  changed: data.v" in out
    assert f"- ConfigMap/{ns}/old  pruned" in out
    assert "-  v: '1'" in out
    assert "+  v: '2'" in out
    assert "1 to create, 1 to change, 1 to prune, 3 unchanged" in out
    for noise in ("managedFields", "resourceVersion", "creationTimestamp", "status:", "uid:"):
        assert noise not in out

    code, out, err = await gitmoor(
        "diff", tree.path / "app", "--sync", "app", "-n", ns, "-o", "json", kubeconfig=kubeconfig
    )
    assert code == 1, err
    report = json.loads(out)
    assert report["differences"] is True
    assert [e["subject"] for e in report["created"]] == [f"ConfigMap/{ns}/new"]
    assert report["created"][0]["source"] == "new.yaml:1"
    (changed,) = report["changed"]
    assert changed["subject"] == f"ConfigMap/{ns}/settings"
    assert changed["fields"] == ["data.v"]
    assert [line for line in changed["diff"].splitlines() if line[:1] in "+-"] == [
        f"--- live ConfigMap/{ns}/settings",
        f"+++ desired ConfigMap/{ns}/settings",
        "-  v: '1'",
        "+  v: '2'",
    ]
    assert [e["subject"] for e in report["pruned"]] == [f"ConfigMap/{ns}/old"]
    assert sorted(report["unchanged"]) == sorted(
        [f"ConfigMap/{ns}/stays", f"Deployment/{ns}/web", f"Secret/{ns}/creds"]
    )

    # Nothing was written: same objects, same versions.
    assert await _versions(kube, ns) == before
    assert await kube.get("v1", "ConfigMap", "new", ns) is None


async def test_secret_values_never_show(applied: tuple[Worktree, str], kubeconfig: Path) -> None:
    tree, ns = applied
    tree.write({"app/creds.yaml": secret("creds", ns, password="new-pass-91c2", user="admin")})
    code, out, err = await gitmoor(
        "diff", tree.path / "app", "--sync", "app", "-n", ns, kubeconfig=kubeconfig
    )
    assert code == 1, err
    assert f"~ Secret/{ns}/creds  changed: data.password, data.user" in out
    assert "-  password: '<hidden: old value>'" in out
    assert "+  password: '<hidden: new value>'" in out
    assert "+  user: '<hidden: new value>'" in out
    for value in ("old-pass-7f3a", "new-pass-91c2", "admin"):
        assert value not in out + err
        assert base64.b64encode(value.encode()).decode() not in out + err


async def test_an_unchanged_tree_has_no_differences_with_or_without_the_sync(
    applied: tuple[Worktree, str], kubeconfig: Path
) -> None:
    tree, ns = applied
    code, out, err = await gitmoor(
        "diff", tree.path / "app", "--sync", "app", "-n", ns, kubeconfig=kubeconfig
    )
    assert (code, out.strip()) == (0, "no differences"), err

    # Without a Sync the objects keep the owner their live counterparts have, so gitmoor's
    # labels are no difference either; what would be pruned is not known.
    code, out, err = await gitmoor("diff", tree.path / "app", kubeconfig=kubeconfig)
    assert (code, out.strip()) == (0, "no differences"), err
    assert "pruned are not known" in err

    tree.write({"app/new.yaml": configmap("new", ns, fresh="1")})
    (tree.path / "app" / "old.yaml").unlink()
    code, out, err = await gitmoor("diff", tree.path / "app", "-o", "json", kubeconfig=kubeconfig)
    assert code == 1, err
    report = json.loads(out)
    assert [e["subject"] for e in report["created"]] == [f"ConfigMap/{ns}/new"]
    assert report["changed"] == []
    assert report["pruned"] == []


async def test_objects_whose_crd_or_namespace_the_tree_brings_are_created_not_refused(
    kubeconfig: Path, kube: Kube, tmp_path: Path, unique_name: str
) -> None:
    group = f"{unique_name}.example.com"
    tree = Worktree.init(tmp_path / "tree")
    tree.write(
        {
            "ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {unique_name}\n",
            "cm.yaml": configmap("inside", unique_name, a="1"),
            "crd.yaml": f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gears.{group}
spec:
  group: {group}
  names: {{kind: Gear, plural: gears, singular: gear, listKind: GearList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
""",
            "gear.yaml": (
                f"apiVersion: {group}/v1\nkind: Gear\nmetadata:\n  name: g1\n"
                f"  namespace: {unique_name}\nspec:\n  teeth: 12\n"
            ),
        }
    )
    code, out, err = await gitmoor("diff", tree.path, "-o", "json", kubeconfig=kubeconfig)
    assert code == 1, err
    created = {e["subject"]: e.get("note", "") for e in json.loads(out)["created"]}
    assert created == {
        f"Namespace/{unique_name}": "",
        f"CustomResourceDefinition/gears.{group}": "",
        f"ConfigMap/{unique_name}/inside": (
            f"not validated: Namespace {unique_name} is created by this revision"
        ),
        f"Gear/{unique_name}/g1": "not validated: its CRD is created by this revision",
    }
    assert await kube.get("v1", "Namespace", unique_name) is None
    assert (
        await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gears.{group}")
        is None
    )


async def test_refused_objects_and_missing_syncs_and_bad_arguments_have_their_exit_codes(
    kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    tree = Worktree.init(tmp_path / "tree")
    tree.write({"bad.yaml": configmap("Not_Valid", namespace, a="1")})
    code, _, err = await gitmoor("diff", tree.path, kubeconfig=kubeconfig)
    assert code == 1
    assert f"bad.yaml:1: ConfigMap/{namespace}/Not_Valid" in err
    assert "metadata.name" in err

    code, _, err = await gitmoor(
        "diff", tree.path, "--sync", "nowhere", "-n", namespace, kubeconfig=kubeconfig
    )
    assert code == 3
    assert f"Sync {namespace}/nowhere not found" in err

    code, _, err = await gitmoor(
        "diff", tree.path, "--sync", "x", "--target-namespace", "y", kubeconfig=kubeconfig
    )
    assert code == 2

    # An API server that is not there: exit 3, for CI to tell "cannot check" from "differs".
    unreachable = _unreachable(kubeconfig, tmp_path / "unreachable.kubeconfig")
    code, _, err = await gitmoor("diff", tree.path, kubeconfig=unreachable)
    assert code == 3
    assert "cannot reach the API server" in err


async def test_diff_keeps_what_the_agent_keeps_crds_and_namespaces_in_use_and_takeovers(
    kube: Kube, kubeconfig: Path, namespace: str, tmp_path: Path, unique_name: str
) -> None:
    """The inventory of Sync `app` (no agent needed: diff reads only its status) holds a CRD
    whose custom resource is nobody's, a Namespace holding someone else's ConfigMap, a
    ConfigMap another Sync took over, and one plain ConfigMap: only the last is to prune."""
    await install_crds(kube)
    group, other_ns = f"{unique_name}.example.com", f"{unique_name}-ns"
    mine = {"gitmoor.io/sync-name": "app", "gitmoor.io/sync-namespace": namespace}
    crd = yaml.safe_load(manifests.crd(group, "Gear"))
    crd["metadata"]["labels"] = mine
    crd_name = crd["metadata"]["name"]

    def cm(name: str, ns: str, owner: dict[str, str]) -> dict[str, object]:
        meta = {"name": name, "namespace": ns, "labels": owner}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}

    await kube.apply(crd)
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other_ns, "labels": mine}}
    )
    try:
        await eventually(
            lambda: kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name),
            lambda c: cond.is_true(c or {}, "Established"),
            within=30,
            what=f"CRD {crd_name} to be Established",
        )
        await kube.apply(
            yaml.safe_load(manifests.custom(f"{group}/v1", "Gear", "g1", namespace, "{teeth: 3}"))
        )
        await kube.apply(cm("theirs", other_ns, {}))
        await kube.apply(cm("taken", namespace, {**mine, "gitmoor.io/sync-name": "other"}))
        await kube.apply(cm("plain", namespace, mine))
        await kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Sync",
                "metadata": {"name": "app", "namespace": namespace},
                "spec": {"sourceRef": {"name": "repo"}, "path": ".", "prune": True},
            },
            field_manager="gitmoor-tests",
        )
        listed = [
            (ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", crd_name), "v1"),
            (ObjectRef("", "Namespace", "", other_ns), "v1"),
            (ObjectRef("", "ConfigMap", namespace, "taken"), "v1"),
            (ObjectRef("", "ConfigMap", namespace, "plain"), "v1"),
        ]
        entries = [InventoryEntry.of(ref, version) for ref, version in listed]
        await kube.patch_merge(
            API_VERSION,
            "Sync",
            "app",
            namespace,
            {"status": {"inventory": inventory.encode(entries)}},
            subresource="status",
        )
        tree = Worktree.init(tmp_path / "tree")
        tree.write({"stays.yaml": configmap("stays", namespace, a="1")})

        code, out, err = await gitmoor(
            "diff", tree.path, "--sync", "app", "-n", namespace, "-o", "json", kubeconfig=kubeconfig
        )

        assert code == 1, err
        report = json.loads(out)
        assert [e["subject"] for e in report["pruned"]] == [f"ConfigMap/{namespace}/plain"]
        kept = "\n".join(report["notes"])
        assert f"CustomResourceDefinition/{crd_name} left the tree but is kept: 1 Gear" in kept
        assert f"Namespace/{other_ns} left the tree but is kept: it holds 1 object(s)" in kept
        assert f"ConfigMap/{other_ns}/theirs" in kept
        taken = f"ConfigMap/{namespace}/taken left the tree but is kept: owned by Sync"
        assert f"{taken} {namespace}/other now" in kept
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)
        await kube.delete("v1", "Namespace", other_ns)


def _unreachable(kubeconfig: Path, target: Path) -> Path:
    """A copy of `kubeconfig` naming a port nothing listens on."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    target.write_text(yaml.safe_dump(config))
    return target
