"""`gitmoor render` and `gitmoor install`: commands about manifests."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    duration,
    err,
    fail,
    kubeconfig_path,
    ledger_volume_size,
    local_dependencies,
    namespace_name,
    object_name,
    out,
    pasteable,
    read_values,
    run_async,
)
from gitmoor.model import defaults
from gitmoor.model.capabilities import Capabilities

if TYPE_CHECKING:
    from gitmoor.commands.uninstall import Uninstalled


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


class RenderOutput(enum.StrEnum):
    yaml = "yaml"
    json = "json"


def render(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory to render."),
    values: list[Path] = typer.Option(
        [], "--values", "-f", exists=True, dir_okay=False, help="Helm values files (in order)."
    ),
    sync: str | None = typer.Option(
        None,
        "--sync",
        parser=object_name,
        help="Render with the settings of this Sync document of the repository (release name, "
        "namespace, values). Default: the Sync whose spec.path is PATH, if there is one.",
    ),
    release_name: str | None = typer.Option(
        None, "--release-name", help="Helm release name (default: the Sync's name, else release)."
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        "-n",
        parser=namespace_name,
        help="Helm release namespace (default: the Sync's, else default).",
    ),
    output: RenderOutput = typer.Option(RenderOutput.yaml, "--output", "-o", help="yaml or json."),
    decrypt: bool = typer.Option(
        False, "--decrypt", help="Decrypt SOPS files with your own sops keys (environment)."
    ),
    show_secrets: bool = typer.Option(
        False, "--show-secrets", help="Print Secret values; masked otherwise."
    ),
    kube_version: str | None = typer.Option(
        None,
        "--kube-version",
        help="A chart's .Capabilities.KubeVersion (the agent uses its cluster's), e.g. v1.37.0.",
    ),
    api_versions: list[str] = typer.Option(
        [],
        "--api-versions",
        "-a",
        help="Add to .Capabilities.APIVersions (repeatable; group/version or "
        "group/version/Kind, as `helm template --api-versions`).",
    ),
) -> None:
    """Render a directory the way the agent would (plain YAML, Kustomize or Helm) and print it.

    A chart's release is named like the agent names it: after the Sync whose path PATH is.
    Secret values are printed as <masked> unless --show-secrets is given."""
    from gitmoor import install as installer
    from gitmoor.commands.render import SyncNotFoundError, release_for
    from gitmoor.render import Keys, RenderOptions, merge_values
    from gitmoor.render import render as render_path

    path = path.resolve()
    root = _repository_root(path)
    relative = str(path.relative_to(root)) or "."
    try:
        chosen = release_for(root, relative, sync=sync, namespace=namespace)
    except SyncNotFoundError as problem:
        raise typer.BadParameter(str(problem), param_hint="--sync") from None
    options = RenderOptions(
        release_name=release_name or chosen.spec.release_name,
        namespace=namespace or chosen.spec.namespace,
        values=merge_values(dict(chosen.spec.values), read_values(values, "--values")),
        values_files=chosen.spec.values_files,
        decryption=Keys(inherit=True) if decrypt else None,
        capabilities=_capabilities(kube_version, api_versions),
        dependencies=local_dependencies(),
    )

    async def main() -> list:  # type: ignore[type-arg]
        rendered = await render_path(root, relative, options)
        return [m.obj for m in rendered.manifests]

    objects = run_async(main)
    if not show_secrets:
        objects = [mask_secret(o) for o in objects]
    if output is RenderOutput.json:
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        typer.echo(installer.render_yaml(objects), nl=False)


def install(
    export: bool = typer.Option(False, "--export", help="Print the manifests instead of applying."),
    namespace: str = typer.Option(
        defaults.DEFAULT_NAMESPACE, "--namespace", "-n", parser=namespace_name
    ),
    image: str = typer.Option(defaults.DEFAULT_IMAGE, "--image", help="The agent's image."),
    ledger_volume: str = typer.Option(
        defaults.DEFAULT_LEDGER_VOLUME,
        "--ledger-volume",
        parser=ledger_volume_size,
        help="Size of the ledger's PersistentVolumeClaim; `none` keeps it on an emptyDir "
        "(lost with the agent's Pod).",
    ),
    storage_class: str = typer.Option(None, "--storage-class", help="StorageClass of that claim."),
    tenancy: str = typer.Option(
        "cluster-admin",
        "--tenancy",
        help="cluster-admin: the agent applies with its own rights; strict: it only reads and "
        "impersonates, each Sync acting as a ServiceAccount of its namespace.",
    ),
    replicas: int = typer.Option(
        1,
        "--replicas",
        min=1,
        help="Agent replicas. Above 1 they share the Syncs (each reconciles its share, "
        "taking over a lost replica's within its Lease duration) and need --ledger-secret.",
    ),
    ledger_secret: str = typer.Option(
        None,
        "--ledger-secret",
        parser=object_name,
        help="A Secret in the agent's namespace whose `url` key is the PostgreSQL ledger URL "
        "(shared by the replicas, and by several clusters).",
    ),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Then wait until the agent Deployment is available and the agent leads.",
    ),
    crds_only: bool = typer.Option(
        False,
        "--crds-only",
        help="Only the CRDs, waiting until they are served: for an agent run out of the "
        "cluster (`gitmoor run`).",
    ),
    timeout: float = typer.Option(
        "5m", "--timeout", parser=duration, help="How long --wait waits, e.g. 90s, 5m."
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Install gitmoor (CRDs, RBAC, the agent Deployment), or print it with --export.

    With --wait, wait until the agent is available and leads (its Lease renewed), then say
    "gitmoor agent ready"; exits 1 naming what is missing when --timeout passes. With
    --crds-only, only the CRDs, and the command returns once they are served."""
    from gitmoor import install as installer

    if crds_only and wait:
        raise typer.BadParameter("--crds-only installs no agent to wait for", param_hint="--wait")
    if tenancy not in defaults.TENANCY_MODES:
        raise typer.BadParameter(
            f"{tenancy!r}: choose {' or '.join(defaults.TENANCY_MODES)}", param_hint="--tenancy"
        )
    try:
        objects = installer.manifests(
            namespace=namespace,
            image=image,
            ledger_volume=ledger_volume,
            storage_class=storage_class,
            tenancy=tenancy,
            replicas=replicas,
            ledger_secret=ledger_secret,
        )
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint="--replicas") from None
    if crds_only:
        objects = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    if export:
        typer.echo(installer.render_yaml(objects), nl=False)
        return
    # Only now: --export prints the manifests without loading the Kubernetes client.
    from gitmoor.commands.check import AgentNotReadyError, wait_agent
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.crds import CONFIG_MANAGER, install_crds

    async def main() -> AgentNotReadyError | None:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            if crds_only:
                await install_crds(kube)  # applied, then waited for until served
            for obj in objects:
                await kube.apply(obj, field_manager=CONFIG_MANAGER)
                meta = obj["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                out.print(f"applied {obj['kind']} {where}{meta['name']}", highlight=False)
            if not wait:
                return None
            with err.status("waiting for the agent") as spinner:

                def progress(line: str) -> None:
                    spinner.update(line)
                    err.print(f"  {line}", highlight=False, soft_wrap=True)

                try:
                    await wait_agent(kube, namespace, timeout=timeout, progress=progress)
                except AgentNotReadyError as problem:
                    return problem
            return None

    missing = run_async(main)
    if missing is not None:
        # Its hints, as commands that reach this cluster when pasted.
        hints = "; ".join(
            f"{c.detail} ({pasteable(c.hint, kubeconfig, context)})" for c in missing.checks
        )
        fail(f"the agent is not ready: {hints}", FAILED)
    if wait:
        out.print("gitmoor agent ready", highlight=False)


def uninstall(
    namespace: str = typer.Option(
        defaults.DEFAULT_NAMESPACE, "--namespace", "-n", parser=namespace_name
    ),
    timeout: float = typer.Option(
        "2m", "--timeout", parser=duration, help="How long to wait for the CRDs to go."
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Remove the agent and gitmoor's CRDs; every object the Syncs applied keeps running."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.uninstall import uninstall as remove_gitmoor

    async def main() -> Uninstalled:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await remove_gitmoor(
                kube,
                namespace=namespace,
                timeout=timeout,
                progress=lambda line: err.print(f"  {line}", highlight=False),
            )

    done = run_async(main)
    for gone in done.left:
        out.print(
            f"left {gone.objects} object(s) of Sync {gone.namespace}/{gone.name} running",
            highlight=False,
        )
    for subject in done.kept:
        out.print(f"kept {subject}", highlight=False)
    out.print(f"removed gitmoor ({len(done.removed)} objects)", highlight=False)


def _capabilities(kube_version: str | None, api_versions: list[str]) -> Capabilities | None:
    """What --kube-version and --api-versions ask for; None: Helm's defaults. Helm's own
    default API versions stay: the flags add to them, as with `helm template`."""
    if kube_version is None and not api_versions:
        return None
    if kube_version is not None and not re.fullmatch(r"v?\d+\.\d+(\.\d+)?([-+].*)?", kube_version):
        raise typer.BadParameter(
            f"{kube_version!r} is not a Kubernetes version such as v1.37.0",
            param_hint="--kube-version",
        )
    version = kube_version or ""
    return Capabilities(
        version if not version or version.startswith("v") else f"v{version}", tuple(api_versions)
    )
