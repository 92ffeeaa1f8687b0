"""The `gitmoor` command as a user runs it, as real processes: one-shot commands and the agent.

On these machines no agent Pod can run (kwok fakes Pods), so the agent runs as a `gitmoor run`
process with the cluster's admin kubeconfig, standing in for its Pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

# `diff` and `bootstrap` are mounted on the root app here when app.py does not register them
# (yet); once it does, this is the plain `gitmoor` command.
_ENTRY = (
    "from gitmoor.cli.app import app\n"
    "from gitmoor.cli.bootstrap import bootstrap\n"
    "from gitmoor.cli.diff import diff\n"
    "n = {c.name for c in app.registered_commands}\n"
    "'bootstrap' in n or app.command('bootstrap')(bootstrap)\n"
    "'diff' in n or app.command('diff')(diff)\n"
    "app(prog_name='gitmoor')\n"
)
GITMOOR = [sys.executable, "-c", _ENTRY]


async def gitmoor(
    *args: str | Path, kubeconfig: Path, stdin: str | None = None, timeout: float = 300
) -> tuple[int, str, str]:
    """Run one gitmoor command; return its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        *GITMOOR,
        *(str(a) for a in args),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "250"},
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class AgentProcess:
    """`gitmoor run` against one cluster, its log in a file, stopped with SIGTERM."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        lease_namespace: str = "gitmoor-system",
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.env = env or {}  # more environment (GITMOOR_POD_NAME: the replica's identity)
        self.workdir = workdir
        self.lease_namespace = lease_namespace
        self.args = args  # more arguments of `gitmoor run` (--watch-namespace, --config)
        self.log = workdir / "agent.log"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gitmoor",
                "run",
                "--http-port",
                "0",
                "--lease-namespace",
                self.lease_namespace,
                "--cache-dir",
                str(self.workdir / "cache"),
                "--log-format",
                "json",
                *self.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.env},
            )

    async def stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return process.returncode

    def signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        self._process.send_signal(sig)

    def logged(self, event: str) -> int:
        """How many log lines the agent wrote with this event."""
        if not self.log.is_file():
            return 0
        return sum(
            1
            for line in self.log.read_text(errors="replace").splitlines()
            if f'"event": "{event}"' in line
        )

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def tail(self, lines: int = 40) -> str:
        if not self.log.is_file():
            return "(no agent log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
