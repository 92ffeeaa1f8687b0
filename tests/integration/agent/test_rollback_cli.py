"""`gitmoor rollback` applies an earlier revision, pins the Sync there, and says how to make Git
agree; `gitmoor resume` follows Git again."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap
from tests.integration.agent.test_cli import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def test_rollback_pins_an_earlier_revision_until_resume(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    shas = []
    for version in ("1", "2", "3"):
        shas.append(tree.commit(f"v{version}", {"cm.yaml": configmap("settings", ns, v=version)}))
        tree.push()
        await harness.wait_applied("app", shas[-1])

    code, out, err = await gitmoor("rollback", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    assert f"rolled back to main@sha1:{shas[1]}" in out
    assert f"git revert --no-commit {shas[1][:12]}..{shas[2][:12]}" in out
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "2"}
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert sync["status"]["pinnedRevision"] == f"main@sha1:{shas[1]}"
    assert sync["status"]["lastAppliedRevision"].endswith(shas[1])

    # Automation does not undo the rollback: a new commit is fetched but not applied.
    sha4 = tree.commit("v4", {"cm.yaml": configmap("settings", ns, v="4")})
    tree.push()
    code, _, err = await gitmoor("sync", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "2"}
    code, out, _ = await gitmoor("status", "-n", ns, "-o", "json", kubeconfig=harness.kubeconfig)
    assert json.loads(out)["syncs"][0]["pinned"] == f"main@sha1:{shas[1]}"

    code, _, err = await gitmoor(
        "rollback", "app", "-n", ns, "--to", shas[0], kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1"}

    code, _, err = await gitmoor("resume", "app", "-n", ns, kubeconfig=harness.kubeconfig)
    assert code == 0, err
    sync = await harness.wait_applied("app", sha4)
    assert "pinnedRevision" not in sync["status"]
    assert cond.is_true(sync, cond.READY)


async def test_rollback_to_a_revision_the_source_lacks_changes_nothing(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", sha)

    code, _, err = await gitmoor(
        "rollback", "app", "-n", ns, "--to", "deadbeef", "--timeout", "60s",
        kubeconfig=harness.kubeconfig,
    )  # fmt: skip

    assert code == 2, err
    assert "deadbeef" in err
    assert "nothing changed" in err
    assert "Traceback" not in err
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert "gitmoor.io/pinned-revision" not in (sync["metadata"].get("annotations") or {})
    # Following Git again, as before: Ready at the same revision.
    await harness.wait_applied("app", sha)


async def test_rollback_in_a_shared_repository_goes_to_the_previous_content_of_this_sync(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    # One repository, two apps: the newest commit changed only `cache`, so the previous
    # *commit* runs the very same objects for `web`. Rolling web back means its previous
    # content, two commits back.
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    await harness.source("repo", repo.file_url)
    first = tree.commit(
        "web v1, cache v1",
        {
            "apps/web/cm.yaml": configmap("web", ns, image="frontend:1.0.0"),
            "apps/cache/cm.yaml": configmap("cache", ns, image="redis:7.2"),
        },
    )
    tree.push()
    await harness.sync("web", "repo", "apps/web")
    await harness.sync("cache", "repo", "apps/cache")
    await harness.wait_applied("web", first)
    for message, files in (
        ("web v2", {"apps/web/cm.yaml": configmap("web", ns, image="frontend:1.1.0")}),
        ("cache v2", {"apps/cache/cm.yaml": configmap("cache", ns, image="redis:7.4")}),
    ):
        sha = tree.commit(message, files)
        tree.push()
        await harness.wait_applied("web", sha)

    code, out, err = await gitmoor("rollback", "web", "-n", ns, kubeconfig=harness.kubeconfig)

    assert code == 0, err
    assert first[:12] in out
    live = await harness.kube.get("v1", "ConfigMap", "web", ns)
    assert live is not None
    assert live["data"] == {"image": "frontend:1.0.0"}
    cache = await harness.kube.get("v1", "ConfigMap", "cache", ns)
    assert cache is not None
    assert cache["data"] == {"image": "redis:7.4"}  # the other team's app is untouched

    # The printed command makes Git the truth again for web alone: run as printed, it brings
    # apps/web back to the first commit and leaves the other team's cache v2 in place.
    hint = next(line.strip() for line in out.splitlines() if "git checkout" in line)
    assert "git revert" not in out
    who = {"GIT_AUTHOR_NAME": "ops", "GIT_AUTHOR_EMAIL": "ops@example.com"}
    who |= {"GIT_COMMITTER_NAME": "ops", "GIT_COMMITTER_EMAIL": "ops@example.com"}
    git = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", hint],
        cwd=tree.path,
        env={**tree.env, **who},
        capture_output=True,
        text=True,
        check=False,
    )
    assert git.returncode == 0, git.stderr
    assert (tree.path / "apps/web/cm.yaml").read_text() == configmap(
        "web", ns, image="frontend:1.0.0"
    )
    assert (tree.path / "apps/cache/cm.yaml").read_text() == configmap(
        "cache", ns, image="redis:7.4"
    )


async def test_rollback_to_a_ledger_record(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    assert harness.ledger_url is not None
    ledger = ("--ledger", harness.ledger_url)
    repo, tree = harness.repo(git_servers, unique_name)
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    shas = []
    for version in ("1", "2", "3"):
        shas.append(tree.commit(f"v{version}", {"cm.yaml": configmap("settings", ns, v=version)}))
        tree.push()
        await harness.wait_applied("app", shas[-1])
    code, out, err = await gitmoor(
        "history", "app", "-n", ns, *ledger, "-o", "json", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    first = next(r for r in json.loads(out) if r["revision"].endswith(shas[0]))
    # The ID column of the wide table is the id to name.
    code, out, err = await gitmoor(
        "history", "app", "-n", ns, *ledger, "-o", "wide", kubeconfig=harness.kubeconfig
    )
    assert code == 0, err
    assert any(line.split()[0] == str(first["id"]) for line in out.splitlines()[1:])

    code, out, err = await gitmoor(
        "rollback", "app", "-n", ns, "--to", f"record:{first['id']}", *ledger,
        kubeconfig=harness.kubeconfig,
    )  # fmt: skip
    assert code == 0, err
    assert f"rolled back to main@sha1:{shas[0]}" in out
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1"}

    # An id the ledger does not hold for this Sync: a usage error, nothing changes.
    code, _, err = await gitmoor(
        "rollback", "app", "-n", ns, "--to", "record:999999", *ledger,
        kubeconfig=harness.kubeconfig,
    )  # fmt: skip
    assert code == 2, err
    assert "no record 999999 of Sync" in err
    sync = await harness.get("Sync", "app")
    assert sync is not None
    pinned = (sync["metadata"].get("annotations") or {}).get("gitmoor.io/pinned-revision")
    assert pinned == f"main@sha1:{shas[0]}"
