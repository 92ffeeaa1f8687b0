"""The agent's render workers: long-lived processes (`gitmoor.render.worker`) that read what
repositories hold, each with a bounded address space and each request with a time limit.

A worker is started on first use and kept, so a render pays a pipe round trip, not a Python
start (about 0.3 s): the request goes down its stdin, the manifests come back as one JSON
frame. A worker that runs out of memory or time is gone - killed, or exited by itself - and
the render fails with a RenderError naming the limit, as a kustomize or Helm run does; the
next render starts a fresh one. The agent itself never holds more than `max_render_bytes` of
what a worker sends back.

Workers are driven from threads with blocking pipes, so they serve any event loop (the agent's,
a CLI's, a test's). At most `SIZE` renders run at once per event loop; an extra worker idle for
`IDLE` seconds is let go, the first is kept.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from gitmoor.errors import RenderError
from gitmoor.model.limits import MIB, Limits
from gitmoor.render import wire
from gitmoor.render.process import memory_limited, out_of_memory
from gitmoor.render.tools import RenderTimeoutError

# Renders at once: the agent's default --concurrency, but no more than the CPUs it may use (a
# render is CPU work; each worker is some 20 MiB the agent's memory pays for).
SIZE = max(1, min(4, len(os.sched_getaffinity(0))))
IDLE = 60.0
# How long a render that finds every worker busy waits for one to come back before it starts
# another: renders of plain YAML take milliseconds, and many Syncs reconciling at once would
# otherwise keep SIZE workers alive for overlaps that last less than starting one takes.
SPARE_AFTER = 0.25
_MAX_STDERR = 4000
_MEMORY_DEATHS = {-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT}
_EXITING = 10.0  # seconds a worker that closed its answers may take to exit
# The worker must import this very gitmoor, installed or not.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class WorkerFailedError(Exception):
    """The worker died or broke without answering; `limit` names the limit that stopped it
    ("memory", "time"), or is None for anything else."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class Worker:
    """One worker process. `ask` blocks: call it from a thread."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.idle_since = time.monotonic()
        self._stopped_for: str | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p
        )
        argv = memory_limited([sys.executable, "-m", "gitmoor.render.worker"], memory)
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,  # a Ctrl-C of the CLI reaches the CLI, which lets it go
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._stopped_for is None and self._proc.poll() is None

    def ask(self, request: bytes, blob: bytes, time_limit: float) -> dict[str, Any]:
        """The answer to one request; WorkerFailedError when the worker died, ran out of its
        memory, or ran past `time_limit` seconds (it is then killed)."""
        deadline = time.monotonic() + time_limit
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(wire.frame(request))
            stdin.write(wire.frame(blob))
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._failure() from None
        payload = self._read_frame(deadline)
        if payload is None:
            raise self._failure()
        answer: dict[str, Any] = wire.loads(payload)
        failed = answer.get("failed")
        if failed is not None:
            self.stop()
            if failed == "memory":
                raise WorkerFailedError("ran out of memory and stopped", limit="memory")
            raise WorkerFailedError(f"broke: {failed}")
        return answer

    def kill(self, reason: str = "cancelled") -> None:
        """Kill the worker at once (from any thread); a pending `ask` returns."""
        if self._stopped_for is None:
            self._stopped_for = reason
        if self._proc.returncode is not None:
            return  # reaped already: its pid may be another process's now
        with contextlib.suppress(ProcessLookupError):
            # Its process group: a sops it started dies with it.
            os.killpg(self._proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Let the worker go: it exits when its stdin closes."""
        if self._stopped_for is None:
            self._stopped_for = "stopped"
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        if self._proc.poll() is None:
            self.kill()
            self._proc.wait()
        self._close()

    def _close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()

    def _read_frame(self, deadline: float) -> bytearray | None:
        """One frame from the worker's stdout, read straight into its buffer; None when the
        worker ended first. Past the deadline the worker is killed."""
        stdout = self._proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        header = self._read_into(fd, bytearray(wire.HEADER), deadline)
        if header is None:
            return None
        return self._read_into(fd, bytearray(wire.length(bytes(header))), deadline)

    def _read_into(self, fd: int, buffer: bytearray, deadline: float) -> bytearray | None:
        view = memoryview(buffer)
        done = 0
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while done < len(buffer):
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill("time")
                return None
            if not poller.poll(min(left, 3600.0) * 1000):
                continue
            count = os.readv(fd, [view[done:]])
            if count == 0:
                return None
            done += count
        return buffer

    def _failure(self) -> WorkerFailedError:
        """Why the worker ended without an answer."""
        try:
            # Its stdout closed: it is on its way out, whatever the reason.
            code = self._proc.wait(timeout=_EXITING)
        except subprocess.TimeoutExpired:
            self.kill(self._stopped_for or "hung")
            code = self._proc.wait()
        reason, self._stopped_for = self._stopped_for, "dead"
        stderr = self._stderr_tail()
        self._close()
        if reason == "time":
            return WorkerFailedError("ran past its time", limit="time")
        if reason is not None:
            return WorkerFailedError(f"was stopped ({reason})", limit=reason)
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        # Under memory pressure the kernel kills the worker first (its OOM score says so), and
        # at its address-space limit a C extension whose allocation fails may crash instead
        # of raising MemoryError (orjson does): nothing else in it kills it so.
        if code in _MEMORY_DEATHS or out_of_memory(stderr):
            return WorkerFailedError(f"died ({how}) at its memory limit", limit="memory")
        return WorkerFailedError(f"died ({how})")

    def _stderr_tail(self) -> bytes:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _MAX_STDERR))
            return self._stderr.read()
        except (OSError, ValueError):
            return b""


class Pool:
    """Idle workers, taken for one request at a time and given back when still sound."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[Worker] = []

    def take(self, memory: int) -> Worker:
        """An idle worker of `memory`, else a new one."""
        found, spare = self.pick(memory)
        for old in spare:
            old.stop()
        return found if found is not None else Worker(memory)

    def pick(self, memory: int) -> tuple[Worker | None, list[Worker]]:
        """An idle worker of `memory` or None, and the workers to stop (unfit, or extra and
        idle past `IDLE`), taken out; it never blocks, stopping them does."""
        with self._lock:
            spare = self._sort(memory)
            return (self._idle.pop() if self._idle else None), spare

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def reap(self) -> int:
        """Let go the extra workers idle for `IDLE` (the first is kept) now, not at the next
        render: after a burst, a quiet agent would otherwise hold them (about 20 MiB each)
        until something changes. Returns how many were let go."""
        with self._lock:
            memory = self._idle[0].memory if self._idle else 0
            spare = self._sort(memory)
        for old in spare:
            old.stop()
        return len(spare)

    def _sort(self, memory: int) -> list[Worker]:
        """Keep the sound workers of `memory` that are the first or not idle past `IDLE`;
        returns the others, taken out, to stop (outside the lock: stopping waits)."""
        now = time.monotonic()
        keep: list[Worker] = []
        spare: list[Worker] = []
        for worker in self._idle:
            fits = worker.alive and worker.memory == memory
            late = keep and now - worker.idle_since > IDLE
            (keep if fits and not late else spare).append(worker)
        self._idle = keep
        return spare

    def give(self, worker: Worker) -> None:
        if not worker.alive:
            worker.kill("dead")  # never blocks: the subprocess module reaps it later
            return
        worker.idle_since = time.monotonic()
        with self._lock:
            self._idle.append(worker)

    def stop_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


POOL = Pool()
atexit.register(POOL.stop_all)


def _stop(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()


class _Lane:
    """One event loop's renders: at most SIZE at once, and how many hold a worker now."""

    def __init__(self) -> None:
        self.gate = asyncio.Semaphore(SIZE)
        self.returned = asyncio.Condition()  # notified when a render gives its worker back
        self.busy = 0

    async def take(self, memory: int) -> Worker:
        # Counted first and picked with no await before it: two renders that find no idle
        # worker see each other, and do not both start one for an overlap of milliseconds.
        self.busy += 1
        worker, spare = POOL.pick(memory)
        try:
            deadline = time.monotonic() + SPARE_AFTER
            while worker is None and self.busy > 1:
                # Another render may pick the worker given back first: wait again, to the
                # deadline.
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                async with self.returned:
                    try:
                        await asyncio.wait_for(
                            self.returned.wait_for(lambda: POOL.idle() > 0), left
                        )
                    except TimeoutError:
                        break
                worker, more = POOL.pick(memory)
                spare += more
            if spare:
                await asyncio.to_thread(_stop, spare)
                spare = []
            if worker is None:
                worker = await asyncio.to_thread(Worker, memory)
        except BaseException:
            self.busy -= 1
            for old in spare:
                old.kill("stopped")  # never blocks, unlike `stop`
            if worker is not None:
                POOL.give(worker)
            raise
        return worker

    async def given_back(self) -> None:
        self.busy -= 1
        async with self.returned:
            self.returned.notify()


_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = weakref.WeakKeyDictionary()


def _lane() -> _Lane:
    loop = asyncio.get_running_loop()
    lane = _LANES.get(loop)
    if lane is None:
        lane = _LANES[loop] = _Lane()
    return lane


def reap() -> int:
    """Let go the render workers idle past `IDLE`, the first apart (the agent calls it now and
    then)."""
    return POOL.reap()


def warm_up(limits: Limits) -> None:
    """Start a worker ahead of the first render, so that no render waits for Python to start
    and import (the agent calls it once at start)."""
    POOL.give(POOL.take(limits.max_tool_memory))


async def ask(
    op: str,
    args: dict[str, Any],
    *,
    what: str,
    limits: Limits,
    time_limit: float,
    blob: bytes = b"",
) -> dict[str, Any]:
    """The worker's answer to `op`; its render errors are raised here as they were there.

    `what` says what was being read, for the message when the worker ran out of memory
    (a RenderError naming --max-tool-memory) or of time (a RenderTimeoutError, transient like a
    kustomize or Helm run past its time)."""
    request = wire.dump({"op": op, "limits": wire.limits_to_json(limits), **args})
    lane = _lane()
    async with lane.gate:
        worker = await lane.take(limits.max_tool_memory)
        try:
            answer = await asyncio.to_thread(worker.ask, request, blob, time_limit)
        except WorkerFailedError as err:
            raise _render_error(err, what, limits, time_limit) from None
        except BaseException:
            # Cancelled mid-request: its work is not wanted any more. The thread still in
            # `ask` sees the worker end and reaps it.
            worker.kill()
            raise
        else:
            POOL.give(worker)
        finally:
            await lane.given_back()
    wire.raise_errors(answer)
    return answer


def _render_error(
    err: WorkerFailedError, what: str, limits: Limits, time_limit: float
) -> RenderError | RenderTimeoutError:
    # structlog, so the line carries the reconcile's context (the Sync); imported here, as the
    # offline commands (`gitmoor render`, `validate`) render through this module and load no
    # structlog unless a worker fails (tests/unit/cli/test_startup.py).
    import structlog

    log = structlog.get_logger("gitmoor.render")
    log.warning("render worker stopped", reading=what, why=str(err), limit=err.limit)
    if err.limit == "memory":
        return RenderError(
            f"{what}: reading it needed more than {limits.max_tool_memory // MIB} MiB "
            f"(--max-tool-memory): the render worker {err}; the agent is unharmed"
        )
    if err.limit == "time":
        return RenderTimeoutError(
            f"{what}: the render worker ran longer than {time_limit:g}s (the Sync's timeout) "
            "and was stopped"
        )
    return RenderError(f"{what}: the render worker {err}")
