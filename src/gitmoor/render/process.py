"""Run a render tool as a child process: bounded in time, never outliving its caller."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


class ToolTimeoutError(Exception):
    """The tool ran past its time and was killed."""


def clean_env(**extra: str) -> dict[str, str]:
    """An environment with nothing of the agent's own (no kubeconfig, tokens or proxies)."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


async def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    time_limit: float,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    memory: int | None = None,
) -> Finished:
    """Run `argv` to its end, `time_limit` seconds at most; its whole process group is killed on
    timeout or cancellation. With `memory`, its address space is limited to that many bytes
    (through util-linux's `prlimit`, where there is one: a pre-exec hook is unsafe in a
    threaded process), so a hostile chart or kustomization fails alone."""
    limited = memory_limited(argv, memory)
    proc = await asyncio.create_subprocess_exec(
        *limited,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,  # its own group, so children it starts die with it
    )
    try:
        async with asyncio.timeout(time_limit):
            stdout, stderr = await proc.communicate(stdin)
    except TimeoutError:
        await _kill(proc)
        raise ToolTimeoutError(f"{Path(argv[0]).name} ran longer than {time_limit:g}s") from None
    except BaseException:
        await _kill(proc)
        raise
    return Finished(proc.returncode if proc.returncode is not None else -1, stdout, stderr)


def memory_limited(argv: Sequence[str], memory: int | None) -> list[str]:
    """`argv` run with its address space limited to `memory` bytes, through util-linux's
    `prlimit` where there is one (as it stands when there is none, or no limit)."""
    tool = _prlimit_path()
    if memory is None or tool is None:
        return list(argv)
    return [tool, f"--as={memory}", "--", *argv]


@functools.cache
def _prlimit_path() -> str | None:
    return shutil.which("prlimit")


def out_of_memory(stderr: bytes) -> bool:
    """Whether a tool died of its memory limit (Go's and Python's own words)."""
    text = stderr.decode(errors="replace").lower()
    signs = ("out of memory", "memoryerror", "cannot allocate memory", "failed to reserve")
    return any(sign in text for sign in signs)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(proc.wait())
