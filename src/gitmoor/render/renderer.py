"""Artifact directory + path -> Rendered: pick the renderer by what the directory holds."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from gitmoor.model import Manifest, Rendered
from gitmoor.render import pool, wire
from gitmoor.render.digest import manifests_digest
from gitmoor.render.helm import render_helm
from gitmoor.render.kustomize import render_kustomize
from gitmoor.render.options import RenderOptions
from gitmoor.render.paths import detect, resolve_path

log = logging.getLogger(__name__)


async def render(root: Path, path: str, options: RenderOptions) -> Rendered:
    """Render `path` of the artifact checked out at `root`.

    A kustomization (`kustomization.yaml`, `kustomization.yml` or `Kustomization`) is built with
    kustomize, a `Chart.yaml` is templated with Helm, anything else is read as plain manifests.

    With `options.chart`, that chart is rendered with its values files read from `path`.

    Raises `RenderError` for one problem and `RenderErrors` (all of them) for several; both are
    permanent. `RenderTimeoutError` (transient) when kustomize or Helm ran out of time.
    """
    started = time.monotonic()
    real_root = await asyncio.to_thread(root.resolve)
    directory = await asyncio.to_thread(resolve_path, real_root, path)
    kind = "chart" if options.chart is not None else await asyncio.to_thread(detect, directory)
    manifests: list[Manifest]
    if kind == "kustomize":
        manifests = await render_kustomize(
            real_root,
            directory,
            options.timeout,
            options.limits,
            options.decryption,
            sops_as_written=options.sops_as_written,
        )
    elif kind == "helm":
        manifests = await render_helm(real_root, directory, options)
    elif kind == "chart":
        assert options.chart is not None
        chart = await asyncio.to_thread(options.chart.resolve)
        manifests = await render_helm(chart, chart, options, values_at=(real_root, directory))
    else:
        manifests = await _render_plain(real_root, directory, options)
    digest = await asyncio.to_thread(manifests_digest, manifests)
    log.debug(
        "rendered %s (%s): %d objects in %.2fs",
        path,
        kind,
        len(manifests),
        time.monotonic() - started,
    )
    return Rendered(tuple(manifests), digest)


async def _render_plain(root: Path, directory: Path, options: RenderOptions) -> list[Manifest]:
    """`gitmoor.render.plain` run in the render worker, SOPS files decrypted there."""
    answer = await pool.ask(
        "plain",
        {
            "root": str(root),
            "directory": str(directory),
            "keys": wire.keys_to_json(options.decryption),
            "as_written": options.sops_as_written,
        },
        what="the path's manifests",
        limits=options.limits,
        time_limit=options.timeout,
    )
    return wire.manifests_from(answer)
