"""Verified webhook bodies -> `PushEvent`, or a reason to ignore them.

Only what a fetch decision needs is read: the repository's URLs in every spelling the sender
gives, the ref, the new commit. Everything else in a payload is left alone, so a provider adding
fields changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from gitmoor.model.notifications import ImagePushEvent, Provider, PushEvent, split_git_url

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_ZEROS = re.compile(r"^0+$")

# The keys under which each provider spells the repository's URLs.
_GITHUB_URL_KEYS = ("clone_url", "ssh_url", "html_url", "git_url", "url", "svn_url")
_GITLAB_URL_KEYS = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url", "url")


class PayloadError(ValueError):
    """The body is authentic but not a payload gitmoor can read; the message says why."""


@dataclass(frozen=True)
class Ignored:
    """An authentic request that asks for nothing (a ping, an event other than a push)."""

    reason: str


def delivery_id(provider: Provider, headers: Mapping[str, str], body: bytes) -> str:
    """The sender's id of this delivery (the same on a redelivery), or a digest of the body.

    For the generic form the signature is unique per (timestamp, body) and so serves as id.
    """
    names: tuple[str, ...] = {
        Provider.GITHUB: ("X-GitHub-Delivery",),
        Provider.GITLAB: ("Idempotency-Key", "X-Gitlab-Event-UUID"),
        Provider.GITEA: ("X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery"),
        Provider.GENERIC: ("X-Gitmoor-Delivery", "X-Gitmoor-Signature"),
        Provider.REGISTRY: ("X-Gitmoor-Delivery",),
    }[provider]
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return value[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse(
    provider: Provider, headers: Mapping[str, str], body: bytes
) -> PushEvent | ImagePushEvent | Ignored:
    """Read a verified request. Raises PayloadError when the body is not what the provider
    sends for a push."""
    delivery = delivery_id(provider, headers, body)
    match provider:
        case Provider.GITHUB:
            event = headers.get("X-GitHub-Event", "")
            if event != "push":
                return Ignored(f"GitHub event {event or 'without a name'!r} is not a push")
            return _github_like(provider, _github_body(headers, body), delivery)
        case Provider.GITEA:
            event = next(
                (
                    headers[h]
                    for h in ("X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event")
                    if headers.get(h)
                ),
                "",
            )
            if event != "push":
                return Ignored(f"Gitea event {event or 'without a name'!r} is not a push")
            return _github_like(provider, _json_object(body), delivery)
        case Provider.GITLAB:
            return _gitlab(headers, body, delivery)
        case Provider.REGISTRY:
            return _registry(body, delivery_id(provider, headers, body))
        case Provider.GENERIC:
            return _generic(body, delivery)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as problem:
        raise PayloadError(f"body is not JSON: {problem}") from None
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    return data


def _github_body(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    # A GitHub webhook may be set to send the JSON form-encoded as `payload=`.
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        try:
            form = parse_qs(body.decode(), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise PayloadError("form body is not valid URL encoding") from None
        payload = form.get("payload")
        if not payload:
            raise PayloadError("form body has no 'payload' field")
        return _json_object(payload[0].encode())
    return _json_object(body)


def _urls(*sections: tuple[Any, tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for section, keys in sections:
        if not isinstance(section, dict):
            continue
        for key in keys:
            value = section.get(key)
            if isinstance(value, str) and value and value not in out:
                out.append(value)
    return tuple(out)


def _ref(data: dict[str, Any]) -> str:
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref.startswith("refs/"):
        raise PayloadError("push payload has no 'ref' of the form refs/...")
    return ref


def _revision(value: Any) -> str | None:
    # All zeros: the ref was deleted; nothing to fetch at a commit, but the source may care.
    if isinstance(value, str) and _SHA.match(value) and not _ZEROS.match(value):
        return value
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _github_like(provider: Provider, data: dict[str, Any], delivery: str) -> PushEvent:
    repo = data.get("repository")
    urls = _urls((repo, _GITHUB_URL_KEYS))
    if not urls:
        raise PayloadError("push payload names no repository URL")
    assert isinstance(repo, dict)  # urls came from it
    return PushEvent(
        provider=provider,
        urls=urls,
        ref=_ref(data),
        revision=_revision(data.get("after")),
        delivery=delivery,
        default_branch=_text(repo.get("default_branch")) or _text(repo.get("master_branch")),
    )


def _gitlab(headers: Mapping[str, str], body: bytes, delivery: str) -> PushEvent | Ignored:
    event = headers.get("X-Gitlab-Event", "")
    if event not in ("Push Hook", "Tag Push Hook", "System Hook"):
        return Ignored(f"GitLab event {event or 'without a name'!r} is not a push")
    data = _json_object(body)
    kind = data.get("object_kind") or data.get("event_name")
    if kind not in ("push", "tag_push"):
        return Ignored(f"GitLab {event} of kind {kind!r} is not a push")
    project = data.get("project")
    urls = _urls((project, _GITLAB_URL_KEYS), (data.get("repository"), _GITLAB_URL_KEYS))
    if not urls:
        raise PayloadError("push payload names no repository URL")
    return PushEvent(
        provider=Provider.GITLAB,
        urls=urls,
        ref=_ref(data),
        revision=_revision(data.get("after")) or _revision(data.get("checkout_sha")),
        delivery=delivery,
        default_branch=_text(project.get("default_branch")) if isinstance(project, dict) else None,
    )


def _generic(body: bytes, delivery: str) -> PushEvent:
    data = _json_object(body)
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise PayloadError("'url' (the repository's URL, as in the GitSource) is required")
    try:
        split_git_url(url)
    except ValueError as problem:
        raise PayloadError(f"'url': {problem}") from None
    ref = data.get("ref")
    if ref is not None and (
        not isinstance(ref, str) or not ref.startswith(("refs/heads/", "refs/tags/"))
    ):
        raise PayloadError("'ref' must be refs/heads/<branch> or refs/tags/<tag> when given")
    revision = data.get("revision")
    if revision is not None and _revision(revision) is None:
        raise PayloadError("'revision' must be a commit id in lower-case hex when given")
    return PushEvent(
        provider=Provider.GENERIC,
        urls=(url,),
        ref=ref,
        revision=revision,
        delivery=delivery,
    )


def _registry(body: bytes, delivery: str) -> ImagePushEvent | Ignored:
    """docker-registry's notification envelope (`{"events": [{"action": "push", "target":
    {"repository", "tag"}, "request": {"host"}}]}`: manifest pushes with a tag count, blob
    pushes and pulls do not), or `{"image": "host/repository", "tag": "1.2.3"}`."""
    data = _json_object(body)
    images: list[str] = []
    tags: list[str] = []
    if isinstance(data.get("image"), str):
        images.append(data["image"])
        if isinstance(data.get("tag"), str):
            tags.append(data["tag"])
    events = data.get("events")
    if isinstance(events, list):
        for event in events:
            if not isinstance(event, dict) or event.get("action") != "push":
                continue
            target = event.get("target") or {}
            request = event.get("request") or {}
            if not isinstance(target, dict) or not isinstance(request, dict):
                continue
            repository, tag = target.get("repository"), target.get("tag")
            host = request.get("host")
            if isinstance(repository, str) and isinstance(tag, str) and isinstance(host, str):
                images.append(f"{host}/{repository}")
                tags.append(tag)
    elif not images:
        raise PayloadError("expected a registry notification envelope ('events') or 'image'")
    if not images:
        return Ignored("no tag was pushed")
    return ImagePushEvent(
        Provider.REGISTRY, tuple(dict.fromkeys(images)), tuple(dict.fromkeys(tags)), delivery
    )
