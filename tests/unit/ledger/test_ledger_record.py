"""Record values: times in UTC, what an attempt deployed and when, and ledger URLs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gitmoor.ledger.deployments import run_start
from gitmoor.ledger.errors import LedgerConfigError
from gitmoor.ledger.urls import engine_url, local_default, redacted
from gitmoor.model.pipeline import Action, ObjectChange
from gitmoor.model.record import ObjectAction, Record, Result, Trigger, sha_of
from gitmoor.model.refs import ObjectRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A = "main@sha1:" + "a" * 40
B = "main@sha1:" + "b" * 40


def record(**changes: object) -> Record:
    values: dict = {
        "sync_namespace": "team",
        "sync_name": "web",
        "environment": "prod",
        "cluster": "eu-1",
        "source_url": "https://git.example/app.git",
        "revision": B,
        "trigger": Trigger.INTERVAL,
        "started_at": T0,
    }
    values.update(changes)
    return Record(**values)


def test_times_must_be_aware_and_are_kept_in_utc() -> None:
    with pytest.raises(ValueError, match="started_at must be timezone-aware"):
        record(started_at=datetime(2026, 3, 1, 12, 0))
    plus_two = timezone(timedelta(hours=2))
    r = record(started_at=datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))
    assert r.started_at == T0
    assert r.started_at.tzinfo is UTC


def test_strings_become_the_enums() -> None:
    r = record(trigger="webhook", result="applied")
    assert r.trigger is Trigger.WEBHOOK
    assert r.result is Result.APPLIED
    with pytest.raises(ValueError, match="'sometimes'"):
        record(trigger="sometimes")


def test_an_applied_attempt_deploys_its_revision_from_when_it_was_applied() -> None:
    r = record(
        result=Result.APPLIED,
        applied_at=T0 + timedelta(seconds=5),
        finished_at=T0 + timedelta(seconds=60),
    )
    assert r.deployed_revision == B
    assert r.deployed_at == T0 + timedelta(seconds=5)


def test_a_rollback_deploys_the_restored_revision_from_when_it_finished() -> None:
    r = record(
        result=Result.ROLLED_BACK,
        applied_at=T0 + timedelta(seconds=5),
        finished_at=T0 + timedelta(minutes=5),
        rolled_back_to=A,
    )
    assert r.deployed_revision == A
    assert r.deployed_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("result", [Result.IN_PROGRESS, Result.FAILED, Result.INTERRUPTED])
def test_other_results_deploy_nothing(result: Result) -> None:
    r = record(result=result, applied_at=T0, finished_at=T0)
    assert r.deployed_revision is None
    assert r.deployed_at is None


def test_as_dict_is_json_with_iso_times_flat_objects_and_the_deployed_state() -> None:
    ref = ObjectRef("apps", "Deployment", "team", "web")
    r = record(
        result=Result.APPLIED,
        applied_at=T0,
        objects=(ObjectAction.of(ObjectChange(ref, "apps/v1", Action.CONFIGURED)),),
        images=("web:2",),
        id=7,
    )
    data = json.loads(json.dumps(r.as_dict()))
    assert data["started_at"] == "2026-03-01T12:00:00+00:00"
    assert data["trigger"] == "interval"
    assert data["objects"] == [
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": "team",
            "name": "web",
            "api_version": "apps/v1",
            "action": "configured",
        }
    ]
    assert data["images"] == ["web:2"]
    assert data["deployed_revision"] == B
    assert data["id"] == 7


def test_sha_of_reads_the_commit_of_a_revision() -> None:
    assert sha_of(A) == "a" * 40
    assert sha_of("sha1:abc") == "abc"
    assert sha_of("main") == ""


def test_run_start_is_the_oldest_of_the_leading_matches() -> None:
    t = [T0 + timedelta(hours=h) for h in range(4)]
    assert run_start([(t[3], True), (t[2], True), (t[1], False), (t[0], True)]) == t[2]
    assert run_start([(t[3], True)]) == t[3]
    assert run_start([(t[3], False), (t[2], True)]) is None
    assert run_start([]) is None


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///ledger.db", "sqlite"),
        ("sqlite:////var/lib/gitmoor/ledger.db", "sqlite"),
        ("sqlite+aiosqlite:///ledger.db", "sqlite"),
        ("postgresql://gitmoor@db:5432/ledger", "postgresql+psycopg"),
        ("postgres://gitmoor@db/ledger", "postgresql+psycopg"),
        ("postgresql+psycopg_async://gitmoor@db/ledger", "postgresql+psycopg"),
    ],
)
def test_plain_urls_map_to_the_drivers_gitmoor_ships(url: str, driver: str) -> None:
    assert engine_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@db/ledger", "unsupported ledger database 'mysql'"),
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("not a url", "not a ledger URL"),
    ],
)
def test_other_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(LedgerConfigError, match=problem):
        engine_url(url)


def test_passwords_never_show_in_messages() -> None:
    url = "postgresql://gitmoor:s3cr3t-pw@db:5432/ledger"
    assert "s3cr3t-pw" not in redacted(url)
    assert "s3cr3t-pw" not in redacted("bogus://u:s3cr3t-pw@@@")
    with pytest.raises(LedgerConfigError) as caught:
        engine_url("mysql://root:s3cr3t-pw@db/ledger")
    assert "s3cr3t-pw" not in str(caught.value)
    assert "s3cr3t-pw" not in caught.value.url


def test_the_local_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMOOR_LEDGER", "postgresql://gitmoor@db/ledger")
    assert local_default() == "postgresql://gitmoor@db/ledger"
    monkeypatch.delenv("GITMOOR_LEDGER")
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert local_default() == "sqlite:////srv/state/gitmoor/ledger.db"
