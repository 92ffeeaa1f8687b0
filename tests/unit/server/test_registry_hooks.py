"""Registry notifications: a Bearer token from the webhook Secret, and which pushes count."""

from __future__ import annotations

import json

import pytest

from gitmoor.model.notifications import ImagePushEvent, Provider
from gitmoor.notify.signature import Check
from gitmoor.server.payloads import Ignored, PayloadError, parse
from gitmoor.server.verify import verify_request

KEYS = [b"new-token", b"old-token"]


@pytest.mark.parametrize(
    ("header", "check"),
    [
        ("Bearer new-token", Check.OK),
        ("Bearer old-token", Check.OK),
        ("bearer  new-token ", Check.OK),
        ("Bearer other", Check.MISMATCH),
        ("Basic bmV3LXRva2Vu", Check.MALFORMED),
        ("Bearer ", Check.MALFORMED),
        (None, Check.MISSING),
    ],
)
def test_the_bearer_token(header: str | None, check: Check) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert verify_request(Provider.REGISTRY, KEYS, b"{}", headers, now=0) is check


def _events(*events: dict[str, object]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def _push(repository: str, tag: str | None, host: str = "reg:5000") -> dict[str, object]:
    target: dict[str, object] = {"repository": repository, "mediaType": "x"}
    if tag is not None:
        target["tag"] = tag
    return {"action": "push", "target": target, "request": {"host": host}}


def test_tagged_manifest_pushes_count_blob_pushes_and_pulls_do_not() -> None:
    body = _events(
        _push("team/web", None),  # a blob
        _push("team/web", "1.2.0"),
        {"action": "pull", "target": {"repository": "team/api", "tag": "1"}, "request": {}},
    )
    parsed = parse(Provider.REGISTRY, {}, body)
    assert isinstance(parsed, ImagePushEvent)
    assert (parsed.images, parsed.tags) == (("reg:5000/team/web",), ("1.2.0",))


def test_only_pulls_are_ignored_and_the_simple_form_is_read() -> None:
    pulls = _events({"action": "pull", "target": {"repository": "x", "tag": "1"}})
    assert isinstance(parse(Provider.REGISTRY, {}, pulls), Ignored)
    simple = parse(Provider.REGISTRY, {}, b'{"image": "ghcr.io/org/web", "tag": "2.0.0"}')
    assert isinstance(simple, ImagePushEvent)
    assert simple.images == ("ghcr.io/org/web",)


def test_something_else_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="registry notification"):
        parse(Provider.REGISTRY, {}, b'{"hello": 1}')
