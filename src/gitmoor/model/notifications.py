"""Notifications in both directions, as plain values.

In: a Git host tells gitmoor that a repository changed (`PushEvent`), and gitmoor finds the
GitSources it concerns by URL (`normalise_git_url`) and ref (`PushEvent.concerns`).

Out: gitmoor tells people and systems that a Sync failed, was rolled back, drifted or recovered
(`NotificationEvent`), through the sinks a Sync lists in `spec.notifications`
(`NotificationSink`, validated like the resources and turned into CRD schema the same way).

This module imports no other gitmoor module, so `gitmoor.model.resources` can import it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# --- Git URLs -----------------------------------------------------------------------------------

# `[user@]host:path`, not `transport::address` and not a URL with a scheme.
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>.+)$")


def split_git_url(url: str) -> tuple[str, str]:
    """`(host, path)` of a Git remote: host lower-cased without user or port, path without
    leading/trailing slashes or `.git`, its case kept (API paths such as GitLab's use it).

    A `file://` URL gives host `file` and its absolute path. Raises ValueError when `url` is
    not a Git URL gitmoor understands.
    """
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() == "file":
            host, path = "file", parts.path
        else:
            if not parts.hostname:
                raise ValueError("git url has no host")
            host, path = parts.hostname, parts.path
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            raise ValueError("not a git url: expected scheme://host/path or [user@]host:path")
        host, path = match["host"], match["path"]
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    if not path:
        raise ValueError("git url has no repository path")
    return host.lower(), path


def normalise_git_url(url: str) -> str:
    """A key under which every spelling of one repository compares equal.

    `https://Host/Org/Repo.git`, `ssh://git@host:2222/org/repo`, `git@host:org/repo.git` and
    `git://host/org/repo` all give `host/org/repo`. Scheme, user and port are dropped and the
    path is lower-cased: Git hosts serve the same repository over HTTPS and SSH on different
    ports and treat its path case-insensitively, and a key that matches too much costs one extra
    remote check, while one that matches too little loses a webhook.
    """
    host, path = split_git_url(url)
    return f"{host}/{path.lower()}"


# --- push events (in) ---------------------------------------------------------------------------


class Provider(enum.StrEnum):
    """Who sent a push webhook; also the path under `/hooks/` and the key of its secret."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    GENERIC = "generic"
    REGISTRY = "registry"  # an image pushed (distribution notifications, or the same JSON)


@dataclass(frozen=True)
class ImagePushEvent:
    """A verified registry notification: tags pushed to these images (`host/repository`)."""

    provider: Provider
    images: tuple[str, ...]
    tags: tuple[str, ...]
    delivery: str


@dataclass(frozen=True)
class PushEvent:
    """A verified push: these URLs (spellings of one repository) now have `revision` at `ref`.

    `ref` is `refs/heads/<branch>` or `refs/tags/<tag>`, or None when the sender did not say
    (every GitSource of the repository then concerns it). `revision` is the new commit, or None
    when unknown or when the ref was deleted. `default_branch` is the repository's default
    branch when the payload names it.
    """

    provider: Provider
    urls: tuple[str, ...]
    ref: str | None
    revision: str | None
    delivery: str
    default_branch: str | None = None

    @property
    def keys(self) -> frozenset[str]:
        """The repository under `normalise_git_url`, for any of the URLs that parse."""
        out: set[str] = set()
        for url in self.urls:
            try:
                out.add(normalise_git_url(url))
            except ValueError:
                continue
        return frozenset(out)

    def concerns_url(self, url: str) -> bool:
        try:
            return normalise_git_url(url) in self.keys
        except ValueError:
            return False

    def concerns_ref(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        semver: str | None = None,
        commit: str | None = None,
    ) -> bool:
        """Whether a GitSource following this ref (the fields of its `spec.ref`) may see a new
        revision because of this push. Errs towards yes: a needless check is cheap."""
        if self.ref is None:
            return commit is None
        if commit is not None:
            return False  # a pinned commit never moves
        if branch is not None:
            return self.ref == f"refs/heads/{branch}"
        if tag is not None:
            return self.ref == f"refs/tags/{tag}"
        if semver is not None:
            return self.ref.startswith("refs/tags/")
        # The remote's default branch: known from the payload, or any branch may be it.
        if self.default_branch:
            return self.ref == f"refs/heads/{self.default_branch}"
        return self.ref.startswith("refs/heads/")

    def concerns(
        self,
        url: str,
        *,
        branch: str | None = None,
        tag: str | None = None,
        semver: str | None = None,
        commit: str | None = None,
    ) -> bool:
        return self.concerns_url(url) and self.concerns_ref(
            branch=branch, tag=tag, semver=semver, commit=commit
        )


# --- notification sinks (configuration) ---------------------------------------------------------

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class _Model(BaseModel):
    # The same configuration as the resource models, so a sink reads like the rest of a Sync.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class NotificationKind(enum.StrEnum):
    FAILURE = "failure"  # a reconcile failed (render, dry run, apply, health gate)
    ROLLBACK = "rollback"  # an atomic Sync restored its last healthy revision
    DRIFT = "drift"  # live objects differ from Git (drift: report)
    RECOVERY = "recovery"  # Ready again after a failure, rollback or drift


EventName = Literal["failure", "rollback", "drift", "recovery"]
SinkType = Literal["webhook", "slack", "github", "gitlab"]

# Commit statuses describe a revision; drift describes the cluster, so it is opt-in there.
DEFAULT_EVENTS: dict[str, tuple[NotificationKind, ...]] = {
    "webhook": tuple(NotificationKind),
    "slack": tuple(NotificationKind),
    "github": (NotificationKind.FAILURE, NotificationKind.ROLLBACK, NotificationKind.RECOVERY),
    "gitlab": (NotificationKind.FAILURE, NotificationKind.ROLLBACK, NotificationKind.RECOVERY),
}

# Names of the keys read from a sink's Secret (names, not secrets).
SECRET_HMAC_KEY = "hmacKey"  # noqa: S105
SECRET_ADDRESS = "address"  # noqa: S105
SECRET_TOKEN = "token"  # noqa: S105


class SinkSecretReference(_Model):
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN)]


class NotificationSink(_Model):
    """One place a Sync reports to. Secrets live in the Secret named by `secretRef`, in the
    Sync's namespace: `hmacKey` (webhook; `address` may replace `url`), `address` (slack: the
    incoming-webhook URL, itself a credential), `token` (github, gitlab)."""

    type: SinkType
    url: str | None = Field(
        default=None,
        description="webhook: where to POST. github: API base (default https://api.github.com, "
        "or https://HOST/api/v3 for a source on GitHub Enterprise). gitlab: server base "
        "(default https://HOST of the source). Not for slack: its URL goes in the Secret.",
    )
    secret_ref: SinkSecretReference = Field(
        description="Secret with hmacKey (webhook), address (slack) or token (github, gitlab)."
    )
    events: list[EventName] | None = Field(
        default=None,
        min_length=1,
        description="What to send; default: all for webhook and slack, failure, rollback and "
        "recovery for commit statuses.",
    )
    context: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Commit status context (github) or name (gitlab); default gitmoor/NS/NAME.",
    )

    @model_validator(mode="after")
    def _by_type(self) -> NotificationSink:
        if self.type == "slack" and self.url is not None:
            raise ValueError(
                "slack: the incoming-webhook URL is a credential; put it in the Secret under "
                f"{SECRET_ADDRESS!r}, not in url"
            )
        if self.url is not None:
            if not self.url.startswith(("https://", "http://")):
                raise ValueError(f"{self.type}: url must be http:// or https://")
            if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
                raise ValueError(
                    f"{self.type}: url must not carry credentials: put them in the Secret"
                )
        if self.context is not None and self.type not in ("github", "gitlab"):
            raise ValueError("context applies to github and gitlab commit statuses only")
        return self

    def wants(self, kind: NotificationKind) -> bool:
        chosen = self.events if self.events is not None else DEFAULT_EVENTS[self.type]
        return kind.value in chosen


# --- notification events (out) ------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NotificationEvent:
    """Something a Sync's watchers should hear about, with the sinks to tell.

    `revision` is written `branch@sha1:<hex>`; `restored_revision` is the revision a rollback
    went back to; `objects` lists subjects (`Kind/ns/name`) concerned, e.g. the drifted ones.
    Nothing in it is secret: secrets are read when delivering, from the sinks' Secrets.
    """

    kind: NotificationKind
    namespace: str
    name: str
    revision: str
    reason: str
    message: str
    sinks: tuple[NotificationSink, ...] = ()
    source_url: str = ""
    objects: tuple[str, ...] = ()
    restored_revision: str = ""
    time: datetime = field(default_factory=_now)

    @property
    def subject(self) -> str:
        return f"Sync/{self.namespace}/{self.name}"

    @property
    def sha(self) -> str | None:
        """The commit of `revision` (`...@sha1:<hex>`, `...@sha256:<hex>` or a bare hex)."""
        tail = self.revision.rpartition("@")[2]
        digest = tail.rpartition(":")[2]
        if re.fullmatch(r"[0-9a-f]{7,64}", digest):
            return digest
        return None
