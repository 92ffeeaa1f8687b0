"""A kustomization directory, built by `kubectl kustomize`.

kustomize keeps no record of which file an object came from unless asked: gitmoor builds through
a throwaway kustomization that includes the directory and asks for `originAnnotations`, reads
each object's source from them and strips them again. Only if the directory's own kustomization
asks for origin annotations are they left on the objects.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.model.limits import Limits
from gitmoor.render import pool, wire
from gitmoor.render.documents import Document, load_single, parse_yaml
from gitmoor.render.files import read_bounded
from gitmoor.render.objects import to_manifests
from gitmoor.render.paths import is_inside, kustomization_file
from gitmoor.render.problems import Problems
from gitmoor.render.process import ToolTimeoutError, clean_env, out_of_memory, run_tool
from gitmoor.render.sops import (
    NO_KEYS,
    Decryptor,
    Keys,
    encrypted,
    memory_dir,
    without_metadata,
)
from gitmoor.render.tools import RenderTimeoutError, kubectl

ORIGIN = "config.kubernetes.io/origin"
_MAX_MESSAGE = 2000
_YAML_LINE = re.compile(r"yaml: line (\d+)")
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|[\w.-]+\.[a-z]{2,}/)", re.IGNORECASE)


@dataclass(frozen=True)
class Build:
    """One kustomize run: the directory it builds and where origin paths are relative to."""

    target: Path
    origin_base: Path
    strip_origin: bool


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
    them, and
    reading what kustomize prints, happen in the render worker (`gitmoor.render.pool`)."""
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


def parse_output(
    output: bytes,
    build: Build,
    directory: Path,
    kfile: str,
    limits: Limits,
    *,
    as_written: bool = False,
) -> list[Manifest]:
    """The objects of kustomize's output, each named by the file it came from; with
    `as_written`, SOPS files' metadata dropped from them. Blocking (the render worker runs
    it)."""
    problems = Problems()
    parsed = parse_yaml(output, kfile, lines=False, limits=limits)
    if as_written:
        parsed = (replace(d, obj=without_metadata(d.obj)) for d in parsed)
    documents = _with_sources(parsed, build, directory, kfile)
    manifests = to_manifests(documents, problems, limits)
    problems.raise_if_any()
    return manifests


def _with_sources(
    documents: Iterator[Document], build: Build, directory: Path, kfile: str
) -> Iterator[Document]:
    for document in documents:
        obj = document.obj
        source = kfile
        annotations = _annotations(obj)
        if annotations is not None and isinstance(annotations.get(ORIGIN), str):
            source = _origin_source(annotations[ORIGIN], build.origin_base, directory) or kfile
            if build.strip_origin:
                del annotations[ORIGIN]
                if not annotations:
                    del obj["metadata"]["annotations"]
        yield Document(obj, source, None)


def _annotations(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    annotations = meta.get("annotations")
    return annotations if isinstance(annotations, dict) else None


def _origin_source(text: str, base: Path, directory: Path) -> str | None:
    """The file an origin annotation names, relative to the rendered directory."""
    try:
        origin = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(origin, dict):
        return None
    path = origin.get("path") or origin.get("configuredIn")
    if not isinstance(path, str):
        return None
    if isinstance(origin.get("repo"), str):
        ref = origin.get("ref")
        return f"{origin['repo']}//{path}" + (f"?ref={ref}" if isinstance(ref, str) else "")
    absolute = os.path.normpath(base / path)
    return Path(os.path.relpath(absolute, directory)).as_posix()


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
