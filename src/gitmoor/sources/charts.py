"""ChartFetcher: a ChartSource's repository, chart and version -> the chart unpacked on disk.

An HTTP Helm repository is one `index.yaml` (vendors' reach tens of MB) and the archives it
lists. Every check is a conditional request (`If-None-Match`, `If-Modified-Since`): an
unchanged index is a 304 and costs nothing more. A changed one is kept on disk as downloaded and
parsed once, in a thread, keeping only the entries of the charts in use; a chart newly asked
for of an unchanged index is read from the kept copy, not downloaded again.

The cache, under `<cache_dir>/charts/`:

    index/<sha256 of the repository URL>/index.yaml   the index as last downloaded
    index/<sha256 of the repository URL>/meta.json    ETag, Last-Modified, the charts' entries
    archives/<sha256>.tgz                             archives by their digest
    unpacked/<sha256>/<chart>/                        each archive unpacked once

Archives are checked against the index's `digest` when it gives one, and unpacked safely: only
regular files and directories below one top directory, no absolute or climbing paths, no links
or devices, within `Limits` (`max_file_bytes` per file, `max_render_bytes` in all,
`MAX_FILES` files). A version that resolved before and is still unpacked costs no download.

Credentials go with requests to the repository's own origin only (as Helm does without
`--pass-credentials`): an archive hosted elsewhere is fetched without them. They never appear in
a URL, a log line or a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import shutil
import ssl
import tarfile
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
import yaml

from gitmoor.errors import (
    ChartArchiveError,
    ChartAuthError,
    ChartDigestError,
    ChartIndexError,
    ChartNotFoundError,
    ChartRepositoryUnavailableError,
    ChartVersionNotFoundError,
    SourceConfigError,
)
from gitmoor.model import ChartArtifact
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import ChartSourceSpec
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange, parse_tag

log = logging.getLogger(__name__)

MAX_INDEX_BYTES = 128 * 1024 * 1024  # the largest public indexes are some tens of MB
MAX_FILES = 10_000  # files in one chart archive
_MAX_NESTING = 64  # flow collections ([ {) nested in an index: Helm writes none
_MAX_INDENT = 2_000  # columns of indentation in an index line
_BRACKETS = re.compile(rb"[\[\]{}]")
_DEEP_INDENT = re.compile(rb"^ {2001}", re.MULTILINE)
_MAX_VERSIONS = 20_000  # entries of one chart kept
_MAX_URLS = 8
_CHUNK = 1 << 16
_EXACT = re.compile(r"^[vV]?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


@dataclass(frozen=True)
class Limits:
    """What one chart archive may hold: the agent passes its render limits (`--max-file-size`,
    and the 256 MiB a plain render may read in all)."""

    max_file_bytes: int = 32 * 1024 * 1024
    max_render_bytes: int = 256 * 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class ChartVersion:
    """One entry of a chart in an index: its version, archive digest (hex; "" when the index
    gives none) and archive URLs (relative to the repository, or absolute)."""

    version: str
    digest: str
    urls: tuple[str, ...]


@dataclass
class _Index:
    """What is kept of one repository's index (meta.json)."""

    etag: str = ""
    last_modified: str = ""
    # chart -> its entries; None: the index lists no such chart.
    charts: dict[str, list[ChartVersion] | None] | None = None
    # archive URL -> its sha256 hex, for entries without a digest.
    downloaded: dict[str, str] | None = None

    def to_json(self) -> bytes:
        charts = {
            name: None
            if entries is None
            else [[e.version, e.digest, list(e.urls)] for e in entries]
            for name, entries in (self.charts or {}).items()
        }
        return orjson.dumps(
            {
                "etag": self.etag,
                "lastModified": self.last_modified,
                "charts": charts,
                "downloaded": self.downloaded or {},
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> _Index:
        data = orjson.loads(raw)
        charts: dict[str, list[ChartVersion] | None] = {}
        for name, entries in (data.get("charts") or {}).items():
            charts[name] = (
                None
                if entries is None
                else [
                    ChartVersion(str(v), str(d), tuple(str(u) for u in us)) for v, d, us in entries
                ]
            )
        return cls(
            etag=str(data.get("etag") or ""),
            last_modified=str(data.get("lastModified") or ""),
            charts=charts,
            downloaded={str(k): str(v) for k, v in (data.get("downloaded") or {}).items()},
        )


@dataclass(frozen=True)
class _Call:
    url: str  # the repository, without a trailing slash
    chart: str
    credentials: ChartCredentials | None
    timeout: float


class ChartFetcher:
    def __init__(self, cache_dir: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.root = cache_dir / "charts"
        self.limits = limits
        self._locks: dict[str, asyncio.Lock] = {}
        self._indexes: dict[str, _Index] = {}

    async def fetch(
        self,
        spec: ChartSourceSpec,
        credentials: ChartCredentials | None,
        *,
        timeout: float,
    ) -> ChartArtifact:
        """The chart `spec` names, at the highest version its `version` admits, unpacked."""
        try:
            wanted = SemverRange.parse(spec.version)
        except InvalidRangeError as err:
            raise SourceConfigError(f"spec.version: {err}", url=spec.url) from None
        call = _Call(spec.url.rstrip("/"), spec.chart, credentials, timeout)
        lock = self._locks.setdefault(call.url, asyncio.Lock())
        async with aiohttp.ClientSession(trust_env=False) as session, lock:
            if call.url.startswith("oci://"):
                return await self._oci(session, call, wanted)
            entries = await self._entries(session, call)
            chosen = resolve(entries, wanted, chart=call.chart, url=call.url)
            return await self._archive(session, call, chosen)

    # -- the index ---------------------------------------------------------------------------
    async def _entries(self, session: aiohttp.ClientSession, call: _Call) -> list[ChartVersion]:
        directory = self.root / "index" / hashlib.sha256(call.url.encode()).hexdigest()
        index = self._indexes.get(call.url) or await asyncio.to_thread(_read_meta, directory)
        kept = directory / "index.yaml"
        headers: dict[str, str] = {}
        if index is not None and kept.is_file():
            if index.etag:
                headers["If-None-Match"] = index.etag
            if index.last_modified:
                headers["If-Modified-Since"] = index.last_modified
        status, answer, body = await self._get(
            session, call, f"{call.url}/index.yaml", headers, MAX_INDEX_BYTES, what="index"
        )
        if status == 304 and index is not None:
            charts = dict(index.charts or {})
            if call.chart not in charts:
                raw = await asyncio.to_thread(kept.read_bytes)
                charts.update(await self._parse(raw, {call.chart}, call))
                index.charts = charts
                await asyncio.to_thread(_write_meta, directory, index)
            log.debug("index of %s unchanged", call.url)
        else:
            in_use = set((index.charts or {}) if index is not None else ()) | {call.chart}
            parsed = await self._parse(body, in_use, call)
            index = _Index(
                etag=answer.get("ETag", ""),
                last_modified=answer.get("Last-Modified", ""),
                charts=parsed,
                downloaded=index.downloaded if index is not None else {},
            )
            await asyncio.to_thread(_write_index, directory, body, index)
            log.info("index of %s: %d bytes parsed", call.url, len(body))
        self._indexes[call.url] = index
        entries = (index.charts or {}).get(call.chart)
        if entries is None:
            raise ChartNotFoundError(
                f"the index of {call.url} lists no chart {call.chart!r}",
                url=call.url,
                chart=call.chart,
            )
        return entries

    async def _parse(
        self, raw: bytes, charts: set[str], call: _Call
    ) -> dict[str, list[ChartVersion] | None]:
        try:
            return await asyncio.to_thread(parse_index, raw, charts)
        except ValueError as err:
            raise ChartIndexError(
                f"{call.url}/index.yaml is not a Helm repository index: {err}",
                url=call.url,
                chart=call.chart,
            ) from None

    # -- the archive -------------------------------------------------------------------------
    async def _archive(
        self, session: aiohttp.ClientSession, call: _Call, chosen: ChartVersion
    ) -> ChartArtifact:
        if not chosen.urls:
            raise ChartIndexError(
                f"the index lists no URL for {call.chart} {chosen.version}",
                url=call.url,
                chart=call.chart,
            )
        url = urljoin(call.url + "/", chosen.urls[0])
        if urlsplit(url).scheme not in ("https", "http"):
            raise ChartIndexError(
                f"{call.chart} {chosen.version}: archive URL is not http(s)",
                url=call.url,
                chart=call.chart,
            )
        index = self._indexes[call.url]
        downloaded = index.downloaded if index.downloaded is not None else {}
        index.downloaded = downloaded
        expected = chosen.digest.lower().removeprefix("sha256:")
        known = expected or downloaded.get(url, "")
        if known and (self.root / "unpacked" / known).is_dir():
            return _artifact(call, chosen, known, url, self._unpacked(known, call, chosen))
        limit = self.limits.max_file_bytes
        _, _, body = await self._get(session, call, url, {}, limit, what="archive")
        actual = hashlib.sha256(body).hexdigest()
        if expected and actual != expected:
            raise ChartDigestError(
                f"{call.chart} {chosen.version}: the archive's digest is sha256:{actual}, the "
                f"index says sha256:{expected}: refused",
                url=call.url,
                chart=call.chart,
            )
        chart_dir = await asyncio.to_thread(self._store, body, actual, call, chosen)
        downloaded[url] = actual
        directory = self.root / "index" / hashlib.sha256(call.url.encode()).hexdigest()
        await asyncio.to_thread(_write_meta, directory, index)
        log.info("chart %s %s downloaded (%d bytes)", call.chart, chosen.version, len(body))
        return _artifact(call, chosen, actual, url, chart_dir)

    def _unpacked(self, digest: str, call: _Call, chosen: ChartVersion) -> Path:
        target = self.root / "unpacked" / digest
        tops = [p for p in target.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise ChartArchiveError(
                f"{call.chart} {chosen.version}: the unpacked chart is damaged",
                url=call.url,
                chart=call.chart,
            )
        return tops[0]

    def _store(self, body: bytes, digest: str, call: _Call, chosen: ChartVersion) -> Path:
        archives = self.root / "archives"
        archives.mkdir(parents=True, exist_ok=True)
        archive = archives / f"{digest}.tgz"
        _write_atomic(archive, body)
        target = self.root / "unpacked" / digest
        try:
            return unpack(archive, target, self.limits)
        except ValueError as err:
            archive.unlink(missing_ok=True)
            raise ChartArchiveError(
                f"{call.chart} {chosen.version}: {err}", url=call.url, chart=call.chart
            ) from None

    # -- OCI registries ----------------------------------------------------------------------
    async def _oci(
        self, session: aiohttp.ClientSession, call: _Call, wanted: SemverRange
    ) -> ChartArtifact:
        """A chart pushed to an OCI registry (`helm push`): its tags listed through the
        Distribution API (every page), the highest in range resolved to its manifest, and the
        chart layer downloaded by digest, once."""
        parts = urlsplit(call.url)
        repository = "/".join(p for p in (parts.path.strip("/"), call.chart) if p)
        base = f"https://{parts.netloc}/v2/{repository}"
        registry = _Registry(self, session, call)
        tags: list[str] = []
        url: str | None = f"{base}/tags/list?n=1000"
        for _page in range(_MAX_PAGES):
            if url is None:
                break
            status, headers, body = await registry.get(url, {}, 4 * 1024 * 1024, "tag list")
            if status == 404:
                raise ChartNotFoundError(
                    f"the registry {parts.netloc} holds no chart {repository}",
                    url=call.url,
                    chart=call.chart,
                )
            try:
                listed = orjson.loads(body).get("tags") or []
            except (orjson.JSONDecodeError, AttributeError):
                raise ChartIndexError(
                    f"{_shown(url)}: not a tag list", url=call.url, chart=call.chart
                ) from None
            tags.extend(t for t in listed if isinstance(t, str))
            url = _next_page(headers.get("Link"), url)
        # Helm writes a version's `+` as `_` in a tag (tags cannot hold `+`).
        entries = [ChartVersion(t.replace("_", "+"), "", (t,)) for t in tags]
        chosen = resolve(entries, wanted, chart=call.chart, url=call.url)
        tag = chosen.urls[0]
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        status, _, body = await registry.get(
            f"{base}/manifests/{tag}", accept, 4 * 1024 * 1024, "manifest"
        )
        if status == 404:
            raise ChartVersionNotFoundError(
                f"tag {tag} of {repository} vanished", url=call.url, chart=call.chart
            )
        digest = _chart_layer(body)
        if digest is None:
            raise ChartIndexError(
                f"{repository}:{tag} is not a Helm chart (no chart layer)",
                url=call.url,
                chart=call.chart,
            )
        hexdigest = digest.removeprefix("sha256:")
        blob = f"{base}/blobs/{digest}"
        if (self.root / "unpacked" / hexdigest).is_dir():
            return _artifact(call, chosen, hexdigest, blob, self._unpacked(hexdigest, call, chosen))
        _, _, data = await registry.get(blob, {}, self.limits.max_file_bytes, "archive")
        actual = hashlib.sha256(data).hexdigest()
        if actual != hexdigest:
            raise ChartDigestError(
                f"{call.chart} {chosen.version}: the layer's digest is sha256:{actual}, the "
                f"manifest says {digest}: refused",
                url=call.url,
                chart=call.chart,
            )
        chart_dir = await asyncio.to_thread(self._store, data, actual, call, chosen)
        log.info("chart %s %s pulled (%d bytes)", call.chart, chosen.version, len(data))
        return _artifact(call, chosen, actual, blob, chart_dir)

    # -- HTTP --------------------------------------------------------------------------------
    async def _get(
        self,
        session: aiohttp.ClientSession,
        call: _Call,
        url: str,
        headers: Mapping[str, str],
        limit: int,
        *,
        what: str,
        authorization: str | None = None,
        answers: frozenset[int] = frozenset({200, 304}),
    ) -> tuple[int, Mapping[str, str], bytes]:
        """GET `url`; a status in `answers` is returned (a body only with 200), anything else
        raises the error it means. `authorization` ("" for none) replaces the credentials'
        own header (an OCI registry's token)."""
        send = dict(headers)
        creds = call.credentials
        # aiohttp drops Authorization itself when a redirect leaves the origin.
        if authorization is not None:
            if authorization:
                send["Authorization"] = authorization
        elif creds is not None and _same_origin(url, call.url):
            if creds.bearer_token:
                send["Authorization"] = f"Bearer {creds.bearer_token}"
            elif creds.username is not None and creds.password is not None:
                send["Authorization"] = aiohttp.encode_basic_auth(creds.username, creds.password)
        shown = _shown(url)
        try:
            async with session.get(
                url,
                headers=send,
                ssl=_ssl_context(creds.ca if creds else None),
                timeout=aiohttp.ClientTimeout(total=call.timeout),
            ) as response:
                status = response.status
                if status in answers and status != 200:
                    return status, response.headers, b""
                if status in (401, 403):
                    raise ChartAuthError(
                        f"{shown} answered {status} {response.reason}: the repository refused "
                        + (
                            "the credentials of spec.secretRef"
                            if creds
                            else "access (no spec.secretRef)"
                        ),
                        url=call.url,
                        chart=call.chart,
                    )
                if status != 200:
                    raise ChartRepositoryUnavailableError(
                        f"{shown} answered {status} {response.reason}"
                        + (
                            ": is spec.url a Helm repository?"
                            if status == 404 and what == "index"
                            else ""
                        ),
                        url=call.url,
                        chart=call.chart,
                        retry_after=_retry_after(response.headers.get("Retry-After")),
                    )
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise _too_large(call, what, shown, limit)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(call, what, shown, limit)
                    chunks.append(chunk)
                return status, response.headers, b"".join(chunks)
        except aiohttp.ClientConnectorCertificateError as err:
            raise ChartAuthError(
                f"{shown}: the server's certificate did not verify ({err.certificate_error}); "
                "put the CA bundle in the Secret's ca.crt",
                url=call.url,
                chart=call.chart,
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            reason = str(err) or type(err).__name__
            if isinstance(err, TimeoutError):
                reason = f"no answer within {call.timeout:g}s"
            raise ChartRepositoryUnavailableError(
                f"{shown}: {reason}", url=call.url, chart=call.chart
            ) from None


_MAX_PAGES = 100  # pages of a tag list
_HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class _Registry:
    """Requests to one OCI registry for one call: Basic auth where the registry asks for it,
    else the bearer-token flow (`WWW-Authenticate: Bearer realm=...`), the token kept for the
    call's other requests."""

    def __init__(self, fetcher: ChartFetcher, session: aiohttp.ClientSession, call: _Call) -> None:
        self.fetcher = fetcher
        self.session = session
        self.call = call
        self.authorization = ""

    async def get(
        self, url: str, headers: Mapping[str, str], limit: int, what: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        answers = frozenset({200, 401, 404})
        status, answer, body = await self.fetcher._get(
            self.session,
            self.call,
            url,
            headers,
            limit,
            what=what,
            authorization=self.authorization,
            answers=answers,
        )
        if status == 401:
            self.authorization = await self._authorize(answer.get("WWW-Authenticate", ""))
            status, answer, body = await self.fetcher._get(
                self.session,
                self.call,
                url,
                headers,
                limit,
                what=what,
                authorization=self.authorization,
                answers=frozenset({200, 404}),
            )
        return status, answer, body

    async def _authorize(self, challenge: str) -> str:
        creds = self.call.credentials
        basic = (
            aiohttp.encode_basic_auth(creds.username, creds.password)
            if creds is not None and creds.username is not None and creds.password is not None
            else ""
        )
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not basic:
                raise ChartAuthError(
                    f"the registry of {self.call.url} asks for credentials: set spec.secretRef",
                    url=self.call.url,
                    chart=self.call.chart,
                )
            return basic
        if creds is not None and creds.bearer_token:
            return f"Bearer {creds.bearer_token}"
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm", "")
        if scheme != "bearer" or not realm.startswith(("https://", "http://")):
            raise ChartAuthError(
                f"the registry of {self.call.url} asks for an authentication it cannot be given",
                url=self.call.url,
                chart=self.call.chart,
            )
        query = "&".join(f"{k}={v}" for k, v in params.items() if k in ("service", "scope"))
        token_url = f"{realm}?{query}" if query else realm
        _, _, body = await self.fetcher._get(
            self.session,
            self.call,
            token_url,
            {},
            1024 * 1024,
            what="token",
            authorization=basic,
        )
        try:
            answer = orjson.loads(body)
            token = str(answer.get("token") or answer.get("access_token") or "")
        except (orjson.JSONDecodeError, AttributeError):
            token = ""
        if not token:
            raise ChartAuthError(
                f"the token service of {self.call.url} answered no token",
                url=self.call.url,
                chart=self.call.chart,
            )
        return f"Bearer {token}"


def _next_page(link: str | None, current: str) -> str | None:
    """The next page of a paginated list (`Link: </v2/...?last=x>; rel="next"`)."""
    if not link or 'rel="next"' not in link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    return urljoin(current, target)


def _chart_layer(manifest: bytes) -> str | None:
    """The digest of a Helm chart manifest's chart layer."""
    try:
        doc = orjson.loads(manifest)
    except orjson.JSONDecodeError:
        return None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == _HELM_LAYER:
            digest = layer.get("digest")
            if isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                return digest
    return None


# -- pure parts ------------------------------------------------------------------------------


def parse_index(raw: bytes, charts: Iterable[str]) -> dict[str, list[ChartVersion] | None]:
    """The entries of `charts` in a Helm repository index (None for a chart it lacks).

    Raises ValueError when `raw` is not an index. Only the fields used are read, each checked
    for its type: a hostile index cannot make this walk more than it wrote.
    """
    _check_shape(raw)
    charts = list(charts)
    entries = _entries_as_helm_writes_them(raw, charts)
    if entries is None:
        entries = _load_entries(raw)
    out: dict[str, list[ChartVersion] | None] = {}
    for name in charts:
        items = entries.get(name)
        if not isinstance(items, list):
            out[name] = None
            continue
        versions: list[ChartVersion] = []
        for item in items[:_MAX_VERSIONS]:
            if not isinstance(item, dict) or not isinstance(item.get("version"), str):
                continue
            digest = item.get("digest")
            urls = item.get("urls")
            versions.append(
                ChartVersion(
                    item["version"],
                    digest if isinstance(digest, str) else "",
                    tuple(
                        u
                        for u in (urls if isinstance(urls, list) else [])[:_MAX_URLS]
                        if isinstance(u, str)
                    ),
                )
            )
        out[name] = versions
    return out


def _load_entries(raw: bytes) -> dict[Any, Any]:
    try:
        doc = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise ValueError(f"invalid YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict):
        raise ValueError("it has no 'entries' mapping")
    entries: dict[Any, Any] = doc["entries"]
    return entries


_ENTRIES_KEY = re.compile(rb"^entries:[ \t]*\r?$", re.MULTILINE)
# After a chart's key (column 2), its section ends at the next line indented less than 3
# columns that is not one of its list items (`  - `) or a comment.
_SECTION_END = re.compile(rb"^ {0,2}[^ \-#\r\n]", re.MULTILINE)


def _entries_as_helm_writes_them(raw: bytes, charts: list[str]) -> dict[Any, Any] | None:
    """The entries of `charts` read from their own lines only, when the index is laid out as
    Helm writes it (`entries:` at column 0, each chart's key at column 2): PyYAML builds Python
    objects at some MB/s, and a vendor index of tens of MB holds hundreds of charts when one is
    used. None (read the whole index) when the layout is another, or a section does not parse
    on its own."""
    top = _ENTRIES_KEY.search(raw)
    if top is None:
        return None
    sections = [b"entries:\n"]
    for chart in charts:
        key = re.compile(rb"^  " + re.escape(chart.encode()) + rb":[ \t]*\r?$", re.MULTILINE)
        found = key.search(raw, top.end())
        if found is None:
            return None  # absent, or written otherwise (quoted): the whole index decides
        end = _SECTION_END.search(raw, found.end() + 1)
        sections.append(raw[found.start() : end.start() if end else len(raw)].rstrip(b"\r\n"))
        sections.append(b"\n")
    try:
        doc = yaml.load(b"".join(sections), Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict):
        return None
    entries: dict[Any, Any] = doc["entries"]
    return entries


def _check_shape(raw: bytes) -> None:
    """Refuse what would make libyaml recurse without bound (deep nesting crashes it)."""
    if raw.count(b"[") + raw.count(b"{") > _MAX_NESTING:
        depth = 0
        for match in _BRACKETS.finditer(raw):
            if match.group() in (b"[", b"{"):
                depth += 1
                if depth > _MAX_NESTING:
                    raise ValueError(f"collections nested more than {_MAX_NESTING} deep")
            elif depth:
                depth -= 1
    if _DEEP_INDENT.search(raw):
        raise ValueError(f"a line indented more than {_MAX_INDENT} columns")


def resolve(
    entries: list[ChartVersion], wanted: SemverRange, *, chart: str, url: str
) -> ChartVersion:
    """The entry of the highest version `wanted` admits (pre-releases only when it names
    one); entries whose version is not semver are ignored, as Helm ignores them."""
    best = wanted.select(e.version for e in entries)
    if best is None:
        newest = _newest(entries)
        listed = f"; the newest are {', '.join(newest)}" if newest else "; it lists no version"
        text = str(wanted).strip()
        what = (
            f"version {text} of chart {chart!r} is not in the index of {url}"
            if _EXACT.match(text)
            else f"no version of chart {chart!r} in {url} matches {text!r}"
        )
        raise ChartVersionNotFoundError(what + listed, url=url, chart=chart)
    return next(e for e in entries if e.version == best)


def _newest(entries: list[ChartVersion], count: int = 5) -> list[str]:
    parsed = [(v, e.version) for e in entries if (v := parse_tag(e.version)) is not None]
    return [text for _, text in sorted(parsed, reverse=True)[:count]]


def unpack(archive: Path, target: Path, limits: Limits) -> Path:
    """Unpack a chart archive into `target` (created whole or not at all); returns the chart
    directory. Raises ValueError naming what is wrong with the archive."""
    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex}")
    tmp.mkdir(parents=True)
    try:
        top = _extract(archive, tmp, limits)
        if not (tmp / top / "Chart.yaml").is_file():
            raise ValueError(f"the archive holds no {top}/Chart.yaml")
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp)  # unpacked meanwhile by another call: the same bytes
        return target / top
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _extract(archive: Path, into: Path, limits: Limits) -> str:
    top: str | None = None
    total = 0
    count = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                count += 1
                if count > MAX_FILES:
                    raise ValueError(f"more than {MAX_FILES} entries")
                name = member.name
                parts = PurePosixPath(name).parts
                if not parts or name.startswith("/") or ".." in parts or "\\" in name:
                    raise ValueError(f"entry {name!r} leaves the chart")
                if member.issym() or member.islnk():
                    raise ValueError(f"entry {name!r} is a link: refused")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"entry {name!r} is not a file or directory: refused")
                if top is None:
                    top = parts[0]
                elif parts[0] != top:
                    raise ValueError("the archive holds more than one top directory")
                dest = into.joinpath(*parts)
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > limits.max_file_bytes:
                    raise ValueError(
                        f"{name} is larger than {limits.max_file_bytes} bytes (--max-file-size)"
                    )
                total += member.size
                if total > limits.max_render_bytes:
                    raise ValueError(f"unpacks to more than {limits.max_render_bytes} bytes")
                source = tar.extractfile(member)
                if source is None:
                    raise ValueError(f"entry {name!r} cannot be read")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with source, open(dest, "wb") as sink:  # noqa: PTH123
                    shutil.copyfileobj(source, sink, _CHUNK)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise ValueError(f"not a readable chart archive (.tgz): {err}") from None
    if top is None:
        raise ValueError("the archive is empty")
    return top


def _artifact(
    call: _Call, chosen: ChartVersion, digest: str, url: str, path: Path
) -> ChartArtifact:
    return ChartArtifact(
        chart=call.chart,
        version=chosen.version,
        digest=f"sha256:{digest}",
        url=_shown(url),
        path=str(path),
        fetched_at=datetime.now(UTC),
    )


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _shown(url: str) -> str:
    """A URL for messages: no user info, no query (a signed URL's query is a credential)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _too_large(call: _Call, what: str, shown: str, limit: int) -> Exception:
    message = f"{shown}: the {what} is larger than {limit} bytes: refused"
    if what == "index":
        return ChartIndexError(message, url=call.url, chart=call.chart)
    return ChartArchiveError(message, url=call.url, chart=call.chart)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    return None


_CONTEXTS: dict[bytes | None, ssl.SSLContext] = {}


def _ssl_context(ca: bytes | None) -> ssl.SSLContext:
    """The system's trust store, or the Secret's CA bundle alone when it gives one."""
    context = _CONTEXTS.get(ca)
    if context is None:
        context = ssl.create_default_context()
        if ca is not None:
            context = ssl.create_default_context(cadata=ca.decode("ascii", errors="replace"))
        if len(_CONTEXTS) > 64:
            _CONTEXTS.clear()
        _CONTEXTS[ca] = context
    return context


def _read_meta(directory: Path) -> _Index | None:
    try:
        return _Index.from_json((directory / "meta.json").read_bytes())
    except (OSError, ValueError, TypeError, orjson.JSONDecodeError):
        return None


def _write_meta(directory: Path, index: _Index) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / "meta.json", index.to_json())


def _write_index(directory: Path, raw: bytes, index: _Index) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / "index.yaml", raw)
    _write_atomic(directory / "meta.json", index.to_json())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    tmp.replace(path)
