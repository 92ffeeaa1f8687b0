"""A throwaway PostgreSQL server on loopback, for the shared-ledger tests.

`initdb` into a fresh temporary directory, `postgres` listening on a free 127.0.0.1 port with
its unix socket in that directory, trust authentication for one superuser (`gitmoor`), and
durability switched off (fsync) because the data dies with the test run anyway. `stop()`
signals exactly the server it started (fast shutdown, then immediate, then SIGKILL) and removes
the directory.

PostgreSQL refuses to run as root. When the tests run as root (containers, CI machines), the
server runs as the unprivileged `postgres` account that Debian's package creates, and the
directory is handed to it.

    python -m testenv.postgres          # start one, print its URL, stop on Enter
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

from testenv.ports import free_port

HOST = "127.0.0.1"
SUPERUSER = "gitmoor"
_BIN_ENV = "GITMOOR_PG_BINDIR"
_RUN_AS_WHEN_ROOT = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The server could not be set up, started or reached."""


def find_bindir() -> Path:
    """Where initdb and postgres live: $GITMOOR_PG_BINDIR, else the newest Debian install,
    else the directory of `pg_config` on PATH."""
    configured = os.environ.get(_BIN_ENV)
    candidates = [Path(configured)] if configured else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise PostgresError(
        "PostgreSQL server binaries not found (initdb, postgres): install Debian's postgresql "
        f"package (scripts/setup does) or set {_BIN_ENV}"
    )


def _die_with_parent() -> None:
    # If the test process is killed hard, the kernel tells the server to shut down (SIGINT is
    # PostgreSQL's fast shutdown), so no server outlives its test run.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGINT)


class Postgres:
    """One PostgreSQL server in a temporary directory of its own."""

    def __init__(self, *, bindir: Path | None = None, tie_to_parent: bool = True) -> None:
        self.bindir = bindir or find_bindir()
        self.tie_to_parent = tie_to_parent
        self.directory: Path | None = None
        self.port: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._account = pwd.getpwnam(_RUN_AS_WHEN_ROOT) if os.geteuid() == 0 else None

    # -- addresses -----------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """A libpq/SQLAlchemy-style URL of `database` (no password: loopback trust auth)."""
        if self.port is None:
            raise PostgresError("the server is not started")
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def log_path(self) -> Path:
        if self.directory is None:
            raise PostgresError("the server is not started")
        return self.directory / "postgres.log"

    def log_tail(self, lines: int = 40) -> str:
        if self.directory is None or not self.log_path.is_file():
            return "(no PostgreSQL log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *, timeout: float = 60.0) -> Postgres:
        if self._popen is not None:
            raise PostgresError("already started")
        self.directory = Path(tempfile.mkdtemp(prefix="gitmoor-pg-"))
        try:
            data, sockets = self.directory / "data", self.directory / "sockets"
            data.mkdir(mode=0o700)
            sockets.mkdir(mode=0o700)
            self._hand_over(self.directory, data, sockets)
            self._initdb(data)
            self.port = free_port(HOST)
            self._launch(data, sockets)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, grace: float = 15.0) -> None:
        """Stop the server this object started (and nothing else); remove its directory."""
        popen, self._popen = self._popen, None
        if popen is not None:
            for sig, wait in ((signal.SIGINT, grace), (signal.SIGQUIT, 5.0)):
                if popen.poll() is not None:
                    break
                popen.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(wait)
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def halt(self) -> None:
        """Stop the server as an outage would, keeping its data for `resume`."""
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.send_signal(signal.SIGINT)
            popen.wait(15)

    def resume(self, *, timeout: float = 60.0) -> None:
        """Start a halted server again, on the same data and port."""
        assert self.directory is not None
        self._launch(self.directory / "data", self.directory / "sockets")
        self._wait_ready(timeout)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        with psycopg.connect(self.url(), autocommit=True) as connection:
            # The name is checked above: identifiers cannot be bound as parameters.
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # -- helpers -------------------------------------------------------------------------------
    def _hand_over(self, *paths: Path) -> None:
        if self._account is None:
            return
        for path in paths:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    @property
    def _uid(self) -> int | None:
        return self._account.pw_uid if self._account is not None else None

    @property
    def _gid(self) -> int | None:
        return self._account.pw_gid if self._account is not None else None

    @property
    def _groups(self) -> list[int] | None:
        # Drop root's supplementary groups too when switching to the account.
        return [] if self._account is not None else None

    def _initdb(self, data: Path) -> None:
        argv = [
            str(self.bindir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        ]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=data,
            env=self._env(),
            user=self._uid,
            group=self._gid,
            extra_groups=self._groups,
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed ({result.returncode}):\n{result.stderr}")

    def _env(self) -> dict[str, str]:
        # libpq variables inherited from a developer's shell must not redirect the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _launch(self, data: Path, sockets: Path) -> None:
        assert self.port is not None
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"unix_socket_directories={sockets}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=self._env(),
                start_new_session=True,
                preexec_fn=_die_with_parent if self.tie_to_parent else None,
                user=self._uid,
                group=self._gid,
                extra_groups=self._groups,
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                raise PostgresError(f"postgres exited during start-up:\n{self.log_tail()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as problem:
                last = problem
                time.sleep(0.1)
        raise PostgresError(f"postgres not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")


def main() -> None:
    with Postgres(tie_to_parent=False) as server:
        print(server.url(), flush=True)
        print("press Enter to stop", file=sys.stderr, flush=True)
        sys.stdin.readline()


if __name__ == "__main__":
    main()
