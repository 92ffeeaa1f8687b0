"""Unpacking a tar+gzip from a repository or registry (a chart archive, a manifests artifact)
without trusting it: only regular files and directories, no absolute or climbing paths, no
links or devices, within `Limits` (`max_file_bytes` per file, `max_render_bytes` in all,
`MAX_FILES` entries). The target is created whole or not at all."""

from __future__ import annotations

import shutil
import tarfile
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_FILES = 10_000  # entries of one archive
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """What one archive may hold: the agent passes its render limits (`--max-file-size`, and
    the 256 MiB a plain render may read in all)."""

    max_file_bytes: int = 32 * 1024 * 1024
    max_render_bytes: int = 256 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def unpack(archive: Path, target: Path, limits: Limits) -> Path:
    """Unpack a chart archive (one top directory holding Chart.yaml) into `target`; returns
    the chart directory. Raises ValueError naming what is wrong with the archive."""

    def check(tmp: Path, top: str | None) -> Path:
        if top is None:
            raise ValueError("the archive is empty")
        if not (tmp / top / "Chart.yaml").is_file():
            raise ValueError(f"the archive holds no {top}/Chart.yaml")
        return Path(top)

    return _unpack(archive, target, limits, one_top=True, check=check)


def unpack_tree(archive: Path, target: Path, limits: Limits) -> Path:
    """Unpack a tar+gzip of files (a manifests artifact: any layout) into `target`; returns
    `target`. Raises ValueError naming what is wrong with the archive."""
    return _unpack(archive, target, limits, one_top=False, check=lambda _tmp, _top: Path())


def _unpack(
    archive: Path,
    target: Path,
    limits: Limits,
    *,
    one_top: bool,
    check: Callable[[Path, str | None], Path],
) -> Path:
    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex}")
    tmp.mkdir(parents=True)
    try:
        top = _extract(archive, tmp, limits, one_top=one_top)
        inside: Path = check(tmp, top)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp)  # unpacked meanwhile by another call: the same bytes
        return target / inside
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _extract(archive: Path, into: Path, limits: Limits, *, one_top: bool) -> str | None:
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
                if not parts and member.isdir() and not one_top:
                    continue  # "." or "./": the archive's own root
                if not parts or name.startswith("/") or ".." in parts or "\\" in name:
                    raise ValueError(f"entry {name!r} leaves the archive")
                if member.issym() or member.islnk():
                    raise ValueError(f"entry {name!r} is a link: refused")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"entry {name!r} is not a file or directory: refused")
                if one_top:
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
        raise ValueError(f"not a readable tar+gzip archive: {err}") from None
    if one_top and top is None:
        raise ValueError("the archive is empty")
    return top
