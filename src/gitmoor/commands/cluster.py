"""Reaching a cluster: the client every command connects with.

Apart from the agent (`commands.run`), so that a command that only reads or writes a few
objects loads the Kubernetes client and nothing of the agent's runtime.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitmoor.kube import Kube


async def connect(kubeconfig: Path | None, context: str | None) -> Kube:
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return Kube.in_cluster()
    return await Kube.from_kubeconfig(kubeconfig, context=context)
