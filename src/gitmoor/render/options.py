"""What a render needs besides the directory: the Helm release it would be, and its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gitmoor.model.capabilities import Capabilities
from gitmoor.render.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.sops import Keys

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class RenderOptions:
    """How to render one Sync's path.

    `release_name` and `namespace` name the Helm release (they are ignored for plain and Kustomize
    directories); `values_files` are relative to the chart directory and merged in order, then
    `values` over them, like `helm template -f a.yaml -f b.yaml --values`. `timeout` bounds each
    external tool run (kubectl kustomize, the Helm worker) in seconds. `limits` bound what
    reading the manifests may cost (`gitmoor.render.limits`). `capabilities` is what the chart's
    `.Capabilities` says about the cluster (None: Helm's defaults, as `helm template` has them).
    """

    release_name: str
    namespace: str
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    values_files: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    limits: Limits = DEFAULT_LIMITS
    decryption: Keys | None = None  # SOPS keys of the Sync's spec.decryption
    capabilities: Capabilities | None = None
