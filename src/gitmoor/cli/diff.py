"""`gitmoor diff PATH`: what a working tree would change in a live cluster, for pull requests.

Exit codes: 0 no differences, 1 differences (or the tree does not render or is refused by the
server's dry run), 2 wrong arguments, 3 the cluster cannot be reached or the Sync does not exist.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    NAMESPACE,
    OK,
    err,
    kubeconfig_path,
    local_dependencies,
    namespace_for,
    object_name,
    out,
    run_async,
)
from gitmoor.errors import DryRunError, RenderError, RenderErrors

if TYPE_CHECKING:
    from gitmoor.commands.preview import Entry, Preview


class DiffOutput(enum.StrEnum):
    text = "text"
    json = "json"


def diff(
    path: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Directory of the working tree to compare."
    ),
    sync: str | None = typer.Option(
        None,
        "--sync",
        parser=object_name,
        help="The Sync this directory is for: its Helm settings, target "
        "namespace and inventory (for prune) are used.",
    ),
    namespace: str | None = NAMESPACE,
    target_namespace: str | None = typer.Option(
        None,
        "--target-namespace",
        help="Without --sync: the namespace for namespaced objects that name none.",
    ),
    release_name: str = typer.Option(
        "release", "--release-name", help="Without --sync: the Helm release name for a chart."
    ),
    output: DiffOutput = typer.Option(DiffOutput.text, "--output", "-o", help="text or json."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show what applying PATH would create, change and prune, by a server-side dry run.

    Nothing is written. Exits 1 when there are differences, 0 when there are none."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.preview import Preview, Target, preview, sync_target
    from gitmoor.render import RenderOptions

    if sync is not None and target_namespace is not None:
        raise typer.BadParameter(
            "the Sync's own targetNamespace is used with --sync", param_hint="--target-namespace"
        )
    ns = namespace_for(namespace, kubeconfig, context)
    directory = path.resolve()
    root = _repository_root(directory)
    relative = directory.relative_to(root).as_posix() or "."

    async def main() -> Preview | RenderError | RenderErrors | DryRunError:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            if sync is not None:
                target = await sync_target(kube, sync, ns)
            else:
                target = Target(
                    None,
                    RenderOptions(
                        release_name=release_name, namespace=target_namespace or "default"
                    ),
                    target_namespace,
                )
            # A chart's unvendored dependencies come from their repositories, as in the agent.
            options = dataclasses.replace(target.options, dependencies=local_dependencies())
            target = dataclasses.replace(target, options=options)
            try:
                return await preview(kube, root, relative, target)
            except (RenderError, RenderErrors, DryRunError) as problem:
                # Reported object by object, below, rather than as one long line.
                return problem

    result = run_async(main)
    if not isinstance(result, Preview):
        _print_errors(result, output)
        raise typer.Exit(FAILED)
    if output is DiffOutput.json:
        typer.echo(json.dumps(_as_json(result, sync, ns), indent=2))
    else:
        _print(result)
    raise typer.Exit(FAILED if result.has_differences else OK)


def _repository_root(path: Path) -> Path:
    # Overlays reach outside their directory (../base): render from the checkout's root.
    for parent in (path, *path.parents):
        if (parent / ".git").exists():
            return parent
    return path


def _as_json(result: Preview, sync: str | None, namespace: str) -> dict[str, Any]:
    return {
        "differences": result.has_differences,
        "sync": f"{namespace}/{sync}" if sync else None,
        "created": [e.as_dict() for e in result.created],
        "changed": [e.as_dict() for e in result.changed],
        "pruned": [e.as_dict() for e in result.pruned],
        "unchanged": [e.ref.subject for e in result.unchanged],
        "notes": list(result.notes),
    }


def _line(mark: str, style: str, entry: Entry, what: str) -> Text:
    text = Text(f"{mark} {entry.ref.subject}", style=style)
    detail = what + (f" ({entry.note})" if entry.note else "")
    text.append(f"  {detail}", style="dim")
    return text


def _print(result: Preview) -> None:
    for entry in result.created:
        out.print(_line("+", "green", entry, "created"), soft_wrap=True)
    for entry in result.changed:
        out.print(
            _line("~", "yellow", entry, "changed: " + ", ".join(entry.fields)), soft_wrap=True
        )
        for line in entry.diff.splitlines():
            style = (
                "bold"
                if line.startswith(("---", "+++"))
                else "green"
                if line.startswith("+")
                else "red"
                if line.startswith("-")
                else "cyan"
                if line.startswith("@@")
                else ""
            )
            out.print(Text(f"    {line}", style=style), soft_wrap=True)
    for entry in result.pruned:
        out.print(_line("-", "red", entry, "pruned"), soft_wrap=True)
    for note in result.notes:
        err.print(Text(f"note: {note}"), soft_wrap=True)
    summary = result.summary() if result.has_differences else "no differences"
    out.print(Text(summary, style="bold"), soft_wrap=True)


def _print_errors(problem: RenderError | RenderErrors | DryRunError, output: DiffOutput) -> None:
    rows: list[dict[str, str]] = []
    if isinstance(problem, DryRunError):
        for f in problem.failures:
            rows.append(
                {"source": f.where, "subject": f.ref.subject, "field": f.field, "message": f.cause}
            )
    elif isinstance(problem, RenderErrors):
        rows.extend(
            {"source": "", "subject": "", "field": "", "message": str(e)} for e in problem.errors
        )
    else:
        rows.append({"source": "", "subject": "", "field": "", "message": str(problem)})
    if output is DiffOutput.json:
        typer.echo(json.dumps({"differences": None, "errors": rows}, indent=2))
        return
    for row in rows:
        text = ": ".join(
            v for v in (row["source"], row["subject"], row["field"], row["message"]) if v
        )
        err.print(Text(f"error: {text}", style="red"), soft_wrap=True)
