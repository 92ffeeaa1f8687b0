"""SOPS files a kustomization reads, decrypted into a copy of the directories it reaches before
kustomize builds it; done in the render worker (`gitmoor.render.worker`, which imports no
asyncio), the agent having picked the directories and the copy's place
(`gitmoor.render.kustomize`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gitmoor.errors import RenderError
from gitmoor.model.limits import Limits
from gitmoor.render.files import read_bounded
from gitmoor.render.sops import NO_KEYS, Decryptor, encrypted


def _relative(path: Path, directory: Path) -> str:
    return Path(os.path.relpath(path, directory)).as_posix()


def decrypt_into(
    root: Path,
    directories: set[Path],
    mirror: Path,
    rendered: Path,
    decryptor: Decryptor | None,
    limits: Limits,
    *,
    as_written: bool = False,
) -> bool:
    """Whether the directories a kustomization reaches hold SOPS files to decrypt; when they
    do, they are copied into `mirror` with those files decrypted. Without keys that is an
    error, or with `as_written` they are left as written. Blocking (the render worker runs
    it)."""
    secret = _encrypted_files(directories, rendered, limits)
    if not secret or (decryptor is None and as_written):
        return False
    if decryptor is None:
        raise RenderError(NO_KEYS, file=_relative(secret[0], rendered))
    for top in sorted(directories):
        shutil.copytree(top, mirror / top.relative_to(root), dirs_exist_ok=True)
    with decryptor:
        for path in secret:
            shown = _relative(path, rendered)
            plain = decryptor.decrypt(read_bounded(path, shown, limits), shown)
            target = mirror / path.relative_to(root)
            target.write_bytes(plain)
    return True


def _encrypted_files(directories: set[Path], rendered: Path, limits: Limits) -> list[Path]:
    found: list[Path] = []
    for top in sorted(directories):
        for current, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(current, name)
                if path.suffix.lower() not in (".yaml", ".yml", ".json", ".env"):
                    continue
                try:
                    data = read_bounded(path, _relative(path, rendered), limits)
                except (OSError, RenderError):
                    continue  # not one sops would read; kustomize says so if it needs it
                if encrypted(data):
                    found.append(path)
    return found
