"""A small client of the OCI Distribution API (v2), for what gitmoor reads from registries: tag
lists (charts pushed with `helm push`, image tags), manifests and blobs (chart layers, manifest
artifacts).

Authentication follows the registry's challenge: Basic where it asks for it, else the
bearer-token flow (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`), the token
kept for the Registry's later requests; a Secret's own bearer token is sent as it is. Tag lists
are read page by page (`Link: <...>; rel="next"`); a 429 or 5xx is a RegistryUnavailableError
carrying the registry's `Retry-After`. Blobs are checked against their digest before anyone
sees them. Credentials go to the registry's own origin and its token service only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from gitmoor.errors import (
    RegistryAuthError,
    RegistryContentError,
    RegistryDigestError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from gitmoor.model.credentials import ChartCredentials
from gitmoor.sources import bounded_http
from gitmoor.sources.bounded_http import Answer

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_PAGES = 100  # of a tag list: 100,000 tags at n=1000
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class OciReference:
    """`oci://host[:port]/path`: a registry and a repository in it."""

    host: str
    repository: str

    @classmethod
    def parse(cls, url: str) -> OciReference:
        parts = urlsplit(url)
        if parts.scheme != "oci" or not parts.netloc or parts.username or parts.password:
            raise ValueError(f"{url!r} is not oci://HOST/REPOSITORY")
        return cls(parts.netloc, parts.path.strip("/"))

    def child(self, name: str) -> OciReference:
        return OciReference(self.host, "/".join(p for p in (self.repository, name) if p))

    @property
    def url(self) -> str:
        return f"oci://{self.host}/{self.repository}"


@dataclass(frozen=True)
class Manifest:
    digest: str  # sha256:... of the bytes as served
    media_type: str
    body: bytes

    def document(self) -> dict[str, object]:
        try:
            doc = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return doc if isinstance(doc, dict) else {}


class Registry:
    """Requests to one registry, sharing a session and, once obtained, a bearer token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        credentials: ChartCredentials | None,
        *,
        timeout: float,
    ) -> None:
        self.session = session
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self._authorization = ""
        self._base = f"https://{host}"

    # -- the questions -------------------------------------------------------------------------
    async def tags(self, repository: str, *, page_size: int = 1000) -> list[str]:
        """Every tag of `repository`, page after page."""
        tags: list[str] = []
        async for page in self.tag_pages(repository, page_size=page_size):
            tags.extend(page)
        return tags

    async def tag_pages(
        self, repository: str, *, page_size: int = 1000, max_pages: int = MAX_PAGES
    ) -> AsyncIterator[list[str]]:
        """The tags of `repository` one page at a time, so that a caller filtering them holds
        one page of the registry's answer at a time, not the whole list."""
        ref = OciReference(self.host, repository)
        url: str | None = f"{self._base}/v2/{repository}/tags/list?n={page_size}"
        for _page in range(max_pages):
            if url is None:
                return
            answer = await self.get(url, {}, MAX_MANIFEST_BYTES, what="tag list", ref=ref)
            if answer.status == 404:
                raise RegistryNotFoundError(
                    f"the registry {self.host} holds no repository {repository}", url=ref.url
                )
            try:
                listed = orjson.loads(answer.body).get("tags") or []
            except (orjson.JSONDecodeError, AttributeError):
                raise RegistryContentError(
                    f"{bounded_http.shown(url)}: not a tag list", url=ref.url
                ) from None
            if not isinstance(listed, list):
                raise RegistryContentError(
                    f"{bounded_http.shown(url)}: not a tag list", url=ref.url
                )
            yield [t for t in listed if isinstance(t, str)]
            url = bounded_http.next_page(answer.headers.get("Link"), url)
        if url is not None:
            raise RegistryContentError(
                f"{ref.url}: more than {max_pages} pages of tags: refused", url=ref.url
            )

    async def manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = MANIFEST_TYPES
    ) -> Manifest:
        """The manifest of a tag or digest. A digest reference is checked against the bytes."""
        ref = OciReference(self.host, repository)
        url = f"{self._base}/v2/{repository}/manifests/{quote(reference, safe=':')}"
        answer = await self.get(
            url, {"Accept": ", ".join(accept)}, MAX_MANIFEST_BYTES, what="manifest", ref=ref
        )
        if answer.status == 404:
            raise RegistryNotFoundError(f"{ref.url}:{reference} does not exist", url=ref.url)
        digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        if DIGEST.fullmatch(reference) and reference != digest:
            raise RegistryDigestError(
                f"{ref.url}@{reference}: the registry served a manifest whose digest is "
                f"{digest}: refused",
                url=ref.url,
            )
        media_type = answer.headers.get("Content-Type", "").split(";", 1)[0].strip()
        declared = answer.headers.get("Docker-Content-Digest", "")
        if declared and DIGEST.fullmatch(declared) and declared != digest:
            raise RegistryDigestError(
                f"{ref.url}:{reference}: the manifest's digest is {digest}, the registry says "
                f"{declared}: refused",
                url=ref.url,
            )
        return Manifest(digest, media_type, answer.body)

    async def blob(self, repository: str, digest: str, *, limit: int) -> bytes:
        """A blob by digest, refused unless its sha256 is that digest."""
        ref = OciReference(self.host, repository)
        if not DIGEST.fullmatch(digest):
            raise RegistryContentError(f"{ref.url}: {digest!r} is not a sha256 digest", url=ref.url)
        url = f"{self._base}/v2/{repository}/blobs/{digest}"
        answer = await self.get(url, {}, limit, what="blob", ref=ref)
        if answer.status == 404:
            raise RegistryNotFoundError(f"{ref.url}: no blob {digest}", url=ref.url)
        actual = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        if actual != digest:
            raise RegistryDigestError(
                f"{ref.url}: the blob's digest is {actual}, the manifest says {digest}: refused",
                url=ref.url,
            )
        return answer.body

    # -- requests ----------------------------------------------------------------------------
    async def get(
        self, url: str, headers: Mapping[str, str], limit: int, *, what: str, ref: OciReference
    ) -> Answer:
        """GET with the registry's authentication: a 401 answers with the challenge, met once.
        A 404 is returned; every other failure raises the Registry error it means."""
        answer = await self._get(url, headers, limit, what, ref, {200, 401, 404})
        if answer.status == 401:
            self._authorization = await self._authorize(
                answer.headers.get("WWW-Authenticate", ""), ref
            )
            answer = await self._get(url, headers, limit, what, ref, {200, 404})
        return answer

    async def _get(
        self,
        url: str,
        headers: Mapping[str, str],
        limit: int,
        what: str,
        ref: OciReference,
        answers: set[int],
        *,
        authorization: str | None = None,
    ) -> Answer:
        send = dict(headers)
        auth = self._authorization if authorization is None else authorization
        if auth:
            send["Authorization"] = auth
        try:
            return await bounded_http.get(
                self.session,
                url,
                headers=send,
                limit=limit,
                timeout=self.timeout,
                ca=self.credentials.ca if self.credentials else None,
                what=what,
                answers=frozenset(answers),
            )
        except bounded_http.Untrusted as err:
            raise RegistryAuthError(
                f"{err}; put the CA bundle in the Secret", url=ref.url
            ) from None
        except bounded_http.Refused as err:
            if err.status in (401, 403):
                raise RegistryAuthError(
                    f"{err}: the registry refused "
                    + ("the credentials" if self.credentials else "access (no credentials)"),
                    url=ref.url,
                ) from None
            asks = (
                f"; the registry asks to retry in {err.retry_after:g}s (Retry-After)"
                if err.retry_after is not None
                else ""
            )
            raise RegistryUnavailableError(
                f"{err}{asks}", url=ref.url, retry_after=err.retry_after
            ) from None
        except bounded_http.TooLarge as err:
            raise RegistryContentError(str(err), url=ref.url) from None
        except bounded_http.Unreachable as err:
            raise RegistryUnavailableError(str(err), url=ref.url) from None

    async def _authorize(self, challenge: str, ref: OciReference) -> str:
        creds = self.credentials
        basic = (
            aiohttp.encode_basic_auth(creds.username, creds.password)
            if creds is not None and creds.username is not None and creds.password is not None
            else ""
        )
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not basic:
                raise RegistryAuthError(
                    f"the registry {self.host} asks for credentials and none are given",
                    url=ref.url,
                )
            return basic
        if creds is not None and creds.bearer_token:
            return f"Bearer {creds.bearer_token}"
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm", "")
        if scheme != "bearer" or not realm.startswith(("https://", "http://")):
            raise RegistryAuthError(
                f"the registry {self.host} asks for an authentication it cannot be given",
                url=ref.url,
            )
        query = "&".join(
            f"{k}={quote(v, safe='')}" for k, v in params.items() if k in ("service", "scope")
        )
        token_url = f"{realm}?{query}" if query else realm
        answer = await self._get(
            token_url, {}, 1024 * 1024, "token", ref, {200}, authorization=basic
        )
        try:
            body = orjson.loads(answer.body)
            token = str(body.get("token") or body.get("access_token") or "")
        except (orjson.JSONDecodeError, AttributeError):
            token = ""
        if not token:
            raise RegistryAuthError(
                f"the token service of {self.host} answered no token", url=ref.url
            )
        return f"Bearer {token}"
