"""A directory of plain manifests: every `*.yaml`, `*.yml` and `*.json` below it, in path order.

Hidden files and directories (a leading dot) are left out. A symlink is followed only while it
stays inside the artifact; one leading out is an error, never read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.documents import Document, parse_json, parse_yaml
from gitmoor.render.files import read_bounded, size_text
from gitmoor.render.objects import to_manifests
from gitmoor.render.paths import is_inside
from gitmoor.render.problems import Problems
from gitmoor.render.sops import NO_KEYS, Decryptor, encrypted, without_metadata

_YAML = (".yaml", ".yml")
_JSON = ".json"


def render_plain(
    root: Path,
    directory: Path,
    limits: Limits = DEFAULT_LIMITS,
    decryptor: Decryptor | None = None,
    *,
    as_written: bool = False,
) -> list[Manifest]:
    """The objects of every manifest file below `directory`; raises every problem at once.
    SOPS-encrypted files are decrypted in memory with `decryptor`; without one they are an
    error, or with `as_written` read as written (`gitmoor.render.sops.without_metadata`).

    Blocking: the caller runs it in a thread.
    """
    problems = Problems()
    files = sorted(_manifest_files(root, directory, problems), key=lambda f: f[0].parts)
    with decryptor if decryptor is not None else contextlib.nullcontext():
        documents = _documents(files, problems, limits, decryptor, as_written)
        manifests = to_manifests(documents, problems, limits)
    problems.raise_if_any()
    return manifests


def _documents(
    files: list[tuple[PurePosixPath, Path]],
    problems: Problems,
    limits: Limits,
    decryptor: Decryptor | None,
    as_written: bool,
) -> Iterator[Document]:
    total = 0
    for relative, path in files:
        source = relative.as_posix()
        try:
            data = read_bounded(path, source, limits)
            total += len(data)
            if total > limits.max_render_bytes:
                most = size_text(limits.max_render_bytes)
                problems.add(
                    RenderError(
                        f"the path's manifests add up to more than {most} here; split it "
                        "into several Syncs (--max-render-size)",
                        file=source,
                    )
                )
                return
            secret = encrypted(data)
            if secret and decryptor is not None:
                data = decryptor.decrypt(data, source)
            elif secret and not as_written:
                raise RenderError(NO_KEYS, file=source)
        except OSError as err:
            problems.add(RenderError(f"cannot read: {err.strerror}", file=source))
            continue
        except RenderError as err:
            problems.add(err)
            continue
        parse = parse_json if path.suffix.lower() == _JSON else parse_yaml
        try:
            for document in parse(data, source, limits=limits):
                if secret and decryptor is None:
                    document = replace(document, obj=without_metadata(document.obj))
                yield document
        except RenderError as err:
            problems.add(err)


def _manifest_files(
    root: Path, directory: Path, problems: Problems
) -> Iterator[tuple[PurePosixPath, Path]]:
    """(path relative to `directory`, path) of each manifest file, symlinked directories
    followed once each."""
    visited: set[Path] = set()
    pending = [(PurePosixPath(), directory)]
    while pending:
        relative_dir, current = pending.pop()
        real = current.resolve()
        if real in visited:
            continue
        visited.add(real)
        try:
            entries = list(os.scandir(current))
        except OSError as err:
            problems.add(RenderError(f"cannot list: {err.strerror}", file=str(relative_dir)))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = relative_dir / entry.name
            path = Path(entry.path)
            is_dir = entry.is_dir()
            if not is_dir and not entry.name.lower().endswith((*_YAML, _JSON)):
                continue
            if entry.is_symlink() and not is_inside(root, path):
                problems.add(
                    RenderError("is a symlink leading outside the source", file=str(relative))
                )
                continue
            if is_dir:
                pending.append((relative, path))
            elif entry.is_file():
                yield relative, path
