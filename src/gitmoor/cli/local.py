"""`gitmoor render` and `gitmoor install`: commands about manifests."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from gitmoor import install as installer
from gitmoor.cli.common import CONTEXT, KUBECONFIG, Output, err, kubeconfig_path, out, run_async
from gitmoor.commands.run import CONFIG_MANAGER, connect
from gitmoor.commands.uninstall import Uninstalled
from gitmoor.commands.uninstall import uninstall as remove_gitmoor
from gitmoor.errors import GitmoorError
from gitmoor.model.durations import parse_duration
from gitmoor.render import Keys, RenderOptions
from gitmoor.render import render as render_path


def _repository_root(path: Path) -> Path:
    # Overlays reach outside their directory (../base): render from the checkout's root.
    for parent in (path, *path.parents):
        if (parent / ".git").exists():
            return parent
    return path


MASKED = "<masked>"


def mask_secret(obj: dict) -> dict:  # type: ignore[type-arg]
    """A Secret with every value of `data` and `stringData` replaced; anything else as it is."""
    if obj.get("kind") != "Secret" or str(obj.get("apiVersion")) != "v1":
        return obj
    masked = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            masked[field] = dict.fromkeys(obj[field], MASKED)
    return masked


def render(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory to render."),
    values: list[Path] = typer.Option([], "--values", "-f", help="Helm values files (in order)."),
    release_name: str = typer.Option("release", "--release-name", help="Helm release name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Helm release namespace."),
    output: Output = typer.Option(Output.yaml, "--output", "-o", help="yaml or json."),
    decrypt: bool = typer.Option(
        False, "--decrypt", help="Decrypt SOPS files with your own sops keys (environment)."
    ),
    show_secrets: bool = typer.Option(
        False, "--show-secrets", help="Print Secret values; masked otherwise."
    ),
) -> None:
    """Render a directory the way the agent would (plain YAML, Kustomize or Helm) and print it.

    Secret values are printed as <masked> unless --show-secrets is given."""
    path = path.resolve()
    root = _repository_root(path)
    merged: dict = {}  # type: ignore[type-arg]
    for file in values:
        loaded = yaml.safe_load(file.read_text()) or {}
        merged = {**merged, **loaded}
    options = RenderOptions(
        release_name=release_name,
        namespace=namespace,
        values=merged,
        decryption=Keys(inherit=True) if decrypt else None,
    )

    async def main() -> list:  # type: ignore[type-arg]
        rendered = await render_path(root, str(path.relative_to(root)) or ".", options)
        return [m.obj for m in rendered.manifests]

    try:
        objects = run_async(main)
    except typer.Exit:
        raise
    if not show_secrets:
        objects = [mask_secret(o) for o in objects]
    if output is Output.json:
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        typer.echo(installer.render_yaml(objects), nl=False)


def install(
    export: bool = typer.Option(False, "--export", help="Print the manifests instead of applying."),
    namespace: str = typer.Option(installer.DEFAULT_NAMESPACE, "--namespace", "-n"),
    image: str = typer.Option(installer.DEFAULT_IMAGE, "--image", help="The agent's image."),
    ledger_volume: str = typer.Option(
        None, "--ledger-volume", help="Size of a PersistentVolumeClaim for the ledger, e.g. 1Gi."
    ),
    storage_class: str = typer.Option(None, "--storage-class", help="StorageClass of that claim."),
    tenancy: str = typer.Option(
        "cluster-admin",
        "--tenancy",
        help="cluster-admin: the agent applies with its own rights; strict: it only reads and "
        "impersonates, each Sync acting as a ServiceAccount of its namespace.",
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Install gitmoor (CRDs, RBAC, the agent Deployment), or print it with --export."""
    if tenancy not in installer.TENANCY_MODES:
        err.print(
            f"[red]error:[/red] --tenancy {tenancy!r}: choose "
            f"{' or '.join(installer.TENANCY_MODES)}",
            highlight=False,
        )
        raise typer.Exit(2)
    objects = installer.manifests(
        namespace=namespace,
        image=image,
        ledger_volume=ledger_volume,
        storage_class=storage_class,
        tenancy=tenancy,
    )
    if export:
        typer.echo(installer.render_yaml(objects), nl=False)
        return

    async def main() -> None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            for obj in objects:
                await kube.apply(obj, field_manager=CONFIG_MANAGER)
                meta = obj["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                out.print(f"applied {obj['kind']} {where}{meta['name']}", highlight=False)

    try:
        run_async(main)
    except GitmoorError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1) from None


def uninstall(
    namespace: str = typer.Option(installer.DEFAULT_NAMESPACE, "--namespace", "-n"),
    timeout: str = typer.Option("2m", "--timeout", help="How long to wait for the CRDs to go."),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Remove the agent and gitmoor's CRDs; every object the Syncs applied keeps running."""
    seconds = parse_duration(timeout)

    async def main() -> Uninstalled:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await remove_gitmoor(
                kube,
                namespace=namespace,
                timeout=seconds,
                progress=lambda line: err.print(f"  {line}", highlight=False),
            )

    try:
        done = run_async(main)
    except GitmoorError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1) from None
    for gone in done.left:
        out.print(
            f"left {gone.objects} object(s) of Sync {gone.namespace}/{gone.name} running",
            highlight=False,
        )
    for subject in done.kept:
        out.print(f"kept {subject}", highlight=False)
    out.print(f"removed gitmoor ({len(done.removed)} objects)", highlight=False)
