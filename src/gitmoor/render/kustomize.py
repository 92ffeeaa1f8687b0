"""A kustomization directory, built by `kubectl kustomize`.

kustomize keeps no record of which file an object came from unless asked: gitmoor builds through
a throwaway kustomization that includes the directory and asks for `originAnnotations`, reads
each object's source from them and strips them again. Only if the directory's own kustomization
asks for origin annotations are they left on the objects.

This module is the agent's side. The render worker decrypts SOPS files into the build tree
(`gitmoor.render.kustomize_sops`) and reads kustomize's output (`gitmoor.render.kustomize_output`)
without it: it would bring asyncio with it.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.model.limits import Limits
from gitmoor.render import pool, wire
from gitmoor.render.documents import load_single
from gitmoor.render.files import read_bounded
from gitmoor.render.kustomize_output import Build
from gitmoor.render.paths import is_inside, kustomization_file
from gitmoor.render.process import ToolTimeoutError, clean_env, out_of_memory, run_tool
from gitmoor.render.sops import Keys, memory_dir
from gitmoor.render.tools import RenderTimeoutError, kubectl

_MAX_MESSAGE = 2000
_YAML_LINE = re.compile(r"yaml: line (\d+)")
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|[\w.-]+\.[a-z]{2,}/)", re.IGNORECASE)


async def render_kustomize(
    root: Path,
    directory: Path,
    time_limit: float,
    limits: Limits,
    keys: Keys | None = None,
    *,
    sops_as_written: bool = False,
) -> list[Manifest]:
    """The objects `kubectl kustomize` builds from `directory`; `root` is the resolved artifact.

    SOPS files anywhere the kustomization reads (secretGenerator files, encrypted resources)
    are decrypted first (with `keys`), into a copy of the directories it reaches kept in
    memory-backed storage for the length of the build; without keys, with `sops_as_written`,
    they are built as written (`gitmoor.render.sops.without_metadata`). Finding and decrypting
    them, and reading what kustomize prints, happen in the render worker
    (`gitmoor.render.pool`)."""
    seen: set[Path] = set()
    await asyncio.to_thread(_check_local_bases, root, directory, directory, seen, limits)
    # Decrypted copies stay off the disk: without memory-backed storage the agent refuses
    # (its keys come from a Secret); nothing is decrypted without keys, and your own keys
    # (`render --decrypt`) may fall back to the temporary directory.
    with memory_dir("gitmoor-sops-", disk_ok=keys is None or keys.inherit) as mirror:
        answer = await pool.ask(
            "kustomize-sops",
            {
                "root": str(root),
                "directories": sorted(str(d) for d in seen),
                "mirror": str(mirror),
                "rendered": str(directory),
                "keys": wire.keys_to_json(keys),
                "as_written": sops_as_written,
            },
            what="the kustomization's SOPS files",
            limits=limits,
            time_limit=time_limit,
        )
        if not answer["value"]:
            return await _build(root, directory, time_limit, limits, sops_as_written)
        copy = mirror / directory.relative_to(root)
        return await _build(mirror, copy, time_limit, limits)


async def _build(
    root: Path, directory: Path, time_limit: float, limits: Limits, as_written: bool = False
) -> list[Manifest]:
    kfile = kustomization_file(directory)
    assert kfile is not None, "render_kustomize needs a kustomization directory"
    kfile_name = kfile.name
    top = await asyncio.to_thread(_read_kustomization, kfile, limits)
    with tempfile.TemporaryDirectory(prefix="gitmoor-kustomize-") as scratch:
        if "originAnnotations" in (top.get("buildMetadata") or []):
            build = Build(directory, directory, strip_origin=False)
        else:
            wrapper = await asyncio.to_thread(_write_wrapper, Path(scratch), directory, top)
            build = Build(wrapper, wrapper, strip_origin=True)
        output = await _kustomize(build.target, time_limit, kfile_name, limits.max_tool_memory)
        if isinstance(output, str) and build.target != directory:
            # Through the wrapper, kustomize's message drags the wrapper's paths along: build the
            # directory itself to report what its author will recognise.
            build = Build(directory, directory, strip_origin=False)
            output = await _kustomize(directory, time_limit, kfile_name, limits.max_tool_memory)
        if isinstance(output, str):
            raise _kustomize_error(output, root, directory, kfile_name)
        answer = await pool.ask(
            "kustomize-output",
            {
                "target": str(build.target),
                "origin_base": str(build.origin_base),
                "strip_origin": build.strip_origin,
                "directory": str(directory),
                "kfile": kfile_name,
                "as_written": as_written,
            },
            what=f"{kfile_name}: kustomize's output",
            limits=limits,
            time_limit=time_limit,
            blob=output,
        )
        return wire.manifests_from(answer)


async def _kustomize(target: Path, time_limit: float, kfile: str, memory: int) -> bytes | str:
    """The built YAML, or kustomize's message (str) when it failed."""
    argv = [str(kubectl()), "kustomize", str(target)]
    try:
        done = await run_tool(
            argv, env=clean_env(), time_limit=time_limit, cwd=target, memory=memory
        )
    except ToolTimeoutError as err:
        raise RenderTimeoutError(f"{kfile}: kustomize: {err}") from err
    if done.returncode == 0:
        return done.stdout
    if out_of_memory(done.stderr):
        raise RenderError(
            f"kustomize needed more than {memory // (1 << 20)} MiB (--max-tool-memory)",
            file=kfile,
        )
    return done.stderr.decode(errors="replace")


def _read_kustomization(kfile: Path, limits: Limits) -> dict[str, Any]:
    """The kustomization's fields, or nothing when it does not parse (kustomize says why).
    Read in the agent, within the limits: the file is small, and bounded it cannot hurt."""
    try:
        loaded = load_single(read_bounded(kfile, kfile.name, limits), kfile.name, limits=limits)
    except (OSError, RenderError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_wrapper(scratch: Path, directory: Path, top: dict[str, Any]) -> Path:
    """A kustomization in `scratch` that includes `directory` and asks for origins."""
    wrapper = scratch.resolve()
    wrapped: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize refuses absolute paths here; a relative one reaches anywhere.
        "resources": [os.path.relpath(directory, wrapper)],
        "buildMetadata": ["originAnnotations"],
    }
    if "sortOptions" in top:
        # Honoured only in the top kustomization, which the wrapper now is.
        wrapped["sortOptions"] = top["sortOptions"]
    (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(wrapped))
    return wrapper


def _check_local_bases(
    root: Path, directory: Path, rendered: Path, seen: set[Path], limits: Limits
) -> None:
    """Refuse resources, bases and components that lead out of the artifact or off to the
    network.

    kustomize itself keeps files a kustomization reads inside its own directory, but lets it
    include other kustomization directories from anywhere on disk.
    """
    if directory in seen:
        return
    seen.add(directory)
    kfile = kustomization_file(directory)
    if kfile is None:
        return
    top = _read_kustomization(kfile, limits)
    where = Path(os.path.relpath(kfile, rendered)).as_posix()
    for field in ("resources", "bases", "components"):
        entries = top.get(field)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, str):
                continue
            if _REMOTE.match(entry):
                # A render never reaches the network: what it builds is what the commit holds.
                raise RenderError(
                    f"{field} entry {entry!r} is remote: gitmoor renders only what the commit "
                    "holds (vendor it into the repository, or make it a GitSource of its own)",
                    file=where,
                )
            target = directory / entry
            if not os.path.lexists(target):
                continue  # kustomize reports it, or fetches it as a remote base
            if not is_inside(root, target):
                raise RenderError(f"{field} entry {entry!r} leads outside the source", file=where)
            if target.is_dir():
                _check_local_bases(root, target.resolve(), rendered, seen, limits)


def _kustomize_error(message: str, root: Path, directory: Path, kfile: str) -> RenderError:
    text = message.strip()
    for prefix in ("error: ", "Error: "):
        text = text.removeprefix(prefix)
    text = _relative_paths(text, root, directory)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    line = _YAML_LINE.search(text) if text.startswith("invalid Kustomization") else None
    return RenderError(
        f"kustomize: {text}" if text else "kustomize failed without a message",
        file=kfile,
        line=int(line.group(1)) if line else None,
    )


def _relative_paths(text: str, root: Path, directory: Path) -> str:
    """Absolute paths into the artifact, rewritten relative to the rendered directory."""
    pattern = re.compile(re.escape(str(root)) + r"(?:/[^\s'\":,]*)?")

    def relative(match: re.Match[str]) -> str:
        return Path(os.path.relpath(match.group(0), directory)).as_posix()

    return pattern.sub(relative, text)
