"""gitmoor's own CRDs, applied and waited for: by `gitmoor install`, `bootstrap` and the agent's
--config (not part of `commands.run`, which loads the whole agent)."""

from __future__ import annotations

from gitmoor.errors import GitmoorError
from gitmoor.health import wait_healthy
from gitmoor.kube import Kube
from gitmoor.model import ObjectRef
from gitmoor.model.crds import crds

# The field manager of what gitmoor applies as its own configuration: its CRDs, the objects
# `install` and `bootstrap` write, the documents of `run --config`.
CONFIG_MANAGER = "gitmoor-config"


async def install_crds(kube: Kube, *, timeout: float = 60.0) -> None:
    """Apply gitmoor's CRDs (a no-op when they are current) and wait until they are served."""
    targets: list[tuple[ObjectRef, str]] = []
    for crd in crds():
        await kube.apply(crd, field_manager=CONFIG_MANAGER)
        targets.append((ObjectRef.from_object(crd), str(crd["apiVersion"])))
    verdict = await wait_healthy(kube, targets, timeout=timeout)
    if not verdict.healthy:
        raise GitmoorError(f"gitmoor's CRDs did not become established: {verdict.summary()}")
    for crd in crds():
        kube.forget_crd(crd)
