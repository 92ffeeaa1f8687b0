"""Run one git command as a killable process with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class GitTimeoutError(Exception):
    """The command ran past its deadline and was killed (with everything it started)."""


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


async def run_git(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, deadline: float
) -> GitResult:
    """Run `git args...`, collecting its output, until `deadline` (event-loop time).

    The command starts in a session of its own, so a timeout or cancellation kills its process
    group: git's helpers (git-remote-https, ssh, upload-pack, gpg) go down with it instead of
    being left to hold connections and cache files.
    """
    return await run_tool("git", args, env=env, cwd=cwd, deadline=deadline)


async def run_tool(
    program: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    deadline: float,
    stdin: bytes | None = None,
) -> GitResult:
    """`run_git` for another program of the toolchain (gpg); `stdin` is fed to it."""
    loop = asyncio.get_running_loop()
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise GitTimeoutError
    process = await asyncio.create_subprocess_exec(
        program,
        *args,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), remaining)
    except TimeoutError:
        await _kill_group(process)
        raise GitTimeoutError from None
    except BaseException:
        await _kill_group(process)
        raise
    assert process.returncode is not None
    return GitResult(process.returncode, stdout, stderr.decode("utf-8", errors="replace"))


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    # start_new_session made git the leader of a process group numbered by its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()
