"""What a render needs besides the directory: the Helm release it would be, and its limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from gitmoor.model.capabilities import Capabilities
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.sops import Keys

DEFAULT_TIMEOUT = 120.0


class DependencyFetcher(Protocol):
    """Fetches the dependencies of the chart in `chart` (of the artifact at `root`) that its
    `charts/` does not hold (`vendored` names those it does); returns (a name for it under
    `charts/`, its chart directory) for each. Raises a ChartError naming the one it cannot
    get. The sources provide it (`gitmoor.sources.chartdeps`)."""

    async def __call__(
        self, root: Path, chart: Path, vendored: frozenset[str]
    ) -> Sequence[tuple[str, Path]]: ...


@dataclass(frozen=True)
class RenderOptions:
    """How to render one Sync's path.

    `release_name` and `namespace` name the Helm release (they are ignored for plain and Kustomize
    directories); `values_files` are relative to the chart directory and merged in order, then
    `values` over them, like `helm template -f a.yaml -f b.yaml --values`. `timeout` bounds each
    external tool run (kubectl kustomize, the Helm worker) in seconds. `limits` bound what
    reading the manifests may cost (`gitmoor.model.limits`). `capabilities` is what the chart's
    `.Capabilities` says about the cluster (None: Helm's defaults, as `helm template` has them).

    `chart`, when set, is a chart directory from elsewhere (a ChartSource's unpacked archive):
    it is rendered instead of the path, and `values_files` are then relative to the path.

    `dependencies`, when set, fetches what a chart's `charts/` lacks; without it such a chart
    is refused (nothing rendered), as before dependencies could be fetched.

    `sops_as_written`: without `decryption`, SOPS files are read as they are written, their
    `sops` metadata dropped and their `ENC[...]` values opaque strings, instead of being an
    error (`gitmoor validate` checks a repository offline, without keys).
    """

    release_name: str
    namespace: str
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    values_files: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    limits: Limits = DEFAULT_LIMITS
    decryption: Keys | None = None  # SOPS keys of the Sync's spec.decryption
    capabilities: Capabilities | None = None
    chart: Path | None = None
    dependencies: DependencyFetcher | None = None
    sops_as_written: bool = False
