"""Artifact + path -> manifests: plain YAML/JSON, Kustomize, Helm; errors carry file and line.

Never reads the cluster. One problem raises `gitmoor.errors.RenderError`; several found in one
pass raise `gitmoor.errors.RenderErrors` listing them all. A kustomize or Helm run that takes
too long raises `RenderTimeoutError`, a `TransientError`.
"""

from gitmoor.render.helm import merge_values
from gitmoor.render.options import RenderOptions
from gitmoor.render.paths import detect
from gitmoor.render.pool import reap, warm_up
from gitmoor.render.renderer import render
from gitmoor.render.sops import Keys
from gitmoor.render.tools import RenderTimeoutError

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
