"""Reading push events from real-shaped payloads of each provider."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict

from gitmoor.model.notifications import Provider, PushEvent
from gitmoor.server.payloads import Ignored, PayloadError, delivery_id, parse

PAYLOADS = Path(__file__).parent / "payloads"


def body(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def push(provider: Provider, headers: dict[str, str], data: bytes) -> PushEvent:
    parsed = parse(provider, CIMultiDict(headers), data)
    assert isinstance(parsed, PushEvent), parsed
    return parsed


def test_github_push() -> None:
    event = push(
        Provider.GITHUB,
        {"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
        body("github-push.json"),
    )
    assert event.ref == "refs/heads/main"
    assert event.revision == "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"
    assert event.delivery == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event.default_branch == "main"
    assert "https://github.com/Example-Org/platform-config.git" in event.urls
    assert "git@github.com:Example-Org/platform-config.git" in event.urls
    assert event.keys == {"github.com/example-org/platform-config"}
    # Every way a GitSource may spell this repository is concerned.
    for url in (
        "https://github.com/Example-Org/platform-config",
        "ssh://git@github.com/example-org/platform-config.git",
        "git@github.com:Example-Org/platform-config",
    ):
        assert event.concerns(url, branch="main"), url
    assert not event.concerns("https://github.com/Example-Org/platform-config", branch="dev")
    assert not event.concerns("https://github.com/Example-Org/other", branch="main")


def test_github_form_encoded_push_reads_the_payload_field() -> None:
    form = urlencode({"payload": body("github-push.json").decode()}).encode()
    event = push(
        Provider.GITHUB,
        {"X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    assert event.revision == "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"


def test_github_ping_and_other_events_are_ignored() -> None:
    ping = parse(Provider.GITHUB, CIMultiDict({"X-GitHub-Event": "ping"}), body("github-ping.json"))
    assert isinstance(ping, Ignored)
    assert "ping" in ping.reason
    issue = parse(Provider.GITHUB, CIMultiDict({"X-GitHub-Event": "issues"}), b"{}")
    assert isinstance(issue, Ignored)


def test_github_branch_deletion_has_no_revision() -> None:
    data = json.loads(body("github-push.json"))
    data.update(after="0" * 40, deleted=True)
    event = push(Provider.GITHUB, {"X-GitHub-Event": "push"}, json.dumps(data).encode())
    assert event.revision is None
    assert event.ref == "refs/heads/main"


def test_github_tag_push_concerns_tag_and_semver_sources_only() -> None:
    data = json.loads(body("github-push.json"))
    data["ref"] = "refs/tags/v1.4.2"
    event = push(Provider.GITHUB, {"X-GitHub-Event": "push"}, json.dumps(data).encode())
    url = "https://github.com/Example-Org/platform-config"
    assert event.concerns(url, tag="v1.4.2")
    assert event.concerns(url, semver=">=1.0.0")
    assert not event.concerns(url, tag="v1.4.1")
    assert not event.concerns(url, branch="main")
    assert not event.concerns(url)  # the default branch did not move
    assert not event.concerns(url, commit="59b20b8")


def test_gitlab_push_with_nested_groups() -> None:
    event = push(
        Provider.GITLAB,
        {
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
        },
        body("gitlab-push.json"),
    )
    assert event.ref == "refs/heads/production"
    assert event.revision == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.delivery == "13792a34-cac6-4fda-95a8-c58e00a3954e"
    assert event.keys == {"gitlab.example.com/platform/infra/deployments"}
    assert event.concerns(
        "git@gitlab.example.com:platform/infra/deployments.git", branch="production"
    )
    assert not event.concerns("https://gitlab.example.com/platform/infra/deployments")  # main


def test_gitlab_idempotency_key_wins_over_event_uuid() -> None:
    headers = CIMultiDict({"Idempotency-Key": "retry-1", "X-Gitlab-Event-UUID": "uuid"})
    assert delivery_id(Provider.GITLAB, headers, b"{}") == "retry-1"


def test_gitlab_tag_push_and_system_hook() -> None:
    tag = push(Provider.GITLAB, {"X-Gitlab-Event": "Tag Push Hook"}, body("gitlab-tag-push.json"))
    assert tag.ref == "refs/tags/v1.4.0"
    assert tag.revision == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    system = push(Provider.GITLAB, {"X-Gitlab-Event": "System Hook"}, body("gitlab-push.json"))
    assert system.ref == "refs/heads/production"


def test_gitlab_other_events_are_ignored() -> None:
    merge = parse(
        Provider.GITLAB,
        CIMultiDict({"X-Gitlab-Event": "Merge Request Hook"}),
        b'{"object_kind": "merge_request"}',
    )
    assert isinstance(merge, Ignored)
    system_other = parse(
        Provider.GITLAB,
        CIMultiDict({"X-Gitlab-Event": "System Hook"}),
        b'{"object_kind": "repository_update", "event_name": "repository_update"}',
    )
    assert isinstance(system_other, Ignored)


def test_gitea_push_with_ssh_on_another_port() -> None:
    event = push(
        Provider.GITEA,
        {"X-Gitea-Event": "push", "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
        body("gitea-push.json"),
    )
    assert event.ref == "refs/heads/develop"
    assert event.revision == "bffeb74224043ba2feb48d137756c8a9331c449a"
    assert event.delivery == "f6266f16-1bf3-46a5-9ea4-602e06ead473"
    assert event.concerns("ssh://git@git.example.com:2222/ops/cluster.git", branch="develop")
    assert event.concerns("https://git.example.com/ops/cluster", branch="develop")
    assert not event.concerns("https://git.example.com/ops/cluster")  # default is main


def test_gitea_non_push_is_ignored() -> None:
    created = parse(Provider.GITEA, CIMultiDict({"X-Gitea-Event": "create"}), b"{}")
    assert isinstance(created, Ignored)


def test_generic_body() -> None:
    data = json.dumps(
        {
            "url": "https://git.example.com/ops/cluster.git",
            "ref": "refs/heads/main",
            "revision": "bffeb74224043ba2feb48d137756c8a9331c449a",
        }
    ).encode()
    event = push(Provider.GENERIC, {"X-Gitmoor-Signature": "sha256=abc"}, data)
    assert event.urls == ("https://git.example.com/ops/cluster.git",)
    assert event.ref == "refs/heads/main"
    assert event.revision == "bffeb74224043ba2feb48d137756c8a9331c449a"
    assert event.delivery == "sha256=abc"  # the signature is unique per timestamp and body
    anything = push(Provider.GENERIC, {}, b'{"url": "git@git.example.com:ops/cluster"}')
    assert anything.ref is None
    assert anything.concerns("https://git.example.com/ops/cluster", branch="release")
    assert anything.concerns("https://git.example.com/ops/cluster", semver="~1.2")
    assert not anything.concerns("https://git.example.com/ops/cluster", commit="bffeb74")


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "'url'"),
        (b'{"url": "nonsense"}', "'url'"),
        (b'{"url": "https://h/o/r", "ref": "main"}', "refs/heads/"),
        (b'{"url": "https://h/o/r", "revision": "HEAD"}', "'revision'"),
    ],
)
def test_generic_body_problems_are_explained(data: bytes, complaint: str) -> None:
    with pytest.raises(PayloadError, match=complaint):
        parse(Provider.GENERIC, CIMultiDict(), data)


def test_push_payload_without_repository_or_ref_is_refused() -> None:
    with pytest.raises(PayloadError, match="repository"):
        parse(Provider.GITHUB, CIMultiDict({"X-GitHub-Event": "push"}), b'{"ref": "refs/heads/x"}')
    data = json.loads(body("github-push.json"))
    del data["ref"]
    with pytest.raises(PayloadError, match="ref"):
        parse(Provider.GITHUB, CIMultiDict({"X-GitHub-Event": "push"}), json.dumps(data).encode())


def test_delivery_falls_back_to_a_digest_of_the_body() -> None:
    first = delivery_id(Provider.GITHUB, CIMultiDict(), b"one")
    assert first.startswith("sha256:")
    assert first == delivery_id(Provider.GITHUB, CIMultiDict(), b"one")
    assert first != delivery_id(Provider.GITHUB, CIMultiDict(), b"two")
