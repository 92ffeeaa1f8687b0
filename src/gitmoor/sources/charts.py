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
import hashlib
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
import yaml

from gitmoor.errors import (
    ChartArchiveError,
    ChartAuthError,
    ChartDigestError,
    ChartError,
    ChartIndexError,
    ChartNotFoundError,
    ChartRepositoryUnavailableError,
    ChartVersionNotFoundError,
    RegistryAuthError,
    RegistryContentError,
    RegistryDigestError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    SourceConfigError,
)
from gitmoor.model import ChartArtifact
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import ChartSourceSpec
from gitmoor.sources import bounded_http
from gitmoor.sources.archives import DEFAULT_LIMITS, Limits, unpack
from gitmoor.sources.bounded_http import same_origin
from gitmoor.sources.oci import OciReference, Registry
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange, parse_tag
from gitmoor.sources.sweep import touch

log = logging.getLogger(__name__)

MAX_INDEX_BYTES = 128 * 1024 * 1024  # the largest public indexes are some tens of MB
_MAX_NESTING = 64  # flow collections ([ {) nested in an index: Helm writes none
_MAX_INDENT = 2_000  # columns of indentation in an index line
_BRACKETS = re.compile(rb"[\[\]{}]")
_DEEP_INDENT = re.compile(rb"^ {2001}", re.MULTILINE)
_MAX_VERSIONS = 20_000  # entries of one chart kept
_MAX_URLS = 8
_EXACT = re.compile(r"^[vV]?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


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
        touch(directory)  # in use: the cache sweep keeps it
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
            touch(self.root / "unpacked" / known, self.root / "archives" / f"{known}.tgz")
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
        try:
            reference = OciReference.parse(call.url).child(call.chart)
        except ValueError as err:
            raise SourceConfigError(f"spec.url: {err}", url=call.url) from None
        registry = Registry(session, reference.host, call.credentials, timeout=call.timeout)
        try:
            try:
                tags = await registry.tags(reference.repository)
            except RegistryNotFoundError:
                raise ChartNotFoundError(
                    f"the registry {reference.host} holds no chart {reference.repository}",
                    url=call.url,
                    chart=call.chart,
                ) from None
            # Helm writes a version's `+` as `_` in a tag (tags cannot hold `+`).
            entries = [ChartVersion(t.replace("_", "+"), "", (t,)) for t in tags]
            chosen = resolve(entries, wanted, chart=call.chart, url=call.url)
            manifest = await registry.manifest(
                reference.repository, chosen.urls[0], (_OCI_MANIFEST,)
            )
            digest = _chart_layer(manifest.body)
            if digest is None:
                raise ChartIndexError(
                    f"{reference.repository}:{chosen.urls[0]} is not a Helm chart (no chart layer)",
                    url=call.url,
                    chart=call.chart,
                )
            hexdigest = digest.removeprefix("sha256:")
            blob = f"https://{reference.host}/v2/{reference.repository}/blobs/{digest}"
            if (self.root / "unpacked" / hexdigest).is_dir():
                touch(
                    self.root / "unpacked" / hexdigest, self.root / "archives" / f"{hexdigest}.tgz"
                )
                chart_dir = self._unpacked(hexdigest, call, chosen)
                return _artifact(call, chosen, hexdigest, blob, chart_dir)
            try:
                data = await registry.blob(
                    reference.repository, digest, limit=self.limits.max_file_bytes
                )
            except RegistryContentError as err:
                if isinstance(err, RegistryDigestError):
                    raise
                # The chart archive itself is unusable (over the size limit), not the listing.
                raise ChartArchiveError(str(err), url=call.url, chart=call.chart) from None
        except RegistryError as err:
            raise _as_chart_error(err, call) from None
        chart_dir = await asyncio.to_thread(self._store, data, hexdigest, call, chosen)
        log.info("chart %s %s pulled (%d bytes)", call.chart, chosen.version, len(data))
        return _artifact(call, chosen, hexdigest, blob, chart_dir)

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
    ) -> tuple[int, Mapping[str, str], bytes]:
        """GET `url` from an HTTP repository; 200 and 304 are returned (a body only with
        200), anything else raises the error it means."""
        send = dict(headers)
        creds = call.credentials
        if creds is not None and same_origin(url, call.url):
            if creds.bearer_token:
                send["Authorization"] = f"Bearer {creds.bearer_token}"
            elif creds.username is not None and creds.password is not None:
                send["Authorization"] = aiohttp.encode_basic_auth(creds.username, creds.password)
        try:
            answer = await bounded_http.get(
                session,
                url,
                headers=send,
                limit=limit,
                timeout=call.timeout,
                ca=creds.ca if creds else None,
                what=what,
                answers=frozenset({200, 304}),
            )
        except bounded_http.Untrusted as err:
            raise ChartAuthError(
                f"{err}; put the CA bundle in the Secret's ca.crt", url=call.url, chart=call.chart
            ) from None
        except bounded_http.Refused as err:
            if err.status in (401, 403):
                raise ChartAuthError(
                    f"{err}: the repository refused "
                    + (
                        "the credentials of spec.secretRef"
                        if creds
                        else "access (no spec.secretRef)"
                    ),
                    url=call.url,
                    chart=call.chart,
                ) from None
            index_missing = err.status == 404 and what == "index"
            hint = ": is spec.url a Helm repository?" if index_missing else ""
            raise ChartRepositoryUnavailableError(
                f"{err}{hint}", url=call.url, chart=call.chart, retry_after=err.retry_after
            ) from None
        except bounded_http.TooLarge as err:
            kind = ChartIndexError if what == "index" else ChartArchiveError
            raise kind(str(err), url=call.url, chart=call.chart) from None
        except bounded_http.Unreachable as err:
            raise ChartRepositoryUnavailableError(
                str(err), url=call.url, chart=call.chart
            ) from None
        return answer.status, answer.headers, answer.body


_HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


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


def _artifact(
    call: _Call, chosen: ChartVersion, digest: str, url: str, path: Path
) -> ChartArtifact:
    return ChartArtifact(
        chart=call.chart,
        version=chosen.version,
        digest=f"sha256:{digest}",
        url=bounded_http.shown(url),
        path=str(path),
        fetched_at=datetime.now(UTC),
    )


def _as_chart_error(err: RegistryError, call: _Call) -> ChartError:
    """A registry's answer, worded for the ChartSource that asked."""
    message = str(err)
    if isinstance(err, RegistryAuthError):
        return ChartAuthError(message, url=call.url, chart=call.chart)
    if isinstance(err, RegistryNotFoundError):
        return ChartNotFoundError(message, url=call.url, chart=call.chart)
    if isinstance(err, RegistryUnavailableError):
        return ChartRepositoryUnavailableError(
            message, url=call.url, chart=call.chart, retry_after=err.retry_after
        )
    if isinstance(err, RegistryDigestError):
        return ChartDigestError(message, url=call.url, chart=call.chart)
    return ChartIndexError(message, url=call.url, chart=call.chart)


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
