"""Artifact + path -> manifests: plain YAML/JSON, Kustomize, Helm; errors carry file and line.

Never reads the cluster. One problem raises `gitmoor.errors.RenderError`; several found in one
pass raise `gitmoor.errors.RenderErrors` listing them all. A kustomize or Helm run that takes
too long raises `RenderTimeoutError`, a `TransientError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmoor.lazy import exports

if TYPE_CHECKING:
    from gitmoor.render.helm_values import merge_values
    from gitmoor.render.options import RenderOptions
    from gitmoor.render.paths import detect
    from gitmoor.render.pool import reap, warm_up
    from gitmoor.render.renderer import render
    from gitmoor.render.sops import Keys
    from gitmoor.render.tools import RenderTimeoutError

# Loaded on first use (PEP 562): the render worker (`gitmoor.render.worker`) imports this package
# too, and must not load the agent's side (the renderer, the pool: asyncio and ssl) with it.
_HOMES = {
    "merge_values": "helm_values",
    "RenderOptions": "options",
    "detect": "paths",
    "reap": "pool",
    "warm_up": "pool",
    "render": "renderer",
    "Keys": "sops",
    "RenderTimeoutError": "tools",
}


__getattr__ = exports(__name__, _HOMES)


__all__ = [
    "Keys",
    "RenderOptions",
    "RenderTimeoutError",
    "detect",
    "merge_values",
    "reap",
    "render",
    "warm_up",
]
