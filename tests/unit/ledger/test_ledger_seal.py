"""The canonical form and hashes the audit chain is built from: fixed forever, since records
sealed years ago must still verify."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gitmoor.ledger import chain, rows, schema, seal
from gitmoor.model.pipeline import Action
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.model.refs import ObjectRef

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CANONICAL: list[tuple[str, Any, bytes]] = [
    ("keys sorted", {"b": 1, "a": 2}, b'{"a":2,"b":1}'),
    (
        "nested keys sorted",
        {"z": {"y": 1, "x": [{"d": 0, "c": 1}]}},
        b'{"z":{"x":[{"c":1,"d":0}],"y":1}}',
    ),
    ("keys by code point", {"é": 1, "z": 2, "Z": 3}, '{"Z":3,"z":2,"é":1}'.encode()),
    ("lists keep their order", [3, 1, 2], b"[3,1,2]"),
    ("tuples are lists", (1, "a"), b'[1,"a"]'),
    ("null, booleans, integers", [None, True, False, 0, -7], b"[null,true,false,0,-7]"),
    ("unicode unescaped, UTF-8", "café ☕ 🚀 日本", '"café ☕ 🚀 日本"'.encode()),
    ("control characters escaped", 'a\nb\t"c"\\', b'"a\\nb\\t\\"c\\"\\\\"'),
    ("empty", {}, b"{}"),
    ("UTC time with microseconds", T0, b'"2026-03-01T12:00:00.000000Z"'),
    (
        "an offset becomes UTC",
        datetime(2026, 3, 1, 14, 0, 0, 250, tzinfo=timezone(timedelta(hours=2))),
        b'"2026-03-01T12:00:00.000250Z"',
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in CANONICAL], ids=[c[0] for c in CANONICAL]
)
def test_canonical_json(value: Any, expected: bytes) -> None:
    assert seal.canonical(value) == expected
    assert seal.sha256(value) == hashlib.sha256(expected).hexdigest()


def test_key_order_and_time_zone_do_not_change_the_hash_but_normalisation_does() -> None:
    assert seal.sha256({"a": 1, "b": T0}) == seal.sha256(
        {"b": T0.astimezone(timezone(timedelta(hours=-5))), "a": 1}
    )
    # Precomposed é and e + combining accent look alike but are different text.
    assert seal.sha256("caf\u00e9") != seal.sha256("cafe\u0301")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime(2026, 3, 1, 12, 0), ValueError),  # naive on purpose
        (1.5, TypeError),
        (b"bytes", TypeError),
        ({1: "a"}, TypeError),
        ({"a": {2, 3}}, TypeError),
    ],
    ids=["naive time", "float", "bytes", "integer key", "set"],
)
def test_what_has_no_canonical_form_is_refused(value: Any, problem: type[Exception]) -> None:
    with pytest.raises(problem):
        seal.canonical(value)


def sample() -> Record:
    return Record(
        sync_namespace="team",
        sync_name="wéb",
        environment="prod",
        cluster="eu-1",
        source_url="https://git.example/acme/app.git",
        revision="main@sha1:" + "a" * 40,
        trigger=Trigger.WEBHOOK,
        started_at=T0,
        commit_sha="a" * 40,
        commit_author="Zoë <zoe@example.com>",
        commit_time=T0 - timedelta(minutes=10),
        commit_message="release 🚀",
        applied_at=T0 + timedelta(minutes=1),
        finished_at=T0 + timedelta(minutes=2),
        result=Result.APPLIED,
        configured=1,
        unchanged=1,
        objects=(
            ObjectAction(
                ObjectRef("apps", "Deployment", "team", "web"), "apps/v1", Action.CONFIGURED
            ),
            ObjectAction(ObjectRef("", "ConfigMap", "team", "web"), "v1", Action.UNCHANGED),
        ),
        images=("web:2", "sidecar:1", "web:2"),
        content="sha256:" + "c" * 64,
    )


def test_a_records_digest_is_fixed() -> None:
    # The digest of this record may never change: every sealed ledger depends on it.
    digest = chain.written_digest(7, sample())
    assert digest == GOLDEN_DIGEST
    link = seal.link(
        cluster="eu-1", seq=1, event=seal.Event.SEAL, record=7, digest=digest, prev=seal.GENESIS
    )
    assert link == GOLDEN_LINK
    assert seal.GENESIS == "0" * 64


GOLDEN_DIGEST = "9d2feb08167f1015327bf67156aa0f4f439e5b65c2a9fa739812428b1a1dee28"
GOLDEN_LINK = "0711763a4e983ae10a211bc17a704ef76a175820736245e7317b1cd7b3bca56e"


def test_the_content_covers_every_column_objects_in_order_and_images_as_a_set() -> None:
    record = sample()
    row = rows.record_values(record) | {"id": 7}
    content = seal.content(row, rows.object_rows(7, record.objects), record.images)
    assert set(content) == {"id", *seal.COLUMNS, "objects", "images"}
    assert content["images"] == ["sidecar:1", "web:2"]
    assert [o["kind"] for o in content["objects"]] == ["Deployment", "ConfigMap"]
    assert content["deployed_revision"] == record.revision
    # Every column and every part counts.
    base = seal.digest(row, rows.object_rows(7, record.objects), record.images)
    for name in ("id", *seal.COLUMNS):
        changed = dict(row)
        changed[name] = 8 if name == "id" else None if row[name] is not None else "x"
        assert seal.digest(changed, rows.object_rows(7, record.objects), record.images) != base, (
            name
        )
    assert seal.digest(row, rows.object_rows(7, record.objects[::-1]), record.images) != base
    assert seal.digest(row, rows.object_rows(7, record.objects), ()) != base


def test_a_link_covers_every_field() -> None:
    fields: dict[str, Any] = {
        "cluster": "eu-1",
        "seq": 3,
        "event": seal.Event.SEAL,
        "record": 7,
        "digest": "d" * 64,
        "prev": "e" * 64,
    }
    base = seal.link(**fields)
    expected = (
        '{"cluster":"eu-1","digest":"'
        + "d" * 64
        + '","event":"seal","prev":"'
        + "e" * 64
        + '","record":7,"seq":3}'
    )
    assert base == hashlib.sha256(expected.encode()).hexdigest()
    for name, other in (
        ("cluster", "eu-2"),
        ("seq", 4),
        ("event", seal.Event.PRUNE),
        ("record", 8),
        ("digest", "f" * 64),
        ("prev", seal.GENESIS),
    ):
        assert seal.link(**(fields | {name: other})) != base, name


def test_every_column_of_a_record_is_sealed_or_deliberately_not() -> None:
    # A column added to `ledger_records` must be sealed too: in seal.LATER_COLUMNS (in the form
    # only when not NULL, so records sealed before it existed still verify).
    sealed = {"id", *seal.COLUMNS, *seal.LATER_COLUMNS}
    pointer = {"chain_seq"}  # where the record's latest seal is: not content
    assert {c.name for c in schema.records.columns} == sealed | pointer


def update_row() -> dict[str, Any]:
    return {
        "id": 3,
        "cluster": "eu-1",
        "automation_namespace": "team",
        "automation_name": "apps",
        "policy": "team/web",
        "image": "registry.example/team/web",
        "old_tag": "1.0.0",
        "new_tag": "1.1.0",
        "digest": "sha256:" + "a" * 64,
        "image_pushed_at": datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
        "source_url": "https://git.example/acme/app.git",
        "branch": "main",
        "commit_sha": "b" * 40,
        "committed_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "file": "deploy/web.yaml:12",
    }


def test_an_image_updates_digest_is_fixed_and_covers_every_column() -> None:
    row = update_row()
    base = seal.update_digest(row)
    # May never change: every chain holding an image update depends on it.
    assert base == GOLDEN_UPDATE_DIGEST
    for name in ("id", *seal.IMAGE_UPDATE_COLUMNS):
        changed = dict(row)
        changed[name] = 4 if name == "id" else None if row[name] is not None else "x"
        assert seal.update_digest(changed) != base, name


GOLDEN_UPDATE_DIGEST = "cc38cb335ec0682e2f1210c0899570c97af85e52ec3d2fe17756350321408bfe"


def test_every_column_of_an_image_update_is_sealed_or_deliberately_not() -> None:
    # A column added to `ledger_image_updates` must be sealed too (or the seal can be kept
    # while the row says something else).
    sealed = {"id", *seal.IMAGE_UPDATE_COLUMNS}
    pointer = {"chain_seq"}  # where the row's seal is: not content
    assert {c.name for c in schema.image_updates.columns} == sealed | pointer


def test_an_image_updates_entry_is_told_from_a_records() -> None:
    assert [e for e in seal.Event if e.image_update] == [
        seal.Event.IMAGE_SEAL,
        seal.Event.IMAGE_PRUNE,
    ]
    # The chain's event column holds 8 characters.
    assert max(len(e.value) for e in seal.Event) <= 8
