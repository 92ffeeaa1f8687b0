from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gitmoor.errors import TransientError
from gitmoor.render import RenderOptions, RenderTimeoutError, render
from gitmoor.render.process import ToolTimeoutError, clean_env, run_tool


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped by its (killed) parent's init is a zombie: count it dead.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


async def test_a_tool_past_its_time_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"

    with pytest.raises(ToolTimeoutError, match=r"ran longer than 0\.5s"):
        await run_tool(["sh", "-c", script], env=clean_env(), time_limit=0.5)

    child = int(pidfile.read_text())
    for _ in range(50):
        if not alive(child):
            break
        await asyncio.sleep(0.1)
    assert not alive(child)


async def test_the_tool_sees_none_of_the_agent_s_environment(monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/secret/kubeconfig")
    monkeypatch.setenv("GITMOOR_TOKEN", "hunter2")

    done = await run_tool(["env"], env=clean_env(), time_limit=30)

    names = {line.split("=", 1)[0] for line in done.stdout.decode().splitlines()}
    assert "KUBECONFIG" not in names
    assert "GITMOOR_TOKEN" not in names
    assert "PATH" in names


async def test_a_render_out_of_time_is_a_transient_error(data: Path) -> None:
    options = RenderOptions(release_name="web", namespace="store", timeout=0.001)

    for path in ("chart/shop", "kustomize/overlays/prod"):
        with pytest.raises(RenderTimeoutError) as caught:
            await render(data, path, options)
        assert isinstance(caught.value, TransientError)
