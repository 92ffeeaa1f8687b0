"""A directory of plain manifests: every `*.yaml`, `*.yml` and `*.json` below it, in path order.

Hidden files and directories (a leading dot) are left out. A symlink is followed only while it
stays inside the artifact; one leading out is an error, never read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.documents import Document, parse_json, parse_yaml
from gitmoor.render.files import read_bounded, size_text
from gitmoor.render.objects import to_manifests
from gitmoor.render.paths import is_inside
from gitmoor.render.problems import Problems
from gitmoor.render.sops import NO_KEYS, Decryptor, encrypted

_YAML = (".yaml", ".yml")
_JSON = ".json"


def render_plain(
    root: Path,
    directory: Path,
    limits: Limits = DEFAULT_LIMITS,
    decryptor: Decryptor | None = None,
) -> list[Manifest]:
    """The objects of every manifest file below `directory`; raises every problem at once.
    SOPS-encrypted files are decrypted in memory with `decryptor` (an error without one).

    Blocking: the caller runs it in a thread.
    """
    problems = Problems()
    files = sorted(_manifest_files(root, directory, problems), key=lambda f: f[0].parts)
    with decryptor if decryptor is not None else contextlib.nullcontext():
        documents = _documents(files, problems, limits, decryptor)
        manifests = to_manifests(documents, problems, limits)
    problems.raise_if_any()
    return manifests


def _documents(
    files: list[tuple[PurePosixPath, Path]],
    problems: Problems,
    limits: Limits,
    decryptor: Decryptor | None,
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
            if encrypted(data):
                if decryptor is None:
                    raise RenderError(NO_KEYS, file=source)
                data = decryptor.decrypt(data, source)
        except OSError as err:
            problems.add(RenderError(f"cannot read: {err.strerror}", file=source))
            continue
        except RenderError as err:
            problems.add(err)
            continue
        parse = parse_json if path.suffix.lower() == _JSON else parse_yaml
        try:
            yield from parse(data, source, limits=limits)
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
