"""`gitmoor validate PATH...`: render like the agent, check every object, offline; for CI.

Exit codes: 0 when no errors were found (warnings allowed), 1 when there are errors, 2 for wrong
arguments (a missing PATH, an unknown Kubernetes version, an unreadable values file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gitmoor.cli.common import FAILED, OK, read_values
from gitmoor.errors import GitmoorError, RenderError, RenderErrors
from gitmoor.model import Manifest
from gitmoor.validate.releases import available_versions

# The validator (jsonschema and the schemas), the renderers and the migration readers load when
# `validate` runs; its help needs only the releases the installed schemas cover.
if TYPE_CHECKING:
    from gitmoor import validate as validation
    from gitmoor.render.documents import Document

_VERSIONS = available_versions()


class Format(enum.StrEnum):
    text = "text"
    json = "json"
    github = "github"


def validate(
    paths: list[Path] = typer.Argument(
        ...,
        exists=True,
        file_okay=False,
        help="Directories to validate.",
    ),
    output: Format = typer.Option(
        Format.text, "--output", "-o", help="text, json, or github (Actions annotations)."
    ),
    kubernetes_version: str | None = typer.Option(
        None,
        "--kubernetes-version",
        help=f"Check built-in kinds against this Kubernetes release ({_VERSIONS[0]} to "
        f"{_VERSIONS[-1]}; default: {_VERSIONS[-1]}).",
    ),
    crds: list[Path] = typer.Option(
        [], "--crds", exists=True, help="CRD files or directories for kinds defined elsewhere."
    ),
    helm_values: list[Path] = typer.Option(
        [],
        "--helm-values",
        "-f",
        exists=True,
        dir_okay=False,
        help="Helm values files for charts among the PATHs, merged in order.",
    ),
    release_name: str | None = typer.Option(
        None, "--release-name", help="Helm release name (default: release)."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Helm release namespace (default: default)."
    ),
    target_namespace: str | None = typer.Option(
        None, "--target-namespace", help="Namespace for the PATHs' namespaced objects."
    ),
    known_namespaces: list[str] = typer.Option(
        [], "--known-namespace", help="A namespace that exists without being declared here."
    ),
    follow_syncs: bool = typer.Option(
        True,
        "--follow-syncs/--no-follow-syncs",
        help="Also validate the paths of the Syncs found, with their own settings.",
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        exists=True,
        file_okay=False,
        help="Repository root that Sync paths are relative to (default: the Git checkout).",
    ),
    sync_files: list[Path] = typer.Option(
        [],
        "--sync",
        exists=True,
        help="Files or directories of Sync documents (or Flux Kustomizations and HelmReleases, "
        "Argo CD Applications) kept outside the repository: a PATH one of them names is "
        "validated with its targetNamespace and Helm settings.",
    ),
    scan_syncs: bool = typer.Option(
        True,
        "--repository-syncs/--no-repository-syncs",
        help="Read the Sync documents (and Flux Kustomizations and HelmReleases, Argo CD "
        "Applications, as `gitmoor import` reads them) of the whole repository for the PATHs "
        "they name "
        "(not when the PATHs' own settings are given: --target-namespace, --release-name, -n, "
        "-f).",
    ),
    decrypt: bool = typer.Option(
        False,
        "--decrypt",
        help="Decrypt SOPS files with your own sops keys (environment) and check what they "
        "hold; without it they are checked as written, their ENC[...] values opaque.",
    ),
) -> None:
    """Validate manifests offline: render each PATH like the agent, check every object.

    A PATH that a Sync names (its spec.path, relative to the repository root) is validated as
    that Sync's, with its targetNamespace and Helm settings: the Syncs of the repository's own
    files are read, and those of --sync FILE. Reports every problem as
    `file:line: Kind/ns/name: field: problem`. Exit code 1 when there are errors, 0 otherwise.

    SOPS-encrypted files need no keys: their `sops` metadata is set aside and their encrypted
    values are checked as the strings they are (`--decrypt` checks the plaintext instead).
    """
    from gitmoor import validate as validation
    from gitmoor.migrate import MARKERS, as_syncs

    resolved = [p.resolve() for p in paths]
    top = root.resolve() if root else repository_root(resolved)
    relative = [_inside(top, p) for p in resolved]
    explicit = [
        flag
        for flag, value in (
            ("--target-namespace", target_namespace),
            ("--release-name", release_name),
            ("--namespace", namespace),
            ("--helm-values", helm_values),
        )
        if value
    ]
    if sync_files and explicit:
        raise typer.BadParameter(
            f"--sync and {explicit[0]} both say how to render the PATHs: give one of them",
            param_hint="--sync",
        )
    foreign = validation.Foreign(as_syncs, MARKERS)
    given = validation.read_sync_files([f.resolve() for f in sync_files], top, foreign)
    scanned = (
        validation.scan_repository(top, foreign)
        if scan_syncs and not explicit
        else validation.SyncFiles((), ())
    )
    try:
        values = read_values(helm_values, "--helm-values")
        options = validation.Options(
            kubernetes_version=kubernetes_version,
            render=validation.RenderSpec(
                release_name=release_name or "release",
                namespace=namespace or "default",
                values=values,
            ),
            target_namespace=target_namespace,
            known_namespaces=frozenset(known_namespaces),
            follow_syncs=follow_syncs,
            syncs=given.syncs + scanned.syncs,
        )
        report = asyncio.run(
            validation.validate(
                top,
                relative,
                _renderer(top, decrypt=decrypt),
                options=options,
                crd_files=[c.resolve() for c in crds],
            )
        )
    except validation.KubernetesVersionError as problem:
        raise typer.BadParameter(str(problem), param_hint="--kubernetes-version") from None
    if given.problems:
        report = dataclasses.replace(
            report,
            problems=tuple(sorted(report.problems + given.problems, key=validation.sort_key)),
        )
    _print(report, output)
    raise typer.Exit(FAILED if report.errors else OK)


def repository_root(paths: list[Path]) -> Path:
    """The Git checkout holding the first path, else the directory the paths share."""
    for parent in (paths[0], *paths[0].parents):
        if (parent / ".git").exists():
            return parent
    return Path(os.path.commonpath(paths))


def _inside(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        raise typer.BadParameter(f"{path} is outside the repository root {root}") from None


# --- rendering ----------------------------------------------------------------------------------


def _renderer(root: Path, *, decrypt: bool = False) -> validation.Renderer:
    from gitmoor import validate as validation
    from gitmoor.render import Keys, RenderOptions, render

    async def render_one(path: str, spec: validation.RenderSpec) -> validation.Rendering:
        options = RenderOptions(
            release_name=spec.release_name,
            namespace=spec.namespace,
            values=spec.values,
            values_files=spec.values_files,
            # Offline, without keys: SOPS files are checked as written unless asked.
            decryption=Keys(inherit=True) if decrypt else None,
            sops_as_written=not decrypt,
        )
        try:
            rendered = await render(root, path, options)
        except (RenderError, RenderErrors) as err:
            salvaged = await asyncio.to_thread(_salvage, root, path)
            return validation.Rendering(tuple(salvaged), (err,))
        except GitmoorError as err:
            return validation.Rendering((), (err,))
        return validation.Rendering(rendered.manifests)

    return render_one


def _salvage(root: Path, path: str) -> list[Manifest]:
    """The objects of a plain directory's files that do parse, when others do not: rendering
    stops at the first broken file's problems, validation goes on with the rest.

    (Belongs in `gitmoor.render` as a partial render; kept here until it has one.)
    """
    from gitmoor.render import detect
    from gitmoor.render.documents import parse_json, parse_yaml
    from gitmoor.render.objects import to_manifests
    from gitmoor.render.paths import resolve_path
    from gitmoor.render.problems import Problems

    try:
        directory = resolve_path(root, path)
    except RenderError:
        return []
    if detect(directory) != "plain":
        return []
    documents: list[Document] = []
    for file in sorted(_plain_files(root, directory)):
        source = file.relative_to(directory).as_posix()
        parse = parse_json if file.suffix.lower() == ".json" else parse_yaml
        try:
            documents.extend(parse(file.read_bytes(), source))
        except (RenderError, OSError):
            # Reported by the render itself; the documents before the error were kept.
            continue
    return to_manifests(documents, Problems())


def _plain_files(root: Path, directory: Path) -> list[Path]:
    from gitmoor.render.paths import is_inside

    found: list[Path] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(current, name)
            if (
                not name.startswith(".")
                and name.lower().endswith((".yaml", ".yml", ".json"))
                and is_inside(root, path)
            ):
                found.append(path)
    return found


# --- output -------------------------------------------------------------------------------------


def _print(report: validation.Report, output: Format) -> None:
    if output is Format.json:
        typer.echo(json.dumps(_as_json(report), indent=2))
        return
    for problem in report.problems:
        typer.echo(_annotation(problem) if output is Format.github else str(problem))
    for use in report.syncs:
        if use.named:
            typer.echo(_sync_note(use), err=True)
    typer.echo(_summary(report), err=True)


def _sync_note(use: validation.SyncUse) -> str:
    """`apps/web: validated as Sync ns/web (clusters/prod/syncs.yaml:12): targetNamespace web`."""
    where = f" ({use.origin})" if use.origin else ""
    namespace = (
        f"targetNamespace {use.target_namespace}" if use.target_namespace else "no targetNamespace"
    )
    return f"{use.directory}: validated as {use.kind} {use.sync}{where}: {namespace}"


def _as_json(report: validation.Report) -> dict[str, Any]:
    return {
        "valid": report.errors == 0,
        "kubernetesVersion": report.kubernetes_version,
        "objects": report.objects,
        "errors": report.errors,
        "warnings": report.warnings,
        "directories": list(report.directories),
        "syncs": [use.as_dict() for use in report.syncs],
        "problems": [p.as_dict() for p in report.problems],
    }


def _summary(report: validation.Report) -> str:
    directories = len(report.directories)
    counted = f"{report.objects} objects in {directories} " + (
        "directory" if directories == 1 else "directories"
    )
    against = f"Kubernetes {report.kubernetes_version}"
    if not report.problems:
        return f"valid: {counted} ({against})"
    parts = ([f"{report.errors} error(s)"] if report.errors else []) + (
        [f"{report.warnings} warning(s)"] if report.warnings else []
    )
    return f"{', '.join(parts)} in {counted} ({against})"


def _annotation(problem: validation.Problem) -> str:
    """A GitHub Actions workflow command: `::error file=F,line=L::message`."""
    from gitmoor import validate as validation

    command = "warning" if problem.severity is validation.Severity.WARNING else "error"
    properties = [f"file={_escape_property(problem.file)}"]
    if problem.line:
        properties.append(f"line={problem.line}")
    properties.append(f"title={_escape_property('gitmoor validate')}")
    message = ": ".join(p for p in (problem.subject, problem.field, problem.message) if p)
    return f"::{command} {','.join(properties)}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
