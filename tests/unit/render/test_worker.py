"""Repository content is read in the render worker, a process of its own with a bounded address
space and a time limit per request: a hostile file kills the worker, never the agent, and the
render after it gets a fresh worker."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
from pathlib import Path

import pytest

from gitmoor.errors import RenderError
from gitmoor.model.limits import MIB, Limits
from gitmoor.render import RenderOptions, RenderTimeoutError, pool, render
from gitmoor.render.pool import IDLE, POOL, Pool
from testenv.hostile import scalar_bomb
from testenv.wait import eventually

GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {a: b}\n"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def idle_pids() -> set[int]:
    return {worker.pid for worker in POOL._idle}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


async def test_objects_come_back_from_the_worker_as_the_files_hold_them(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app/a.yaml": GOOD + "---\n" + GOOD.replace("good", "second"),
            "app/b.json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},'
            ' "data": {"k": "dg=="}}',
        },
    )

    rendered = await render(root, "app", RenderOptions(release_name="r", namespace="n"))

    assert [(m.source, m.line, m.obj["metadata"]["name"]) for m in rendered.manifests] == [
        ("a.yaml", 1, "good"),
        ("a.yaml", 6, "second"),
        ("b.json", 1, "s"),
    ]
    assert rendered.manifests[0].obj["data"] == {"a": "b"}


async def test_a_file_that_expands_past_the_memory_cap_kills_the_worker_not_the_agent(
    tmp_path: Path,
) -> None:
    # 4 MiB aliased 200 times: 800 MiB once written out, past a 384 MiB address space.
    root = write(
        tmp_path,
        {
            "bomb/bomb.yaml": scalar_bomb("bomb", "n", scalar_mib=4, aliases=200),
            "good/cm.yaml": GOOD,
        },
    )
    limits = Limits(max_tool_memory=384 * MIB, max_render_bytes=4096 * MIB)
    options = RenderOptions(release_name="r", namespace="n", limits=limits)
    await render(root, "good", options)
    [worker] = [w for w in POOL._idle if w.memory == limits.max_tool_memory]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(RenderError) as caught:
        await render(root, "bomb", options)

    message = str(caught.value)
    assert "384 MiB" in message
    assert "--max-tool-memory" in message
    assert "render worker" in message
    # The worker that ran out is gone, and this process never held the expansion.
    assert not alive(worker.pid)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200 * 1024  # KiB
    # The next render gets a fresh worker and works.
    rendered = await render(root, "good", options)
    assert [m.obj["metadata"]["name"] for m in rendered.manifests] == ["good"]


async def test_large_strings_aliased_many_times_are_refused_by_their_text(tmp_path: Path) -> None:
    # 1 MiB aliased 40 times: 40 nodes, but 40 MiB written out, over a render size of 16 MiB.
    root = write(tmp_path, {"app/bomb.yaml": scalar_bomb("bomb", "n", scalar_mib=1, aliases=40)})
    limits = Limits(max_render_bytes=16 * MIB)

    with pytest.raises(RenderError, match=r"aliases expand beyond 16 MiB of text") as caught:
        await render(root, "app", RenderOptions(release_name="r", namespace="n", limits=limits))
    assert caught.value.file == "bomb.yaml"


async def test_a_render_past_its_time_stops_the_worker_and_the_next_one_works(
    tmp_path: Path,
) -> None:
    # About 200,000 objects: seconds of parsing, far past a time limit of 0.2 s.
    slow = "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n" for i in range(200_000)
    )
    root = write(tmp_path, {"slow/many.yaml": slow, "good/cm.yaml": GOOD})
    hurried = RenderOptions(
        release_name="r", namespace="n", timeout=0.2, limits=Limits(max_objects=1_000_000)
    )
    await render(root, "good", RenderOptions(release_name="r", namespace="n"))  # a warm worker
    worker = POOL._idle[-1]  # the one the next render takes

    with pytest.raises(RenderTimeoutError, match=r"ran longer than 0\.2s"):
        await render(root, "slow", hurried)

    assert not alive(worker.pid)
    rendered = await render(root, "good", RenderOptions(release_name="r", namespace="n"))
    assert len(rendered.manifests) == 1


async def test_a_worker_that_died_while_idle_is_replaced(tmp_path: Path) -> None:
    root = write(tmp_path, {"good/cm.yaml": GOOD})
    options = RenderOptions(release_name="r", namespace="n")
    await render(root, "good", options)
    killed = idle_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not any(alive(pid) for pid in killed):
            break
        await asyncio.sleep(0.05)

    rendered = await render(root, "good", options)

    assert len(rendered.manifests) == 1


async def test_renders_that_overlap_for_less_than_spare_after_share_one_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generous: a render waits for the busy worker to come back, and that is what ends the wait.
    monkeypatch.setattr(pool, "SPARE_AFTER", 30.0)
    root = write(tmp_path, {f"app{i}/cm.yaml": GOOD for i in range(6)})
    options = RenderOptions(release_name="r", namespace="n")
    POOL.stop_all()
    await render(root, "app0", options)
    [first] = idle_pids()

    rendered = await asyncio.gather(*(render(root, f"app{i}", options) for i in range(6)))

    assert all(len(r.manifests) == 1 for r in rendered)
    assert idle_pids() == {first}  # no second process was started for the overlaps


async def test_a_render_that_finds_the_worker_busy_past_spare_after_starts_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "SPARE_AFTER", 0.01)
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {a: b}\n"
    root = write(
        tmp_path,
        {"big/all.yaml": "---\n".join(doc % i for i in range(5000)), "small/cm.yaml": GOOD},
    )
    options = RenderOptions(release_name="r", namespace="n")
    POOL.stop_all()
    await render(root, "small", options)
    [first] = idle_pids()

    big = asyncio.create_task(render(root, "big", options))

    async def busy() -> int:
        return pool._lane().busy

    await eventually(busy, bool, within=10, what="the big render to hold the only worker")
    small = await render(root, "small", options)

    assert len(small.manifests) == 1
    assert len((await big).manifests) == 5000
    assert first in idle_pids()
    assert len(idle_pids()) == 2


def test_extra_workers_idle_too_long_are_let_go_without_waiting_for_a_render() -> None:
    pool = Pool()
    memory = Limits().max_tool_memory
    workers = [pool.take(memory) for _ in range(3)]  # none idle yet: three processes
    try:
        for worker in workers:
            pool.give(worker)
        assert pool.reap() == 0  # none idle long enough

        first, *extras = workers
        for worker in workers:
            worker.idle_since -= IDLE + 1  # a quiet minute after a burst of renders

        assert pool.reap() == 2
        assert pool._idle == [first]  # one stays, so the next render starts at once
        assert first.alive
        assert not any(alive(worker.pid) for worker in extras)
    finally:
        pool.stop_all()
