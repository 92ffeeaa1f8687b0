"""Shared ssh connections: the private directory of the control masters' sockets, and their end.

Each SSH check is still a `git ls-remote`, but its ssh joins a connection kept open by a control
master (`environment.control_options`): no new TCP connection, key exchange or authentication
per source and interval. The sockets live in a directory of this process alone (0700, under
the system's temp dir because a socket's path must stay short); `close` asks every master to
exit and removes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from gitmoor.sources.process import GitTimeoutError, run_tool

_EXIT_TIMEOUT = 5.0
# The directory's path may take this much of a socket path's 104 bytes; the name takes 57.
_MAX_BASE = 30


class ControlMasters:
    def __init__(self) -> None:
        self._dir: Path | None = None

    @property
    def directory(self) -> Path:
        """Created at first use: most agents never talk ssh."""
        if self._dir is None:
            # 0700, as mkdtemp makes it: other users cannot reach the masters. A long TMPDIR
            # would leave no room for the socket's name (104 bytes in all): /tmp then.
            base = tempfile.gettempdir()
            if len(base) > _MAX_BASE:
                base = "/tmp"  # noqa: S108 - a private 0700 directory is made inside
            self._dir = Path(tempfile.mkdtemp(prefix="gitmoor-ssh-", dir=base))
        return self._dir

    def sockets(self) -> list[Path]:
        """The masters' sockets: one per host and credentials in use."""
        if self._dir is None or not self._dir.is_dir():
            return []
        return sorted(p for p in self._dir.iterdir() if p.is_socket())

    async def close(self, env: dict[str, str]) -> None:
        """Ask each master to exit (it closes its connection), then remove the directory."""
        if self._dir is None:
            return
        loop = asyncio.get_running_loop()
        for socket in self.sockets():
            # `-O exit` talks to the socket only: the host name is a placeholder.
            with contextlib.suppress(GitTimeoutError, OSError):
                await run_tool(
                    "ssh",
                    ["-F", os.devnull, "-o", f"ControlPath={socket}", "-O", "exit", "master"],
                    env=env,
                    cwd=self._dir,
                    deadline=loop.time() + _EXIT_TIMEOUT,
                )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None


__all__ = ["ControlMasters"]
