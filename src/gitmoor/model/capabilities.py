"""What a cluster tells a Helm chart about itself (`.Capabilities`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """The cluster's Kubernetes version (`v1.37.2`) and every API version it serves, written
    as Helm writes them: `group/version` and `group/version/Kind` (`v1`, `v1/Pod` for the core
    group), sorted."""

    kube_version: str
    api_versions: tuple[str, ...]
