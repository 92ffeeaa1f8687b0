"""The request each sink sends: body, headers, where secrets go (headers only), and what a
misconfigured sink says."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from gitmoor.model.notifications import NotificationEvent, NotificationKind, NotificationSink
from gitmoor.notify import signature
from gitmoor.notify.errors import SinkConfigError
from gitmoor.notify.sinks import build, headline, short_revision

SHA = "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"
REV = f"main@sha1:{SHA}"
NOW = 1_763_900_000.0
TOKEN = b"ghp_0123456789abcdefghijklmnopqrstuvwxyz"
SLACK = b"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
HMAC_KEY = b"receiver-key"


def sink(**fields: object) -> NotificationSink:
    return NotificationSink.model_validate({"secretRef": {"name": "notify"}, **fields})


def event(kind: NotificationKind = NotificationKind.FAILURE, **fields: object) -> NotificationEvent:
    values: dict = {
        "kind": kind,
        "namespace": "team-a",
        "name": "apps",
        "revision": REV,
        "reason": "HealthCheckFailed",
        "message": "Deployment/team-a/api: 0 of 3 replicas available",
        "source_url": "https://github.com/Example-Org/platform-config.git",
        "time": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    }
    values.update(fields)
    return NotificationEvent(**values)


def no_secret_in(request, *secrets: bytes) -> None:
    for secret in secrets:
        assert secret not in request.body
        assert secret.decode() not in request.target


def test_webhook_body_and_signature() -> None:
    request = build(
        sink(type="webhook", url="https://hooks.example.com/gitmoor"),
        event(objects=("Deployment/team-a/api",)),
        {"hmacKey": HMAC_KEY},
        delivery="d-1",
        now=NOW,
    )
    assert request.method == "POST"
    assert request.url == "https://hooks.example.com/gitmoor"
    doc = json.loads(request.body)
    assert doc["kind"] == "failure"
    assert doc["sync"] == {"namespace": "team-a", "name": "apps"}
    assert doc["revision"] == REV
    assert doc["reason"] == "HealthCheckFailed"
    assert doc["objects"] == ["Deployment/team-a/api"]
    assert doc["source"] == "https://github.com/Example-Org/platform-config.git"
    assert doc["time"] == "2026-11-23T12:00:00+00:00"
    headers = request.headers
    assert headers["X-Gitmoor-Event"] == "failure"
    assert headers["X-Gitmoor-Delivery"] == "d-1"
    assert headers["X-Gitmoor-Timestamp"] == str(int(NOW))
    expected = hmac.new(HMAC_KEY, f"{int(NOW)}.".encode() + request.body, hashlib.sha256)
    assert headers["X-Gitmoor-Signature"] == "sha256=" + expected.hexdigest()
    # The same scheme the generic webhook receiver checks.
    check = signature.verify(
        [HMAC_KEY],
        request.body,
        signature=headers["X-Gitmoor-Signature"],
        timestamp=headers["X-Gitmoor-Timestamp"],
        now=NOW,
    )
    assert check is signature.Check.OK
    no_secret_in(request, HMAC_KEY)


def test_webhook_address_may_come_from_the_secret() -> None:
    request = build(
        sink(type="webhook"),
        event(),
        {"hmacKey": HMAC_KEY, "address": b"https://hooks.example.com/with-token-abc"},
        delivery="d",
        now=NOW,
    )
    assert request.url == "https://hooks.example.com/with-token-abc"
    assert request.target == "https://hooks.example.com"


def test_slack_message() -> None:
    request = build(
        sink(type="slack"),
        event(
            NotificationKind.DRIFT,
            objects=tuple(f"ConfigMap/team-a/c{i}" for i in range(12)),
            message="",
        ),
        {"address": SLACK},
        delivery="d",
        now=NOW,
    )
    assert request.url == SLACK.decode()
    assert request.target == "https://hooks.slack.com"  # what logs may show
    payload = json.loads(request.body)
    assert payload["text"] == "Sync team-a/apps drifted from main@sha1:59b20b8d5c6f: 12 objects"
    section, context = payload["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert ":warning:" in section["text"]["text"]
    assert "ConfigMap/team-a/c0" in section["text"]["text"]
    assert "and 2 more" in section["text"]["text"]
    assert context["type"] == "context"
    assert REV in context["elements"][0]["text"]
    no_secret_in(request, b"XXXXXXXXXXXXXXXXXXXXXXXX")


def test_slack_escapes_markup_in_messages() -> None:
    request = build(
        sink(type="slack"),
        event(message="<!channel> & friends"),
        {"address": SLACK},
        delivery="d",
        now=NOW,
    )
    text = json.loads(request.body)["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &amp; friends" in text


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (NotificationKind.FAILURE, "failure"),
        (NotificationKind.ROLLBACK, "failure"),
        (NotificationKind.DRIFT, "error"),
        (NotificationKind.RECOVERY, "success"),
    ],
)
def test_github_commit_status(kind: NotificationKind, state: str) -> None:
    request = build(sink(type="github"), event(kind), {"token": TOKEN}, delivery="d", now=NOW)
    assert request.url == (
        f"https://api.github.com/repos/Example-Org/platform-config/statuses/{SHA}"
    )
    assert request.headers["Authorization"] == f"Bearer {TOKEN.decode()}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    body = json.loads(request.body)
    assert body["state"] == state
    assert body["context"] == "gitmoor/team-a/apps"
    assert len(body["description"]) <= 140
    no_secret_in(request, TOKEN)


def test_github_enterprise_base_and_context() -> None:
    ghe = event(source_url="git@ghe.example.com:infra/cluster.git")
    default = build(sink(type="github"), ghe, {"token": TOKEN}, delivery="d", now=NOW)
    assert default.url == f"https://ghe.example.com/api/v3/repos/infra/cluster/statuses/{SHA}"
    explicit = build(
        sink(type="github", url="https://api.ghe.example.com/", context="deploy/prod"),
        ghe,
        {"token": TOKEN},
        delivery="d",
        now=NOW,
    )
    assert explicit.url == f"https://api.ghe.example.com/repos/infra/cluster/statuses/{SHA}"
    assert json.loads(explicit.body)["context"] == "deploy/prod"


def test_github_description_is_clipped_to_140() -> None:
    request = build(
        sink(type="github"), event(reason="R" * 300), {"token": TOKEN}, delivery="d", now=NOW
    )
    description = json.loads(request.body)["description"]
    assert len(description) == 140
    assert description.endswith("…")


def test_gitlab_commit_status_with_encoded_project_path() -> None:
    request = build(
        sink(type="gitlab"),
        event(
            NotificationKind.RECOVERY,
            source_url="git@gitlab.example.com:platform/infra/deployments.git",
        ),
        {"token": TOKEN},
        delivery="d",
        now=NOW,
    )
    assert request.url == (
        "https://gitlab.example.com/api/v4/projects/platform%2Finfra%2Fdeployments/statuses/" + SHA
    )
    assert request.headers["PRIVATE-TOKEN"] == TOKEN.decode()
    body = json.loads(request.body)
    assert body == {
        "state": "success",
        "name": "gitmoor/team-a/apps",
        "description": "Sync team-a/apps is Ready again at main@sha1:59b20b8d5c6f",
    }
    no_secret_in(request, TOKEN)


@pytest.mark.parametrize(
    ("config", "evt", "secret", "complaint"),
    [
        ({"type": "webhook", "url": "https://h/x"}, {}, {}, "no 'hmacKey'"),
        ({"type": "webhook"}, {}, {"hmacKey": b"k"}, "no url"),
        ({"type": "slack"}, {}, {"address": b"hooks.slack.com/x"}, "not an http"),
        ({"type": "github"}, {}, {"token": b"  "}, "no 'token'"),
        ({"type": "github"}, {}, {"token": b"a\nb"}, "single line"),
        ({"type": "github"}, {"revision": "main"}, {"token": TOKEN}, "names no commit"),
        (
            {"type": "github"},
            {"source_url": "https://github.com/a/b/c"},
            {"token": TOKEN},
            "OWNER/REPO",
        ),
        ({"type": "gitlab"}, {"source_url": "file:///srv/repo"}, {"token": TOKEN}, "file://"),
    ],
)
def test_misconfigured_sinks_say_what_is_wrong_without_the_secret(
    config: dict, evt: dict, secret: dict, complaint: str
) -> None:
    with pytest.raises(SinkConfigError, match=complaint) as caught:
        build(sink(**config), event(**evt), secret, delivery="d", now=NOW)
    assert "team-a/apps" in str(caught.value)
    assert "hooks.slack.com/x" not in str(caught.value)


def test_headlines() -> None:
    assert short_revision(REV) == "main@sha1:59b20b8d5c6f"
    assert short_revision("v1.2.0") == "v1.2.0"
    rollback = event(
        NotificationKind.ROLLBACK,
        restored_revision="main@sha1:" + "a" * 40,
        reason="HealthCheckFailed",
    )
    assert headline(rollback) == (
        "Sync team-a/apps rolled back from main@sha1:59b20b8d5c6f to main@sha1:aaaaaaaaaaaa: "
        "HealthCheckFailed"
    )
    assert (
        headline(event()) == "Sync team-a/apps failed at main@sha1:59b20b8d5c6f: HealthCheckFailed"
    )
