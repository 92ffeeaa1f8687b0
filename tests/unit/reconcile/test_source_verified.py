"""A GitSource with spec.verify: what its status, Events and the ledger say about signatures,
from the values a fetch returned (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gitmoor.errors import GitmoorError, SourceUnavailableError, SourceVerificationError
from gitmoor.model import Artifact, Commit, Signature
from gitmoor.model.record import Trigger
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import records, report
from gitmoor.reconcile.status import SOURCE_VERIFIED

URL = "https://git.example.com/apps.git"
OLD = "a" * 40
NEW = "b" * 40
ALICE = "AA54D80E975B848009124D77BC15D8F388ECC1FD"
BOB = "SHA256:QL9dmkvegDO7LukUtuROThOQsRIcBM+Xezk9BGfI/38"


def artifact(sha: str, *signatures: Signature) -> Artifact:
    return Artifact(
        url=URL,
        revision=f"main@sha1:{sha}",
        digest="sha256:00",
        path="/cache/x",
        commit=Commit(sha, "Ada", "ada@example.com", datetime(2026, 12, 1, tzinfo=UTC), "ship"),
        fetched_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        verified_by=signatures,
    )


def source(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "GitSource",
        "metadata": {"name": "apps", "namespace": "team", "generation": 2},
        "spec": {"url": URL, "verify": {"secretRef": {"name": "signers"}}},
        "status": status or {},
    }


def fetched(obj: dict[str, Any], **kwargs: Any) -> report.Report:
    defaults: dict[str, Any] = {
        "artifact": None,
        "error": None,
        "before": None,
        "seconds": 0.1,
        "failures": 0,
        "interval": 60.0,
        "verifying": True,
    }
    return report.fetched(obj, **{**defaults, **kwargs})


def unsigned(sha: str) -> SourceVerificationError:
    return SourceVerificationError(
        f"commit {sha} of {URL} is not signed: refused by spec.verify (keys from Secret "
        "team/signers); sign it with a key in the Secret, or add its public key there",
        url=URL,
        signed="commit",
        sha=sha,
        commit=sha,
        signer=None,
        verdict="Unsigned",
    )


def test_a_verified_revision_names_its_signer_in_the_status() -> None:
    good = artifact(OLD, Signature("commit", OLD, ALICE, "Alice <alice@example.com>"))
    answer = fetched(source(), artifact=good)
    assert answer.status is not None
    verified = cond.get_condition({"status": answer.status}, SOURCE_VERIFIED)
    assert verified is not None
    assert (verified["status"], verified["reason"]) == ("True", "Verified")
    assert verified["message"] == (
        f"main@sha1:{OLD}: commit {OLD} signed by {ALICE} (Alice <alice@example.com>)"
    )
    assert answer.status["artifact"]["signer"] == ALICE
    assert cond.is_true({"status": answer.status}, cond.READY)


def test_an_unsigned_head_keeps_the_last_verified_artifact_and_warns() -> None:
    good = artifact(OLD, Signature("commit", OLD, ALICE))
    before = fetched(source(), artifact=good).status
    assert before is not None
    answer = fetched(source(before), error=unsigned(NEW), before=good)

    assert answer.status is not None
    assert answer.status["artifact"] == before["artifact"]  # still the verified one
    verified = cond.get_condition({"status": answer.status}, SOURCE_VERIFIED)
    assert verified is not None
    assert (verified["status"], verified["reason"]) == ("False", "Unsigned")
    assert f"commit {NEW}" in verified["message"]
    assert "is not signed" in verified["message"]
    ready = cond.get_condition({"status": answer.status}, cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "VerificationFailed")
    assert cond.is_true({"status": answer.status}, cond.STALLED)
    assert [(e.type, e.reason) for e in answer.events] == [("Warning", "VerificationFailed")]
    assert NEW in answer.events[0].message
    assert answer.retry is not None
    assert answer.retry.delay == 60.0  # the next interval looks for a new commit or new keys


def test_a_fetch_that_failed_for_another_reason_leaves_the_verdict_alone() -> None:
    good = artifact(OLD, Signature("commit", OLD, ALICE))
    before = fetched(source(), artifact=good).status
    down = SourceUnavailableError("connection refused", url=URL)
    answer = fetched(source(before), error=down, before=good)
    assert answer.status is not None
    assert cond.get_condition({"status": answer.status}, SOURCE_VERIFIED) == cond.get_condition(
        {"status": before}, SOURCE_VERIFIED
    )


def test_without_verify_there_is_no_verified_condition_and_no_signer() -> None:
    good = artifact(OLD, Signature("commit", OLD, ALICE))
    before = fetched(source(), artifact=good).status
    answer = fetched(source(before), artifact=artifact(OLD), before=good, verifying=False)
    assert answer.status is not None
    assert cond.get_condition({"status": answer.status}, SOURCE_VERIFIED) is None
    assert "signer" not in answer.status["artifact"]


def test_the_ledger_record_carries_the_signers_of_the_revision() -> None:
    place = records.Place("team", "app", "prod", "east", URL)
    both = artifact(OLD, Signature("tag", "7" * 40, BOB), Signature("commit", OLD, ALICE))
    begun = records.started(place, both, trigger=Trigger.INTERVAL, pinned=False, at=1.0)
    assert begun.signer == f"{BOB}, {ALICE}"
    alone = replace(both, verified_by=(Signature("commit", OLD, ALICE),))
    assert records.started(place, alone, trigger=Trigger.INTERVAL, pinned=False, at=1.0).signer == (
        ALICE
    )
    assert (
        records.started(place, artifact(OLD), trigger=Trigger.CLI, pinned=False, at=1.0).signer
        is None
    )
    drift = records.correction(place, f"main@sha1:{OLD}", alone, at=2.0)
    assert drift.signer == ALICE
    assert records.correction(place, f"main@sha1:{NEW}", alone, at=2.0).signer is None


def by_bob_unlisted(sha: str) -> SourceVerificationError:
    return SourceVerificationError(
        f"commit {sha} of {URL} is signed by a key not listed (key {BOB}): refused",
        url=URL,
        signed="commit",
        sha=sha,
        commit=sha,
        signer=BOB,
        verdict="UnknownKey",
    )


def test_a_refused_revision_is_notified_once_per_commit_and_verdict() -> None:
    down = SourceUnavailableError("connection refused", url=URL)
    steps: list[tuple[str, GitmoorError | None, bool]] = [
        ("first refusal of NEW", unsigned(NEW), True),
        ("the same head refused at the next interval", unsigned(NEW), False),
        ("the remote away: nothing judged", down, False),
        ("NEW again after the outage", unsigned(NEW), False),
        ("a newer head, also unsigned", unsigned(OLD), True),
        ("the same head, now signed by an unlisted key", by_bob_unlisted(OLD), True),
        ("a verified revision", None, False),
        ("the same refusal as before the success", by_bob_unlisted(OLD), True),
    ]
    before: report.Refusal | None = None
    for what, error, told in steps:
        before, notes = report.refused_revision(error, before, "main")
        assert bool(notes) is told, what
    assert before == (OLD, "UnknownKey")


def test_the_notification_names_the_commit_and_the_signer_or_its_absence() -> None:
    _, (note,) = report.refused_revision(unsigned(NEW), None, "main")
    assert (note.kind, note.reason, note.revision) == (
        "failure",
        "VerificationFailed",
        f"main@sha1:{NEW}",
    )
    assert note.message.startswith("Unsigned (no signature by any key): ")
    assert NEW in note.message
    _, (note,) = report.refused_revision(by_bob_unlisted(NEW), None, None)
    assert note.revision == f"sha1:{NEW}"  # no branch followed: the commit alone
    assert note.message.startswith(f"UnknownKey (signed by {BOB}): ")
