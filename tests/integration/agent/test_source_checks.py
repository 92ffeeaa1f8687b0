"""The agent's periodic source checks cost the API server nothing: the credentials Secret is
watched, not read at every check, and a changed Secret still counts from the next check on."""

from __future__ import annotations

import re

from gitmoor.commands.operations import sync_now
from gitmoor.kube import Kube
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

_GET_SECRETS = re.compile(
    r'^apiserver_request_total\{(?=[^}]*verb="GET")(?=[^}]*resource="secrets")[^}]*\}\s+(\S+)',
    re.M,
)


async def secret_reads(kube: Kube) -> int:
    """GETs of Secrets the API server has answered, from its own metrics."""
    answer = await kube.get_raw("/metrics")
    assert answer.status == 200
    text = answer.body.decode()
    return sum(int(float(v)) for v in _GET_SECRETS.findall(text))


def advertisements(servers: GitServers, repo: str) -> int:
    """Ref advertisements the Git server sent for `repo`: one per check."""
    log = (servers.logs_dir / "nginx-access.log").read_text(errors="replace")
    return log.count(f"/{repo}.git/info/refs?service=git-upload-pack")


async def test_checks_read_the_credentials_secret_through_a_watch(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.https_secret(git_servers, "git-auth")
    await harness.source("repo", repo.https_url, secretRef={"name": "git-auth"})  # every 2 s
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)
    reads = await secret_reads(harness.kube)
    checks = advertisements(git_servers, unique_name)

    async def checked() -> int:
        harness.check_alive()
        return advertisements(git_servers, unique_name)

    await eventually(checked, lambda n: n >= checks + 3, within=60, what="three more checks")
    # A password that no longer works shows at the next check, the fixed one at the one after.
    await harness.https_secret(git_servers, "git-auth", password="rotated-wrong")
    await harness.wait_condition(
        "GitSource", "repo", cond.READY, "False", reason="AuthenticationFailed"
    )
    await harness.https_secret(git_servers, "git-auth")
    moved = tree.commit("v2", {"cm.yaml": configmap("settings", ns, v="2")})
    tree.push()
    await harness.wait_applied("app", moved)

    # Many checks, two changes of the Secret: not one GET of it.
    assert advertisements(git_servers, unique_name) >= checks + 5
    assert await secret_reads(harness.kube) == reads


async def test_a_source_that_finds_a_new_revision_wakes_the_sources_sharing_its_check(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "v1", {"a/cm.yaml": configmap("a", ns, v="1"), "b/cm.yaml": configmap("b", ns, v="1")}
    )
    tree.push()
    await harness.https_secret(git_servers, "git-auth")
    for name in ("a", "b"):
        # Checked every 10 minutes: only a request, or a sibling's news, makes one look sooner.
        await harness.source(name, repo.https_url, secretRef={"name": "git-auth"}, interval="10m")
        await harness.sync(f"app-{name}", name, path=f"./{name}")
    for name in ("a", "b"):
        await harness.wait_applied(f"app-{name}", sha)
    moved = tree.commit(
        "v2", {"a/cm.yaml": configmap("a", ns, v="2"), "b/cm.yaml": configmap("b", ns, v="2")}
    )
    tree.push()

    await sync_now(harness.kube, "app-a", ns, timeout=90)  # `gitmoor sync app-a`

    # Source b shares a's check (same URL, ref and Secret): a's news wakes it.
    await harness.wait_applied("app-b", moved)
