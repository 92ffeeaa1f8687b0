"""Notification event + sink + the sink's Secret -> the HTTP request to send. Pure: no I/O,
so every payload is checked by unit tests and the notifier only sends.

Secrets go in headers (tokens, the HMAC signature) or are the address itself (Slack); bodies
hold only what the event holds, which is never secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from gitmoor.model.notifications import (
    SECRET_ADDRESS,
    SECRET_HMAC_KEY,
    SECRET_TOKEN,
    NotificationEvent,
    NotificationKind,
    NotificationSink,
    split_git_url,
)
from gitmoor.notify import signature
from gitmoor.notify.errors import SinkConfigError

USER_AGENT = "gitmoor"
_GITHUB_DESCRIPTION = 140  # GitHub refuses longer commit status descriptions
_GITLAB_DESCRIPTION = 255
_SLACK_TEXT = 2900  # a section block's text holds at most 3000 characters
_LISTED = 10  # objects named in human-readable messages; the rest are counted

_GITHUB_STATE = {
    NotificationKind.FAILURE: "failure",
    NotificationKind.ROLLBACK: "failure",
    NotificationKind.DRIFT: "error",
    NotificationKind.RECOVERY: "success",
}
_GITLAB_STATE = {
    NotificationKind.FAILURE: "failed",
    NotificationKind.ROLLBACK: "failed",
    NotificationKind.DRIFT: "failed",
    NotificationKind.RECOVERY: "success",
}


@dataclass(frozen=True)
class Outgoing:
    """One request. `target` (scheme://host[:port]) is what logs and errors may show."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def build(
    sink: NotificationSink,
    event: NotificationEvent,
    secret: Mapping[str, bytes],
    *,
    delivery: str,
    now: float,
) -> Outgoing:
    """The request telling `sink` about `event`. Raises SinkConfigError when the Secret lacks a
    key the sink needs or the event cannot be expressed there (no commit, not a GitHub repo)."""
    match sink.type:
        case "webhook":
            return _webhook(sink, event, secret, delivery=delivery, now=now)
        case "slack":
            return _slack(sink, event, secret)
        case "github":
            return _github(sink, event, secret)
        case "gitlab":
            return _gitlab(sink, event, secret)


def _need(
    sink: NotificationSink, event: NotificationEvent, secret: Mapping[str, bytes], key: str
) -> bytes:
    value = secret.get(key, b"").strip()
    if not value:
        raise SinkConfigError(
            f"Secret {sink.secret_ref.name!r} has no {key!r}",
            sink=sink.type,
            subject=event.subject,
        )
    return value


def _header_value(sink: NotificationSink, event: NotificationEvent, raw: bytes, key: str) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text or any(ch in text for ch in "\r\n"):
        raise SinkConfigError(
            f"Secret {sink.secret_ref.name!r}: {key!r} is not a single line of ASCII",
            sink=sink.type,
            subject=event.subject,
        )
    return text


def _address(sink: NotificationSink, event: NotificationEvent, secret: Mapping[str, bytes]) -> str:
    address = _header_value(sink, event, _need(sink, event, secret, SECRET_ADDRESS), SECRET_ADDRESS)
    if not address.startswith(("https://", "http://")):
        # The value itself is not shown: it is a credential.
        raise SinkConfigError(
            f"Secret {sink.secret_ref.name!r}: {SECRET_ADDRESS!r} is not an http(s) URL",
            sink=sink.type,
            subject=event.subject,
        )
    return address


# --- what an event says ---------------------------------------------------------------------------


def short_revision(revision: str) -> str:
    """`main@sha1:0123456789ab` for `main@sha1:<40 hex>`: enough to find the commit."""
    name, at, digest = revision.rpartition("@")
    algo, colon, hexdigits = digest.rpartition(":")
    if colon and len(hexdigits) > 12:
        return f"{name}{at}{algo}:{hexdigits[:12]}"
    return revision


def _listed(objects: tuple[str, ...]) -> str:
    shown = ", ".join(objects[:_LISTED])
    more = len(objects) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def headline(event: NotificationEvent) -> str:
    """One line a person reads first."""
    sync = f"Sync {event.namespace}/{event.name}"
    revision = short_revision(event.revision)
    match event.kind:
        case NotificationKind.FAILURE:
            return f"{sync} failed at {revision}: {event.reason}"
        case NotificationKind.ROLLBACK:
            to = f" to {short_revision(event.restored_revision)}" if event.restored_revision else ""
            return f"{sync} rolled back from {revision}{to}: {event.reason}"
        case NotificationKind.DRIFT:
            count = len(event.objects)
            drifted = f"{count} object{'s' if count != 1 else ''}" if count else "objects"
            return f"{sync} drifted from {revision}: {drifted}"
        case NotificationKind.RECOVERY:
            return f"{sync} is Ready again at {revision}"


def details(event: NotificationEvent) -> str:
    parts = [event.message] if event.message else []
    if event.objects:
        parts.append(_listed(event.objects))
    return "\n".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def document(event: NotificationEvent) -> dict[str, Any]:
    """The generic webhook's JSON body."""
    return {
        "kind": event.kind.value,
        "sync": {"namespace": event.namespace, "name": event.name},
        "revision": event.revision,
        "restoredRevision": event.restored_revision or None,
        "reason": event.reason,
        "message": event.message,
        "objects": list(event.objects),
        "source": event.source_url or None,
        "summary": headline(event),
        "time": event.time.isoformat(),
    }


# --- the sinks ------------------------------------------------------------------------------------


def _webhook(
    sink: NotificationSink,
    event: NotificationEvent,
    secret: Mapping[str, bytes],
    *,
    delivery: str,
    now: float,
) -> Outgoing:
    key = _need(sink, event, secret, SECRET_HMAC_KEY)
    if secret.get(SECRET_ADDRESS, b"").strip():
        address = _address(sink, event, secret)
    elif sink.url:
        address = sink.url
    else:
        raise SinkConfigError(
            f"no url: set it on the sink or as {SECRET_ADDRESS!r} in the Secret",
            sink=sink.type,
            subject=event.subject,
        )
    body = orjson.dumps(document(event))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signature.EVENT_HEADER: event.kind.value,
        signature.DELIVERY_HEADER: delivery,
        **signature.sign(key, body, timestamp=int(now)),
    }
    return Outgoing("POST", address, headers, body)


def _mrkdwn(text: str) -> str:
    # Slack reads these three as markup; everything else in mrkdwn is shown as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_MARK = {
    NotificationKind.FAILURE: ":x:",
    NotificationKind.ROLLBACK: ":rewind:",
    NotificationKind.DRIFT: ":warning:",
    NotificationKind.RECOVERY: ":white_check_mark:",
}


def _slack(
    sink: NotificationSink, event: NotificationEvent, secret: Mapping[str, bytes]
) -> Outgoing:
    address = _address(sink, event, secret)
    title = headline(event)
    text = f"{_SLACK_MARK[event.kind]} *{_mrkdwn(title)}*"
    more = details(event)
    if more:
        text += "\n" + _mrkdwn(more)
    context = f"revision `{_mrkdwn(event.revision)}`"
    if event.source_url:
        context += f" of {_mrkdwn(event.source_url)}"
    payload = {
        "text": title,  # shown in notifications and where blocks are not
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _SLACK_TEXT)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, 2900)}]},
        ],
    }
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    return Outgoing("POST", address, headers, orjson.dumps(payload))


def _commit(sink: NotificationSink, event: NotificationEvent) -> tuple[str, str, str]:
    """(host, repository path, sha) of the event's revision."""
    sha = event.sha
    if sha is None:
        raise SinkConfigError(
            f"revision {event.revision!r} names no commit to set a status on",
            sink=sink.type,
            subject=event.subject,
        )
    try:
        host, path = split_git_url(event.source_url)
    except ValueError as problem:
        raise SinkConfigError(
            f"source URL gives no repository: {problem}", sink=sink.type, subject=event.subject
        ) from None
    if host == "file":
        raise SinkConfigError(
            "a file:// source has no commit status API", sink=sink.type, subject=event.subject
        )
    return host, path, sha


def _context(sink: NotificationSink, event: NotificationEvent) -> str:
    return sink.context or f"gitmoor/{event.namespace}/{event.name}"


def github_api_base(sink: NotificationSink, host: str) -> str:
    if sink.url:
        return sink.url.rstrip("/")
    return "https://api.github.com" if host == "github.com" else f"https://{host}/api/v3"


def _github(
    sink: NotificationSink, event: NotificationEvent, secret: Mapping[str, bytes]
) -> Outgoing:
    token = _header_value(sink, event, _need(sink, event, secret, SECRET_TOKEN), SECRET_TOKEN)
    host, path, sha = _commit(sink, event)
    segments = path.split("/")
    if len(segments) != 2:
        raise SinkConfigError(
            f"source path {path!r} is not OWNER/REPO", sink=sink.type, subject=event.subject
        )
    owner, repo = (quote(s, safe="") for s in segments)
    url = f"{github_api_base(sink, host)}/repos/{owner}/{repo}/statuses/{sha}"
    body = {
        "state": _GITHUB_STATE[event.kind],
        "context": _context(sink, event),
        "description": _clip(headline(event), _GITHUB_DESCRIPTION),
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    return Outgoing("POST", url, headers, orjson.dumps(body))


def _gitlab(
    sink: NotificationSink, event: NotificationEvent, secret: Mapping[str, bytes]
) -> Outgoing:
    token = _header_value(sink, event, _need(sink, event, secret, SECRET_TOKEN), SECRET_TOKEN)
    host, path, sha = _commit(sink, event)
    base = sink.url.rstrip("/") if sink.url else f"https://{host}"
    url = f"{base}/api/v4/projects/{quote(path, safe='')}/statuses/{sha}"
    body = {
        "state": _GITLAB_STATE[event.kind],
        "name": _context(sink, event),
        "description": _clip(headline(event), _GITLAB_DESCRIPTION),
    }
    headers = {
        "PRIVATE-TOKEN": token,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    return Outgoing("POST", url, headers, orjson.dumps(body))
