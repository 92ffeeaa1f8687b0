"""Unpack the tar `git archive` writes into a directory, keeping what the ignore rules keep.

The tar comes from our own `git archive`, but the tree in it comes from whoever controls the
remote, so every entry is checked: nothing is written outside the destination, symlinks may only
point inside it, and only files, directories and symlinks are created. A link's text is not
enough to judge it (`b -> a/..` climbs out when `a -> ..`): once the tree is written, every link
is resolved by the operating system and removed when it leads out, nowhere, or through a loop.
"""

from __future__ import annotations

import logging
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

from gitmoor.sources.ignore import IgnoreRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unpacked:
    files: int
    ignored: int
    refused: tuple[str, ...]  # entries not written because they were unsafe (listed for logs)


def unpack_tree(archive: Path, destination: Path, rules: IgnoreRules) -> Unpacked:
    """Write the kept entries of `archive` below `destination` (which must exist and be empty)."""
    root = destination.resolve()
    files = ignored = 0
    refused: list[str] = []
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar:
            name = _safe_name(member.name)
            if name is None:
                refused.append(member.name)
                continue
            if member.isdir():
                continue  # created on demand, so ignored and empty directories leave no trace
            if rules.ignores(name):
                ignored += 1
                continue
            if not (member.isreg() or member.issym()):
                refused.append(name)
                continue
            if member.issym() and not _link_stays_inside(name, member.linkname):
                refused.append(name)
                continue
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(root):
                refused.append(name)
                continue
            if member.issym():
                target.symlink_to(member.linkname)
            else:
                _write_file(tar, member, target)
            files += 1
    refused.extend(_remove_escaping_links(root))
    if refused:
        log.warning("left out %d unsafe archive entries: %s", len(refused), ", ".join(refused[:5]))
    return Unpacked(files, ignored, tuple(refused))


def _safe_name(name: str) -> str | None:
    """The entry's normalised relative path, or None when it is absolute or climbs out."""
    if name.startswith("/") or "\\" in name:
        return None
    normal = posixpath.normpath(name)
    if normal in (".", "") or normal == ".." or normal.startswith("../"):
        return None
    return normal


def _link_stays_inside(name: str, target: str) -> bool:
    if not target or target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    return resolved != ".." and not resolved.startswith("../")


def _remove_escaping_links(root: Path) -> list[str]:
    """Remove every symlink below `root` that does not really resolve inside it; their names.

    Removing a link can leave others pointing through it dangling, never somewhere new, so the
    passes repeat until one removes nothing.
    """
    removed: list[str] = []
    prefix = str(root).rstrip(os.sep) + os.sep
    while True:
        bad: list[Path] = []
        for current, dirs, files in os.walk(root):
            for name in (*dirs, *files):
                path = Path(current, name)
                if not path.is_symlink():
                    continue
                try:
                    real = os.path.realpath(path, strict=True)
                except (OSError, RuntimeError):
                    bad.append(path)
                    continue
                if real != str(root) and not real.startswith(prefix):
                    bad.append(path)
        if not bad:
            return removed
        for path in bad:
            path.unlink()
            removed.append(path.relative_to(root).as_posix())


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    assert source is not None  # regular members always have content
    mode = 0o755 if member.mode & 0o111 else 0o644
    # O_EXCL | O_NOFOLLOW: never write through something that is already there.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with source, os.fdopen(os.open(target, flags, mode), "wb") as sink:
        while chunk := source.read(1 << 20):
            sink.write(chunk)
    # The process umask must not decide the executable bit the digest depends on.
    target.chmod(mode)
