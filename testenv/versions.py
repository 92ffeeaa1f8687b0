"""Pinned versions of the local test control plane: change them here and only here."""

from __future__ import annotations

KUBERNETES = "v1.37.2"
ETCD = "v3.7.3"
KWOK = "v0.8.0"


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """k8s.io/kubernetes vX.Y.Z publishes its staging modules as v0.Y.Z."""
    _, minor, patch = kubernetes.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"


def cache_key() -> str:
    return f"k8s-{KUBERNETES}_etcd-{ETCD}_kwok-{KWOK}"
