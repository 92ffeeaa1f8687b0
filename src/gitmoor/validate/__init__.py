"""Offline validation of a repository's manifests, for CI: `gitmoor validate PATH...`.

Takes what rendering produced (this stage does not render: `gitmoor.cli` passes a renderer in)
and returns every problem found, each at a file and line: unknown kinds, schema violations of
built-in kinds (for a chosen Kubernetes release) and of custom resources (from the CRDs found),
duplicates, objects without a namespace, namespaces declared nowhere, and gitmoor's own
GitSource and Sync documents (model, Sync paths, dependsOn cycles). No cluster, no network.
"""

from gitmoor.validate.builtin import KubernetesVersionError, available_versions
from gitmoor.validate.problems import Problem, Severity, sort_key
from gitmoor.validate.syncfiles import Foreign, SyncFiles, read_sync_files, scan_repository
from gitmoor.validate.units import Renderer, Rendering, RenderSpec
from gitmoor.validate.validator import Options, Report, SyncUse, validate

__all__ = [
    "Foreign",
    "KubernetesVersionError",
    "Options",
    "Problem",
    "RenderSpec",
    "Renderer",
    "Rendering",
    "Report",
    "Severity",
    "SyncFiles",
    "SyncUse",
    "available_versions",
    "read_sync_files",
    "scan_repository",
    "sort_key",
    "validate",
]
