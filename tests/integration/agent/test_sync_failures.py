"""When things go wrong: clear conditions, nothing half-applied, recovery by itself."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.ports import free_port
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_deployment_that_never_becomes_ready_is_unhealthy_with_the_reason(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    stuck = deployment(
        "stuck",
        ns,
        extra_spec="      nodeSelector:\n        no-such-label: anywhere\n",
    ).replace("  replicas: 1\n", "  replicas: 1\n  progressDeadlineSeconds: 3\n")
    sha = tree.commit("stuck", {"stuck.yaml": stuck})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", timeout="60s")
    sync = await harness.wait_condition("Sync", "app", cond.HEALTHY, "False", within=120)
    ready = cond.get_condition(sync, cond.READY) or {}
    assert ready["status"] == "False"
    assert ready["reason"] == "HealthCheckFailed"
    assert "Deployment" in ready["message"]
    assert "stuck" in ready["message"]
    assert "ProgressDeadlineExceeded" in ready["message"] or "progress deadline" in ready["message"]
    assert sync["status"]["lastAppliedRevision"].endswith(sha)
    assert sync["status"].get("lastHealthyRevision") is None


async def test_invalid_yaml_stalls_with_file_and_line(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit(
        "broken",
        {
            "ok.yaml": configmap("fine", ns, a="1"),
            "bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [unclosed\n",
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_condition("Sync", "app", cond.STALLED, "True", reason="BuildFailed")
    message = (cond.get_condition(sync, cond.READY) or {})["message"]
    assert "bad.yaml:" in message
    assert await harness.kube.get("v1", "ConfigMap", "fine", ns) is None


async def test_three_invalid_objects_are_reported_together_and_nothing_is_applied(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    bad_replicas = deployment("bad-one", ns).replace("replicas: 1", "replicas: many")
    bad_port = f"""apiVersion: v1
kind: Service
metadata:
  name: bad-two
  namespace: {ns}
spec:
  ports:
    - port: 99999
"""
    bad_name = configmap("Bad_Three", ns, a="1")
    tree.commit(
        "three bad",
        {
            "good.yaml": configmap("good", ns, a="1"),
            "one.yaml": bad_replicas,
            "two.yaml": bad_port,
            "three.yaml": bad_name,
        },
    )
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="ValidationFailed"
    )
    message = (cond.get_condition(sync, cond.READY) or {})["message"]
    assert "3 object(s)" in message
    for name in ("bad-one", "bad-two", "Bad_Three"):
        assert name in message
    assert cond.is_true(sync, cond.STALLED)
    assert await harness.kube.get("v1", "ConfigMap", "good", ns) is None


async def test_wrong_credentials_are_reported_and_recovered_from(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.https_secret(git_servers, "git-auth", password="wrong-password")
    await harness.source("repo", repo.https_url, secretRef={"name": "git-auth"})
    await harness.sync("app", "repo")
    source = await harness.wait_condition(
        "GitSource", "repo", cond.READY, "False", reason="AuthenticationFailed"
    )
    message = (cond.get_condition(source, cond.READY) or {})["message"]
    assert "wrong-password" not in message
    assert "authentication" in message.lower()
    sync = await harness.wait_condition("Sync", "app", cond.READY, "False")
    assert not cond.is_true(sync, cond.STALLED)

    # Each retry fails the same way: kubectl sees one Event whose count grows.
    async def auth_events() -> list[dict[str, Any]]:
        found = await harness.kube.list("v1", "Event", ns)
        return [
            e
            for e in found
            if e["reason"] == "AuthenticationFailed" and e["involvedObject"]["name"] == "repo"
        ]

    folded = await eventually(
        auth_events,
        lambda es: len(es) == 1 and es[0]["count"] >= 2,
        within=60,
        what="folded events",
    )
    assert "wrong-password" not in folded[0]["message"]

    await harness.https_secret(git_servers, "git-auth")  # fixed
    await harness.wait_applied("app", sha, within=120)
    source = await harness.get("GitSource", "repo")
    assert cond.is_true(source, cond.READY)


async def test_unreachable_server_is_reported_and_recovered_from(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.https_secret(git_servers, "git-auth")
    closed = f"https://127.0.0.1:{free_port()}/{unique_name}.git"
    await harness.source("repo", closed, secretRef={"name": "git-auth"})
    await harness.sync("app", "repo")
    source = await harness.wait_condition(
        "GitSource", "repo", cond.READY, "False", reason="GitOperationFailed"
    )
    assert "127.0.0.1" in (cond.get_condition(source, cond.READY) or {})["message"]

    await harness.source("repo", repo.https_url, secretRef={"name": "git-auth"})  # fixed
    await harness.wait_applied("app", sha, within=120)


async def test_ssh_source_and_semver_tag_selection(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("1.0", {"cm.yaml": configmap("settings", ns, v="1.0.0")})
    tree.tag("v1.0.0")
    sha_14 = tree.commit("1.4", {"cm.yaml": configmap("settings", ns, v="1.4.2")})
    tree.tag("v1.4.2", message="release 1.4.2")
    tree.commit("2.0", {"cm.yaml": configmap("settings", ns, v="2.0.0")})
    tree.tag("v2.0.0")
    tree.push(tags=True)
    await harness.ssh_secret(git_servers, "ssh-auth")
    await harness.source(
        "repo", repo.ssh_url, secretRef={"name": "ssh-auth"}, ref={"semver": ">=1.0.0 <2.0.0"}
    )
    await harness.sync("app", "repo")
    sync = await harness.wait_applied("app", sha_14)
    assert sync["status"]["lastAppliedRevision"] == f"v1.4.2@sha1:{sha_14}"
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1.4.2"}


async def test_ssh_source_with_an_unknown_host_key_is_refused(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    # The server's address with some other host's key: what a man in the middle looks like.
    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    other_key = f"[127.0.0.1]:{git_servers.ssh_port} {public}\n"
    await harness.ssh_secret(git_servers, "ssh-auth", known_hosts=other_key)
    await harness.source("repo", repo.ssh_url, secretRef={"name": "ssh-auth"})
    source = await harness.wait_condition(
        "GitSource", "repo", cond.READY, "False", reason="AuthenticationFailed"
    )
    assert "host key" in (cond.get_condition(source, cond.READY) or {})["message"].lower()
