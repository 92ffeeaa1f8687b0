"""The manifests that install gitmoor into a cluster: CRDs, RBAC, the agent Deployment."""

from gitmoor.install.export import render_yaml
from gitmoor.install.manifests import manifests
from gitmoor.model.defaults import (
    DEFAULT_IMAGE,
    DEFAULT_LEDGER_VOLUME,
    DEFAULT_NAMESPACE,
    TENANCY_MODES,
)

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_LEDGER_VOLUME",
    "DEFAULT_NAMESPACE",
    "TENANCY_MODES",
    "manifests",
    "render_yaml",
]
