"""A Secret kept in Git encrypted with SOPS reaches the cluster decrypted, and its value appears
nowhere else: not in the Sync's status, its Events, or the ledger."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from gitmoor.ledger import Ledger
from gitmoor.reconcile import conditions as cond
from gitmoor.render import sops
from testenv.gitserver import GitServers
from testenv.sops import age_key, encrypt
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]
SENTINEL = "SENTINEL-SOPS-IN-CLUSTER"


def files_holding(top: Path, needle: bytes) -> list[Path]:
    return [p for p in top.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_a_sops_secret_is_applied_decrypted_and_its_value_stays_in_the_secret(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    key = age_key()
    secret = (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {ns}\n"
        f"stringData:\n  password: {SENTINEL}\n"
    )
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "a secret",
        {"secret.yaml": encrypt(secret, "secret.yaml", key.recipient, only="^stringData$")},
    )
    tree.push()
    await harness.secret("sops-keys", {"team.agekey": key.identity})
    await harness.source("repo", repo.file_url)
    # Atomic: the agent keeps the healthy revision's objects, the decrypted Secret among them.
    await harness.sync(
        "app",
        "repo",
        decryption={"provider": "sops", "secretRef": {"name": "sops-keys"}},
        atomic=True,
    )

    sync = await harness.wait_applied("app", sha)

    live = await harness.kube.get("v1", "Secret", "db", ns)
    assert live is not None
    assert base64.b64decode(live["data"]["password"]).decode() == SENTINEL
    assert SENTINEL not in str(sync)
    events = await harness.kube.list("v1", "Event", ns)
    assert SENTINEL not in str(events)
    assert harness.ledger_url is not None
    async with await Ledger.open(harness.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    assert records
    assert SENTINEL not in repr(records)
    # The rollback snapshot is on disk, sealed: no file the agent wrote holds the value.
    cache = harness.workdir / "agent-cache"
    await eventually(
        lambda: asyncio.to_thread(lambda: list((cache / "healthy").glob("*.snap"))),
        bool,
        within=30,
        what="the atomic Sync's snapshot on disk",
    )
    plaintext = await asyncio.to_thread(files_holding, cache, SENTINEL.encode())
    assert plaintext == []


async def test_without_the_keys_secret_the_sync_waits_and_names_it(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    key = age_key()
    repo, tree = harness.repo(git_servers, unique_name)
    tree.commit("a secret", {"s.yaml": encrypt("a: b\n", "s.yaml", key.recipient)})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", decryption={"secretRef": {"name": "missing-keys"}})

    sync = await harness.wait_condition(
        "Sync", "app", cond.READY, "False", reason="DecryptionSecretNotFound"
    )
    assert "missing-keys" in (cond.get_condition(sync, cond.READY) or {})["message"]


async def test_without_dev_shm_the_agent_refuses_to_decrypt_files_to_disk(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The agent runs in this process: it finds no writable /dev/shm.
    monkeypatch.setattr(sops, "_MEMORY", tmp_path / "no-shm")
    ns = harness.namespace
    key = age_key()
    kustomization = (
        f"namespace: {ns}\nsecretGenerator:\n  - name: db\n    envs: [db.env]\n"
        "generatorOptions:\n  disableNameSuffixHash: true\n"
    )
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit(
        "a generated secret",
        {
            "app/kustomization.yaml": kustomization,
            "app/db.env": encrypt(f"password={SENTINEL}\n", "db.env", key.recipient),
        },
    )
    tree.push()
    await harness.secret("sops-keys", {"team.agekey": key.identity})
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo", "app", decryption={"secretRef": {"name": "sops-keys"}})

    sync = await harness.wait_attempted("app", sha)
    ready = cond.get_condition(sync, cond.READY) or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "BuildFailed"), ready
    assert "no writable memory-backed /dev/shm" in ready["message"]
    assert await harness.kube.get("v1", "Secret", "db", ns) is None
