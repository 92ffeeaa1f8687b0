"""Offline validation of a repository's manifests, for CI: `gitmoor validate PATH...`.

Takes what rendering produced (this stage does not render: `gitmoor.cli` passes a renderer in)
and returns every problem found, each at a file and line: unknown kinds, schema violations of
built-in kinds (for a chosen Kubernetes release) and of custom resources (from the CRDs found),
duplicates, objects without a namespace, namespaces declared nowhere, and gitmoor's own
GitSource and Sync documents (model, Sync paths, dependsOn cycles). No cluster, no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitmoor.lazy import exports

if TYPE_CHECKING:
    from gitmoor.validate.builtin import KubernetesVersionError
    from gitmoor.validate.problems import Problem, Severity, sort_key
    from gitmoor.validate.releases import available_versions
    from gitmoor.validate.syncfiles import Foreign, SyncFiles, read_sync_files, scan_repository
    from gitmoor.validate.units import Renderer, Rendering, RenderSpec
    from gitmoor.validate.validator import Options, Report, SyncUse, validate

# Loaded on first use (PEP 562): `gitmoor validate --help` reads `releases` alone, which must not
# bring in the schema checker and jsonschema with it.
_HOMES = {
    "KubernetesVersionError": "builtin",
    "Problem": "problems",
    "Severity": "problems",
    "sort_key": "problems",
    "available_versions": "releases",
    "Foreign": "syncfiles",
    "SyncFiles": "syncfiles",
    "read_sync_files": "syncfiles",
    "scan_repository": "syncfiles",
    "Renderer": "units",
    "Rendering": "units",
    "RenderSpec": "units",
    "Options": "validator",
    "Report": "validator",
    "SyncUse": "validator",
    "validate": "validator",
}


__getattr__ = exports(__name__, _HOMES)


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
