"""Fixtures for agent tests: gitmoor's CRDs once per run, an agent per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitmoor.commands.run import install_crds
from gitmoor.kube import Kube
from tests.integration.agent.harness import AgentHarness


@pytest.fixture
async def crds(kube: Kube) -> None:
    # Idempotent and cheap once applied: the server answers an unchanged apply without a write.
    await install_crds(kube)


@pytest.fixture
async def harness(
    kube: Kube, kubeconfig: Path, namespace: str, tmp_path: Path, crds: None
) -> AsyncIterator[AgentHarness]:
    h = AgentHarness(kube, kubeconfig, namespace, tmp_path)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
