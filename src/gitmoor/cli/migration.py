"""`gitmoor import`: Flux and Argo CD resources (files, or a cluster) -> GitSources,
ChartSources and Syncs.

The documents go to stdout (or one file each in --output-dir); what was not carried over, and
what was carried over but behaves differently, to stderr (and into `-o json`). Exit codes: 0
imported, 1 nothing to import found, 2 wrong usage (a missing or broken file), 3 the cluster.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from gitmoor.cli.common import (
    ALL_NAMESPACES,
    CONTEXT,
    FAILED,
    KUBECONFIG,
    NAMESPACE,
    USAGE,
    fail,
    kubeconfig_path,
    namespace_for,
    run_async,
)
from gitmoor.errors import MigrationInputError

if TYPE_CHECKING:
    from gitmoor.commands.migration import ClusterRead
    from gitmoor.migrate import Migration, Skipped


class Format(enum.StrEnum):
    yaml = "yaml"
    json = "json"


def import_(
    filenames: list[str] = typer.Option(
        [],
        "--filename",
        "-f",
        help="Files or directories of Flux or Argo CD resources; - reads stdin. Repeatable.",
    ),
    from_cluster: bool = typer.Option(
        False, "--from-cluster", help="Read the Flux and Argo CD resources of the cluster."
    ),
    namespace: str | None = NAMESPACE,
    all_namespaces: bool = ALL_NAMESPACES,
    output: Format = typer.Option(Format.yaml, "--output", "-o", help="yaml (default) or json."),
    output_dir: Path | None = typer.Option(
        None,
        "--output-dir",
        file_okay=False,
        help="Write one file per GitSource and Sync into this directory instead of stdout.",
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Write GitSources, ChartSources and Syncs equivalent to Flux's GitRepositories,
    Kustomizations, HelmRepositories, OCIRepositories and HelmReleases and Argo CD's
    Applications and AppProjects, and list what has no equivalent.

    With --from-cluster the resources are read through the kubeconfig: the context's namespace,
    or -n NS, or -A for every namespace. Secrets are never read or copied: credentials stay
    referenced by name."""
    from gitmoor.commands.migration import STDIN, read_cluster, read_files
    from gitmoor.migrate import migrate

    if not filenames and not from_cluster:
        fail("give -f FILE (or DIR, or - for stdin) or --from-cluster", USAGE)
    if (namespace or all_namespaces) and not from_cluster:
        fail("-n and -A choose the namespaces of --from-cluster", USAGE)
    try:
        stdin = sys.stdin.buffer.read() if STDIN in filenames else None
        files = read_files(filenames, stdin)
    except MigrationInputError as problem:
        fail(str(problem), USAGE)
    objects = list(files.objects)
    where = ", ".join("stdin" if f == STDIN else f for f in filenames)
    if from_cluster:
        from gitmoor.commands.cluster import connect  # files alone need no Kubernetes client

        scope = "" if all_namespaces else namespace_for(namespace, kubeconfig, context)

        async def main() -> ClusterRead:
            async with await connect(kubeconfig_path(kubeconfig), context) as kube:
                return await read_cluster(kube, scope)

        read = run_async(main)
        objects.extend(read.objects)
        cluster = f"the cluster ({'every namespace' if not scope else f'namespace {scope}'})"
        where = ", ".join(p for p in (where, cluster) if p)
    result = migrate(objects)
    if not result.read:
        _section("files not read (not YAML)", files.unreadable)
        hint = "" if all_namespaces or not from_cluster else "; -A looks in every namespace"
        fail(f"no Flux or Argo CD resources found in {where}{hint}", FAILED)
    if output_dir is not None:
        _write_files(result, output_dir, output)
    elif output is Format.json:
        typer.echo(json.dumps(_as_json(result), indent=2))
    else:
        typer.echo(yaml_documents(result.objects), nl=False)
    _report(result)
    _section("files not read (not YAML)", files.unreadable)


def yaml_documents(objects: tuple[dict[str, Any], ...]) -> str:
    return "---\n".join(
        yaml.dump(o, Dumper=_Dumper, sort_keys=False, allow_unicode=True) for o in objects
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (ignore patterns, say) as literal blocks, as a person writes them."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def _as_json(result: Migration) -> dict[str, Any]:
    return {
        "items": list(result.objects),
        "notCarriedOver": [s.as_dict() for s in result.skipped if not s.carried],
        "check": [s.as_dict() for s in result.skipped if s.carried],
    }


def _write_files(result: Migration, directory: Path, output: Format) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for obj in result.objects:
            meta = obj["metadata"]
            name = f"{obj['kind'].lower()}-{meta['namespace']}-{meta['name']}.{output.value}"
            text = (
                json.dumps(obj, indent=2) + "\n"
                if output is Format.json
                else yaml_documents((obj,))
            )
            (directory / name).write_text(text)
    except OSError as problem:
        fail(f"{directory}: cannot write: {problem.strerror}", USAGE)


def _report(result: Migration) -> None:
    kinds = [o["kind"] for o in result.objects]
    charts = kinds.count("ChartSource")
    # ChartSources only when there are some: the line most imports print stays as it was.
    made = (
        f"{kinds.count('GitSource')} GitSource(s), {charts} ChartSource(s)"
        if charts
        else (f"{kinds.count('GitSource')} GitSource(s)")
    )
    typer.echo(
        f"imported {result.read} resource(s) as {made} and {kinds.count('Sync')} Sync(s)",
        err=True,
    )
    _section("not carried over", [s for s in result.skipped if not s.carried])
    _section("carried over, but check", [s for s in result.skipped if s.carried])


def _section(title: str, items: Sequence[Skipped | str]) -> None:
    if not items:
        return
    typer.echo(f"{title} ({len(items)}):", err=True)
    for item in items:
        typer.echo(f"  {item}", err=True)
