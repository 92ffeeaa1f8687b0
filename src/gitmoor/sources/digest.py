"""The content digest of an artifact: same files, same digest, whatever commit they came from."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

_CHUNK = 1 << 20


def tree_digest(root: Path) -> str:
    """`sha256:<hex>` over every file and symlink below `root`, sorted by relative path.

    Each entry contributes its path, its kind (`f` file, `x` executable file, `l` symlink) and
    the sha256 of its content (a symlink's target for links). Directories count only through
    what they hold, and timestamps and other mode bits not at all, so the digest changes exactly
    when what a renderer could read changes.
    """
    entries: list[tuple[str, str, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(directory)
        # os.walk lists symlinks to directories under dirnames; they are entries, not places to go.
        for name in [*filenames, *(d for d in dirnames if (base / d).is_symlink())]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                target = path.readlink()
                entries.append((relative, "l", hashlib.sha256(os.fsencode(target)).hexdigest()))
            elif stat.S_ISREG(info.st_mode):
                kind = "x" if info.st_mode & 0o111 else "f"
                entries.append((relative, kind, _file_sha256(path)))
    total = hashlib.sha256()
    for relative, kind, content in sorted(entries):
        total.update(f"{kind} {content} ".encode() + os.fsencode(relative) + b"\0")
    return f"sha256:{total.hexdigest()}"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
