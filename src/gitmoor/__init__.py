"""gitmoor keeps Kubernetes clusters moored to Git: a pull-based GitOps agent."""

from __future__ import annotations

import functools

__all__ = ["__version__"]


@functools.cache
def _version() -> str:
    # Read on first use: importlib.metadata and the email package it loads cost every render
    # worker a few MiB that it would never use.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gitmoor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'gitmoor' has no attribute {name!r}")
