"""The `notifications` section of a Sync: validation, defaults, and its CRD schema."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from gitmoor.model.crds import structural_schema
from gitmoor.model.notifications import NotificationEvent, NotificationKind, NotificationSink


def sink(**fields: object) -> NotificationSink:
    return NotificationSink.model_validate({"secretRef": {"name": "notify"}, **fields})


def test_defaults_per_sink_type() -> None:
    assert all(sink(type="webhook", url="https://h/x").wants(k) for k in NotificationKind)
    github = sink(type="github")
    assert github.wants(NotificationKind.FAILURE)
    assert github.wants(NotificationKind.RECOVERY)
    assert not github.wants(NotificationKind.DRIFT)
    chosen = sink(type="slack", events=["drift"])
    assert chosen.wants(NotificationKind.DRIFT)
    assert not chosen.wants(NotificationKind.FAILURE)


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}, "credential"),
        ({"type": "webhook", "url": "ftp://h/x"}, "http"),
        ({"type": "webhook", "url": "https://user:pw@h/x"}, "credentials"),
        ({"type": "webhook", "url": "https://h/x", "context": "c"}, "context"),
        ({"type": "webhook", "url": "https://h/x", "events": []}, "at least 1"),
        ({"type": "webhook", "url": "https://h/x", "events": ["deployed"]}, "events"),
        ({"type": "email"}, "type"),
    ],
)
def test_invalid_sinks(fields: dict, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        sink(**fields)


def test_secret_ref_is_required() -> None:
    with pytest.raises(ValidationError, match="secretRef"):
        NotificationSink.model_validate({"type": "webhook", "url": "https://h/x"})


def test_a_sync_spec_with_notifications_has_a_structural_schema() -> None:
    # Stands for SyncSpec with the field added as the lead will add it.
    class Spec(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
        notifications: list[NotificationSink] = Field(default_factory=list)

    schema = structural_schema(Spec)
    item = schema["properties"]["notifications"]["items"]
    assert item["required"] == ["type", "secretRef"]
    assert item["properties"]["type"]["enum"] == ["webhook", "slack", "github", "gitlab"]
    assert item["properties"]["events"]["items"]["enum"] == [
        "failure",
        "rollback",
        "drift",
        "recovery",
    ]
    assert item["properties"]["secretRef"]["properties"]["name"]["type"] == "string"


def test_event_commit() -> None:
    def ev(revision: str) -> NotificationEvent:
        return NotificationEvent(NotificationKind.FAILURE, "n", "s", revision, "r", "m")

    assert ev("main@sha1:" + "a" * 40).sha == "a" * 40
    assert ev("v1.2.0@sha256:" + "b" * 64).sha == "b" * 64
    assert ev("c" * 40).sha == "c" * 40
    assert ev("main").sha is None
    assert ev("main").subject == "Sync/n/s"
