"""Scanning an image's tags and describing one tag, over `gitmoor.sources.oci`.

Credentials come from a `kubernetes.io/dockerconfigjson` Secret: its `auths` entry for the
image's registry host (`username`/`password`, or `auth` as base64 of `user:password`). Tags are
filtered page by page, so a repository of many thousands of tags costs one page of the
registry's answer plus the kept tag names.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import orjson

from gitmoor.errors import RegistryContentError
from gitmoor.model.credentials import ChartCredentials, InvalidSecretDataError
from gitmoor.sources.oci import Registry

DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_CONFIG_LIMIT = 1024 * 1024
MAX_TAGS = 100_000


@dataclass(frozen=True)
class ImageName:
    """`host/repository` of an image, Docker's defaults applied (docker.io, library/)."""

    host: str
    repository: str

    @classmethod
    def parse(cls, image: str) -> ImageName:
        first, _, rest = image.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return cls(first, rest)
        path = image if rest else f"library/{image}"
        return cls(DOCKER_HUB, path)

    @property
    def api_host(self) -> str:
        return _DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def canonical(self) -> str:
        return f"{self.host}/{self.repository}"


@dataclass(frozen=True)
class TagFacts:
    digest: str
    created: datetime | None  # the image config's `created`, when it has one


def credentials_from_dockerconfig(
    data: Mapping[str, str], host: str, *, ca: bytes | None = None
) -> ChartCredentials | None:
    """The credentials a dockerconfigjson Secret's data (base64 values) holds for `host`;
    None when it has no entry for it (and no CA was given)."""
    encoded = data.get(".dockerconfigjson") or data.get(".dockercfg")
    if not encoded:
        raise InvalidSecretDataError(".dockerconfigjson", "missing")
    try:
        doc = orjson.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidSecretDataError(".dockerconfigjson", "not base64 of JSON") from None
    auths = doc.get("auths", doc) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise InvalidSecretDataError(".dockerconfigjson", "has no auths map")
    entry = next((v for k, v in auths.items() if _host_of(k) == host), None)
    if not isinstance(entry, dict):
        return ChartCredentials(ca=ca) if ca else None
    username, password = entry.get("username"), entry.get("password")
    if not (username and password) and entry.get("auth"):
        try:
            username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, ValueError):
            raise InvalidSecretDataError(
                ".dockerconfigjson", f"auth of {host} is not base64"
            ) from None
    if not (isinstance(username, str) and isinstance(password, str) and username and password):
        raise InvalidSecretDataError(
            ".dockerconfigjson", f"the entry for {host} has no username and password"
        )
    return ChartCredentials(username=username, password=password, ca=ca)


def _host_of(key: str) -> str:
    """`https://index.docker.io/v1/` and `registry:5000` name their hosts alike."""
    host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
    return DOCKER_HUB if host in ("index.docker.io", _DOCKER_HUB_API) else host


def excluded(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regex matching a tag any of `patterns` excludes; None when there are none."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


async def scan(
    image: ImageName,
    credentials: ChartCredentials | None,
    exclusions: Sequence[str],
    *,
    timeout: float,
    page_size: int = 1000,
) -> list[str]:
    """The tags of `image` not excluded, in the order the registry lists them."""
    drop = excluded(exclusions)
    kept: list[str] = []
    async with aiohttp.ClientSession(trust_env=False) as session:
        registry = Registry(session, image.api_host, credentials, timeout=timeout)
        async for page in registry.tag_pages(
            image.repository, page_size=page_size, max_pages=MAX_TAGS // page_size
        ):
            kept.extend(t for t in page if drop is None or not drop.search(t))
    return kept


async def describe(
    image: ImageName, tag: str, credentials: ChartCredentials | None, *, timeout: float
) -> TagFacts:
    """The digest of `image:tag`'s manifest, and when the image was built if its config says."""
    async with aiohttp.ClientSession(trust_env=False) as session:
        registry = Registry(session, image.api_host, credentials, timeout=timeout)
        manifest = await registry.manifest(image.repository, tag)
        config = manifest.document().get("config")
        created: datetime | None = None
        if isinstance(config, dict) and isinstance(config.get("digest"), str):
            blob = await registry.blob(image.repository, config["digest"], limit=_CONFIG_LIMIT)
            created = created_of(blob)
    return TagFacts(manifest.digest, created)


def created_of(config: bytes) -> datetime | None:
    """The `created` time of an image config (RFC 3339, often with nanoseconds)."""
    try:
        doc = orjson.loads(config)
    except orjson.JSONDecodeError:
        raise RegistryContentError("the image config is not JSON", url="") from None
    value = doc.get("created") if isinstance(doc, dict) else None
    if not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
