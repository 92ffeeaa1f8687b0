"""OCIArtifactFetcher: an OCISource's repository and ref -> its manifests layer unpacked on disk.

The ref picks a manifest: a digest as it is, the highest tag a semver range admits (every page
of the tag list), or a tag (`latest` by default). The manifest's first layer of the selected
media type (a tar+gzip of YAML, as `flux push artifact` and `oras push` make them) is
downloaded by digest, refused unless its sha256 is that digest, and unpacked safely
(`gitmoor.sources.archives`). A manifest already unpacked costs one manifest request and no
download.

With `layerSelector.operation: copy` the layer is one file (`oras push app.yaml:<type>`), put
in the tree as it is under the name its `org.opencontainers.image.title` annotation gives (a
plain file name, nothing with a directory in it), or `layer`.

The cache, under `<cache_dir>/artifacts/`:

    blobs/<sha256>.tgz                 layers by their digest
    unpacked/<sha256>/                 each layer unpacked once (the Sync's path is read inside)
    unpacked/<sha256>.copy-<name hash>/<name>   a copied layer, under the name it is given

The revision reads `<tag>@sha256:<manifest digest>` (`sha256:<hex>` for a digest ref).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from gitmoor.errors import (
    RegistryContentError,
    RegistryNotFoundError,
    SourceConfigError,
)
from gitmoor.model import Artifact, Commit
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import OCISourceSpec
from gitmoor.sources.archives import DEFAULT_LIMITS, Limits, unpack_tree
from gitmoor.sources.oci import DIGEST, MANIFEST_TYPES, OciReference, Registry
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange
from gitmoor.sources.sweep import touch

log = logging.getLogger(__name__)

# What a Git revision looks like in `org.opencontainers.image.revision` (flux push --revision).
_GIT_REVISION = re.compile(r"(?:^|@)(?:sha1:)?([0-9a-f]{40})$")
_REVISION = "org.opencontainers.image.revision"
_SOURCE = "org.opencontainers.image.source"
_CREATED = "org.opencontainers.image.created"
_ACCEPT = (MANIFEST_TYPES[0], MANIFEST_TYPES[2])  # OCI and Docker v2 manifests, not indexes
_TITLE = "org.opencontainers.image.title"
_COPIED = "layer"  # a copied layer's name when it has no title
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True)
class Layer:
    digest: str  # sha256:<hex>
    size: int
    title: str  # its org.opencontainers.image.title annotation ("" when none)


class OCIArtifactFetcher:
    def __init__(self, cache_dir: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.root = cache_dir / "artifacts"
        self.limits = limits
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(
        self, spec: OCISourceSpec, credentials: ChartCredentials | None, *, timeout: float
    ) -> Artifact:
        """The artifact `spec` names, its layer unpacked; RegistryError says what went wrong."""
        try:
            reference = OciReference.parse(spec.url)
        except ValueError as err:
            raise SourceConfigError(f"spec.url: {err}", url=spec.url) from None
        lock = self._locks.setdefault(reference.url, asyncio.Lock())
        async with aiohttp.ClientSession(trust_env=False) as session, lock:
            registry = Registry(session, reference.host, credentials, timeout=timeout)
            name, ref = await _resolve(registry, reference, spec)
            manifest = await registry.manifest(reference.repository, ref, _ACCEPT)
            document = manifest.document()
            layer = select_layer(document, spec.layer_selector.media_type)
            if layer is None:
                raise RegistryContentError(
                    f"{reference.url}:{name}: the artifact has no layer of type "
                    f"{spec.layer_selector.media_type} (spec.layerSelector.mediaType)",
                    url=reference.url,
                )
            if layer.size > self.limits.max_render_bytes:
                raise RegistryContentError(
                    f"{reference.url}:{name}: the layer is {layer.size} bytes, more than "
                    f"{self.limits.max_render_bytes}",
                    url=reference.url,
                )
            copied = spec.layer_selector.operation == "copy"
            file = copied_name(layer.title) if copied else None
            if copied and file is None:
                raise RegistryContentError(
                    f"{reference.url}:{name}: the layer's {_TITLE} {layer.title[:80]!r} is not a "
                    "plain file name (spec.layerSelector.operation: copy)",
                    url=reference.url,
                )
            hexdigest = layer.digest.removeprefix("sha256:")
            target = self.root / "unpacked" / _entry(hexdigest, file)
            if await asyncio.to_thread(target.is_dir):
                touch(target, self.root / "blobs" / f"{hexdigest}.tgz")
            else:
                data = await registry.blob(
                    reference.repository, layer.digest, limit=self.limits.max_render_bytes
                )
                await asyncio.to_thread(self._store, data, hexdigest, reference, target, file)
                log.info("artifact %s %s pulled (%d bytes)", reference.url, name, len(data))
        return _artifact(reference, name, manifest.digest, layer.digest, target, document)

    def _store(
        self, data: bytes, digest: str, reference: OciReference, target: Path, file: str | None
    ) -> None:
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        blob = blobs / f"{digest}.tgz"
        tmp = blob.with_name(f".{blob.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        tmp.replace(blob)
        if file is not None:
            _place(blob, target, file)
            return
        try:
            unpack_tree(blob, target, self.limits)
        except ValueError as err:
            blob.unlink(missing_ok=True)
            raise RegistryContentError(
                f"{reference.url}: the layer sha256:{digest}: {err}", url=reference.url
            ) from None


def copied_name(title: str) -> str | None:
    """The file name a copied layer takes: its title when that is a plain file name (no
    directory, no leading dot), `layer` when it has none; None for any other title."""
    if not title:
        return _COPIED
    return title if _FILE_NAME.fullmatch(title) and title not in (".", "..") else None


def _entry(hexdigest: str, file: str | None) -> str:
    """The cache entry of a layer: unpacked, or copied under a name (two manifests may give
    one blob two names)."""
    if file is None:
        return hexdigest
    return f"{hexdigest}.copy-{hashlib.sha256(file.encode()).hexdigest()[:16]}"


def _place(blob: Path, target: Path, file: str) -> None:
    """`target`/`file`: a copy of `blob`, made whole before it is in place."""
    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex}")
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(blob, tmp / file)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp)  # placed meanwhile by another call: the same bytes
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


async def _resolve(
    registry: Registry, reference: OciReference, spec: OCISourceSpec
) -> tuple[str, str]:
    """(what the revision is named after, the manifest reference to ask for)."""
    ref = spec.ref
    if ref.digest:
        return "", ref.digest
    if ref.semver:
        try:
            wanted = SemverRange.parse(ref.semver)
        except InvalidRangeError as err:
            raise SourceConfigError(f"spec.ref.semver: {err}", url=spec.url) from None
        tags = await registry.tags(reference.repository)
        best = wanted.select(tags)
        if best is None:
            raise RegistryNotFoundError(
                f"no tag of {reference.url} matches {ref.semver!r} ({len(tags)} tags)",
                url=reference.url,
            )
        return best, best
    tag = ref.tag or "latest"
    return tag, tag


def select_layer(manifest: dict[str, Any], media_type: str) -> Layer | None:
    """The manifest's first layer of `media_type`, if it has one."""
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("mediaType") != media_type:
            continue
        digest = layer.get("digest")
        size = layer.get("size")
        notes = layer.get("annotations")
        title = notes.get(_TITLE) if isinstance(notes, dict) else None
        if isinstance(digest, str) and DIGEST.fullmatch(digest):
            return Layer(
                digest,
                size if isinstance(size, int) and size >= 0 else 0,
                title if isinstance(title, str) else "",
            )
    return None


def _artifact(
    reference: OciReference,
    name: str,
    manifest_digest: str,
    layer_digest: str,
    path: Path,
    document: dict[str, Any],
) -> Artifact:
    annotations = document.get("annotations")
    notes = annotations if isinstance(annotations, dict) else {}
    revision = str(notes.get(_REVISION) or "")
    git = _GIT_REVISION.search(revision)
    source = str(notes.get(_SOURCE) or "")
    return Artifact(
        url=reference.url,
        revision=f"{name}@{manifest_digest}" if name else manifest_digest,
        digest=layer_digest,
        path=str(path),
        commit=Commit(
            # The Git commit the artifact was pushed from, when the pusher said (flux push
            # artifact --revision); else the manifest's digest names it.
            sha=git.group(1) if git else manifest_digest.removeprefix("sha256:"),
            author="",
            author_email="",
            time=_created(notes.get(_CREATED)),
            message=" ".join(p for p in (source, revision) if p)[:500],
        ),
        fetched_at=datetime.now(UTC),
    )


def _created(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)
