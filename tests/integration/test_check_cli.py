"""`gitmoor check` (and `install --wait`) for real, on a control plane of their own (install
writes cluster-wide RBAC): nothing installed, installed with an agent leading, then one thing
broken at a time. The agent runs in the test's process with the Lease in gitmoor-system, as the
installed Deployment's Pod would (kwok runs no containers)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmoor.kube import Kube
from gitmoor.model.crds import crds
from testenv.cluster import ControlPlane, throwaway
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness

pytestmark = [pytest.mark.cluster]

WIDTH = 80
_CRD_API = "apiextensions.k8s.io/v1"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with throwaway(tmp_path_factory.mktemp("check-cluster")) as plane:
        yield plane


async def gitmoor(*args: str, kubeconfig: Path, timeout: float = 180) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gitmoor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": str(WIDTH)},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def results(out: str) -> dict[str, str]:
    """Check name -> its line; every line fits 80 columns."""
    found = {}
    for line in out.splitlines():
        assert len(line) <= WIDTH, line
        if line[:1] != " ":
            found[line[10:].split(":", 1)[0]] = line
    return found


def failed(out: str) -> list[str]:
    return [name for name, line in results(out).items() if line.startswith("FAILED")]


async def test_install_wait_and_check_on_nothing_then_a_leading_agent_then_one_thing_missing(
    plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = plane.kubeconfig
    code, out, err = await gitmoor("check", kubeconfig=kubeconfig)
    assert code == 1, err
    shown = results(out)
    assert list(shown) == ["cluster", "CRDs", "RBAC", "agent", "leader"]
    assert shown["cluster"].startswith("ok        cluster: reachable, Kubernetes v1.")
    assert shown["CRDs"] == (
        "FAILED    CRDs: all 7 (gitmoor.io) not installed (hint: gitmoor install)"
    )
    assert failed(out) == ["CRDs", "RBAC", "agent", "leader"]

    # install --wait with no agent to lead: everything is applied, then it names what is
    # missing when its time is up.
    code, out, err = await gitmoor("install", "--wait", "--timeout", "3s", kubeconfig=kubeconfig)
    assert code == 1, err
    assert "applied Deployment gitmoor-system/gitmoor" in out
    assert "gitmoor agent ready" not in out
    (last,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert last.startswith("error: the agent is not ready: ")
    assert "no agent has led yet: no Lease gitmoor-system/gitmoor-leader" in last
    assert "Traceback" not in err
    async with await Kube.from_kubeconfig(kubeconfig) as kube:
        agent = AgentHarness(kube, kubeconfig, "gitmoor-system", tmp_path)
        await agent.start()
        try:
            code, out, err = await gitmoor("install", "--wait", kubeconfig=kubeconfig)
            assert code == 0, err
            assert out.splitlines()[-1] == "gitmoor agent ready"
            assert "agent: Deployment gitmoor-system/gitmoor available (1/1 ready)" in err
            assert " leads, renewed " in err
            code, out, err = await eventually(
                lambda: gitmoor("check", kubeconfig=kubeconfig),
                lambda r: r[0] == 0,
                within=120,
                what="every check to pass",
            )
            shown = results(out)
            assert all(line.startswith("ok ") for line in shown.values()), out
            assert "…" not in out  # each line whole at 80 columns
            assert "RBAC: gitmoor-system/gitmoor may do all it needs (" in out
            assert "CRDs: all 7 (gitmoor.io) as gitmoor " in out
            assert "agent: Deployment gitmoor-system/gitmoor available (1/1 ready)" in out
            assert " leads, renewed " in shown["leader"]

            # A CRD unlike the one this CLI generates (another gitmoor's): that check alone.
            (sync_crd,) = [c for c in crds() if c["metadata"]["name"] == "syncs.gitmoor.io"]
            changed = copy.deepcopy(sync_crd)
            schema = changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            schema["properties"]["spec"]["properties"]["newerField"] = {"type": "string"}
            await kube.apply(changed, field_manager="gitmoor-tests")
            code, out, _ = await gitmoor("check", kubeconfig=kubeconfig)
            assert code == 1
            assert failed(out) == ["CRDs"]
            assert out.splitlines()[1].startswith("FAILED    CRDs: syncs.gitmoor.io is not gitmoor")
            code, out, _ = await gitmoor("check", "-o", "json", kubeconfig=kubeconfig)
            assert code == 1
            (crd_check,) = [c for c in json.loads(out) if c["check"] == "CRDs"]
            assert crd_check["detail"].endswith("'s: v1alpha1 schema.spec.newerField: not expected")
            await kube.apply(sync_crd, field_manager="gitmoor-tests")  # gives the field up
            code, out, _ = await gitmoor("check", kubeconfig=kubeconfig)
            assert code == 0, out
        finally:
            await agent.stop()

        # The agent gone (it released its Lease): that check alone fails.
        code, out, _ = await gitmoor("check", kubeconfig=kubeconfig)
        assert code == 1
        assert failed(out) == ["leader"]
        assert "no agent holds Lease gitmoor-system/gitmoor-leader" in out
        assert "(hint: kubectl -n gitmoor-system logs deployment/gitmoor)" in out

        # A CRD missing.
        await kube.delete(_CRD_API, "CustomResourceDefinition", "syncs.gitmoor.io")
        code, out, _ = await gitmoor("check", kubeconfig=kubeconfig)
        assert code == 1
        assert "FAILED    CRDs: syncs.gitmoor.io not installed (hint: gitmoor install)" in out
        assert results(out)["agent"].startswith("ok ")
