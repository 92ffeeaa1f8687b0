"""Only signed commits deploy: a running agent applies a commit signed by a listed key, refuses an
unsigned one on the GitSource (SourceVerified=False, a Warning Event, one notification to the
sinks of its Syncs) while its Sync keeps the last verified revision, and picks up a rotated key
from the Secret without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmoor.ledger import Ledger
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile.status import SOURCE_VERIFIED
from testenv.gitserver import GitServers
from testenv.signing import Signer, openpgp_signer, ssh_signer
from testenv.wait import eventually
from tests.integration.agent.conftest import NOTIFY_KEY
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


@pytest.fixture
def alice(tmp_path: Path) -> Iterator[Signer]:
    signer = openpgp_signer(tmp_path / "alice", "Alice", "alice@example.com")
    yield signer
    signer.stop()


@pytest.fixture
def bob(tmp_path: Path) -> Signer:
    return ssh_signer(tmp_path / "bob", "bob@example.com")


async def test_an_unsigned_commit_is_refused_and_the_sync_keeps_the_last_verified_revision(
    harness: AgentHarness,
    git_servers: GitServers,
    unique_name: str,
    alice: Signer,
    bob: Signer,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    ns = harness.namespace
    url, received = receiver

    async def refusals() -> list[dict[str, Any]]:
        return [n for n in received if n["reason"] == "VerificationFailed"]

    repo, tree = harness.repo(git_servers, unique_name)
    signed = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")}, signer=alice)
    tree.push()
    await harness.secret("signers", {"alice.asc": alice.public, "allowed_signers": bob.public})
    await harness.source("repo", repo.file_url, verify={"secretRef": {"name": "signers"}})
    await harness.secret("notify-key", {"hmacKey": NOTIFY_KEY.decode()})
    sink = {"type": "webhook", "url": url, "secretRef": {"name": "notify-key"}}
    await harness.sync("app", "repo", notifications=[sink])

    await harness.wait_applied("app", signed)
    source = await harness.wait_condition("GitSource", "repo", SOURCE_VERIFIED, "True")
    verified = cond.get_condition(source, SOURCE_VERIFIED) or {}
    assert alice.fingerprint in verified["message"]
    assert signed in verified["message"]
    assert source["status"]["artifact"]["signer"] == alice.fingerprint

    unsigned = tree.commit("v2, unsigned", {"cm.yaml": configmap("settings", ns, v="2")})
    tree.push()
    source = await harness.wait_condition(
        "GitSource", "repo", SOURCE_VERIFIED, "False", reason="Unsigned"
    )
    refused = cond.get_condition(source, SOURCE_VERIFIED) or {}
    assert unsigned in refused["message"]
    assert "is not signed" in refused["message"]
    ready = cond.get_condition(source, cond.READY) or {}
    assert (ready["status"], ready["reason"]) == ("False", "VerificationFailed")
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{signed}"
    warnings = await eventually(
        lambda: harness.events("GitSource", "repo"),
        lambda es: any(e["type"] == "Warning" and e["reason"] == "VerificationFailed" for e in es),
        within=30,
        what="a VerificationFailed Event",
    )
    assert any(unsigned in e["message"] for e in warnings if e["reason"] == "VerificationFailed")
    (told,) = await eventually(
        refusals, lambda got: len(got) >= 1, within=30, what="a VerificationFailed notification"
    )
    assert (told["kind"], told["revision"]) == ("failure", f"main@sha1:{unsigned}")
    assert told["message"].startswith("Unsigned (no signature by any key)")

    # After the source has refused the unsigned commit again at later intervals, the Sync still
    # runs what was verified.
    await eventually(
        lambda: harness.events("GitSource", "repo"),
        lambda es: any(
            e["reason"] == "VerificationFailed" and int(e.get("count") or 1) >= 3 for e in es
        ),
        within=60,
        what="the unsigned commit refused at three intervals",
    )
    assert len(await refusals()) == 1, "the same refusal was notified again"
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert sync["status"]["lastAppliedRevision"] == f"main@sha1:{signed}"
    assert sync["status"]["lastAttemptedRevision"] == f"main@sha1:{signed}"
    live = await harness.kube.get("v1", "ConfigMap", "settings", ns)
    assert live is not None
    assert live["data"] == {"v": "1"}

    # bob (SSH) signs the next commit: it deploys, and the ledger names who signed what.
    by_bob = tree.commit("v3", {"cm.yaml": configmap("settings", ns, v="3")}, signer=bob)
    tree.push()
    await harness.wait_applied("app", by_bob)
    await harness.wait_condition("GitSource", "repo", SOURCE_VERIFIED, "True")
    assert harness.ledger_url is not None
    async with await Ledger.open(harness.ledger_url) as ledger:
        records = await ledger.history(sync="app", namespace=ns)
    signers = {r.commit_sha: r.signer for r in records}
    assert signers[signed] == alice.fingerprint
    assert signers[by_bob] == bob.fingerprint
    assert unsigned not in signers, "an unverified revision was attempted"

    # bob's key leaves the Secret: his signature no longer vouches for the head, and no
    # restart is needed to see it.
    await harness.secret("signers", {"alice.asc": alice.public})
    source = await harness.wait_condition(
        "GitSource", "repo", SOURCE_VERIFIED, "False", reason="UnknownKey"
    )
    assert bob.fingerprint in (cond.get_condition(source, SOURCE_VERIFIED) or {})["message"]
    # A new verdict on a new commit: told once more, naming the key that signed it.
    told = (await eventually(refusals, lambda got: len(got) == 2, within=30, what="a 2nd one"))[1]
    assert told["revision"] == f"main@sha1:{by_bob}"
    assert told["message"].startswith(f"UnknownKey (signed by {bob.fingerprint})")
    assert [n["kind"] for n in received] == ["failure", "failure"], received
    sync = await harness.get("Sync", "app")
    assert sync is not None
    assert sync["status"]["lastAppliedRevision"] == f"main@sha1:{by_bob}"
