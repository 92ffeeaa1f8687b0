"""What the web UI costs the agent: the overview of many Syncs, and many open live streams.

    .venv/bin/python -m benchmarks.ui_overview [--syncs 1000] [--requests 30] [--streams 50]

The UI's real routes (`gitmoor.server.ui`) are served on loopback by the agent's own server
code; the data comes from a fake agent cache holding --syncs Syncs (and one GitSource per ten)
shaped as the agent writes them, and a gate that lets the caller read everything (so the time is
the UI's own work: TokenReview and SubjectAccessReview answers are remembered for 10 s and cost
one API round trip per namespace when they are not). Generating 1,000 real Syncs on the local
control plane would measure the agent's reconciles, not the UI. Prints:

- the overview JSON of all Syncs and the page itself: median and p90 time per request;
- this process's CPU (server and clients together: an upper bound of the server's) over a quiet
  window with no stream and with --streams open, then with those streams open while 10 Syncs a
  second change in the cache (each change sent to every stream).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from gitmoor.model import ObjectRef
from gitmoor.reconcile.cache import OnChange
from gitmoor.reconcile.memory import Key
from gitmoor.server.access import Caller
from gitmoor.server.app import bound_port, serve
from gitmoor.server.ui import UiApi
from gitmoor.server.ui.gates import Principal

WINDOW = 5.0  # seconds of each CPU window


def _sync(i: int) -> dict[str, Any]:
    ns = f"team-{i % 20}"
    rev = f"main@sha1:{i:040x}"
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {
            "name": f"app-{i}",
            "namespace": ns,
            "creationTimestamp": "2026-03-01T00:00:00Z",
            "generation": 1,
        },
        "spec": {"sourceRef": {"name": f"repo-{i // 10}"}, "path": f"./apps/{i}", "interval": "5m"},
        "status": {
            "lastAppliedRevision": rev,
            "lastAttemptedRevision": rev,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ReconciliationSucceeded",
                    "message": f"Applied revision: {rev}",
                },
                {
                    "type": "Healthy",
                    "status": "True",
                    "reason": "Healthy",
                    "message": "12 objects healthy",
                },
            ],
            "history": [
                {
                    "revision": rev,
                    "result": "Applied",
                    "finishedAt": "2026-03-01T00:00:10Z",
                    "changes": "1 configured, 11 unchanged",
                }
            ],
        },
    }


def _source(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "GitSource",
        "metadata": {"name": f"repo-{i}", "namespace": f"team-{(i * 10) % 20}"},
        "spec": {"url": f"https://git.example/acme/repo-{i}.git"},
        "status": {
            "artifact": {"revision": f"main@sha1:{i:040x}", "message": "Bump", "author": "Ada"},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded", "message": ""}
            ],
        },
    }


class FakeBackend:
    """An agent's cache, in memory (pure data)."""

    def __init__(self, syncs: int) -> None:
        self.store: dict[Key, dict[str, Any]] = {}
        for i in range(syncs):
            obj = _sync(i)
            self.store[Key("Sync", obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        for i in range(max(1, syncs // 10)):
            obj = _source(i)
            self.store[Key("GitSource", obj["metadata"]["namespace"], obj["metadata"]["name"])] = (
                obj
            )
        self.listeners: list[OnChange] = []

    kube = None
    ledger = None
    cluster = "bench"

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [o for k, o in self.store.items() if k.kind == kind]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(Key(kind, namespace, name))

    def drift(self, namespace: str, name: str) -> dict[ObjectRef, tuple[str, ...]]:
        return {}

    def baseline(self, namespace: str, name: str, ref: ObjectRef) -> dict[str, Any] | None:
        return None

    def listen(self, listener: OnChange) -> None:
        self.listeners.append(listener)

    def touch(self, key: Key) -> None:
        for listener in self.listeners:
            listener(key)


class OpenGate:
    """Everyone is `bench`, who may do anything (the reviews are not what is measured)."""

    mode = "token"
    who = Principal(Caller("bench"), "bench", "bench")

    async def login(self, secret: str) -> Principal | None:
        return self.who

    async def from_headers(self, headers: Any) -> Principal | None:
        return self.who if headers.get("Authorization") else None

    async def current(self, principal: Principal) -> bool:
        return True

    async def allowed(self, principal: Principal, namespaces: Iterable[str], verb: str) -> set[str]:
        return set(namespaces)


async def _timed(http: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        async with http.get(url) as response:
            await response.read()
            assert response.status == 200, response.status
        times.append(time.perf_counter() - start)
    return sorted(times)


async def _cpu(window: float, during: Any = None) -> float:
    """Percent of one core this process used over `window` seconds."""
    start_cpu, start = time.process_time(), time.perf_counter()
    if during is None:
        await asyncio.sleep(window)
    else:
        await during(window)
    return 100 * (time.process_time() - start_cpu) / (time.perf_counter() - start)


async def measure(syncs: int, requests: int, streams: int) -> list[str]:
    backend = FakeBackend(syncs)
    ui = UiApi(backend, OpenGate())
    runner = await serve("127.0.0.1", 0, lambda: True, ui=ui, max_connections=streams + 16)
    base = f"http://127.0.0.1:{bound_port(runner)}/ui"
    lines = []
    try:
        headers = {"Authorization": "Bearer bench"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{base}/api/overview") as response:
                body = await response.json()
                assert len(body["syncs"]) == syncs, len(body["syncs"])
                size = len(await response.read())
            for what, url in (("overview JSON", f"{base}/api/overview"), ("page", f"{base}/")):
                times = await _timed(http, url, requests)
                lines.append(
                    f"{what} of {syncs} Syncs: median {statistics.median(times) * 1000:.1f} ms, "
                    f"p90 {times[int(len(times) * 0.9)] * 1000:.1f} ms"
                    + (f" ({size / 1024:.0f} KiB)" if what == "overview JSON" else "")
                )
            quiet = await _cpu(WINDOW)
            received = [0]
            greeted: list[int] = []
            all_open = asyncio.Event()

            async def listen() -> None:
                async with http.get(f"{base}/api/live", timeout=aiohttp.ClientTimeout()) as r:
                    async for line in r.content:
                        received[0] += 1
                        if line.startswith(b"event: hello"):
                            greeted.append(1)
                            if len(greeted) == streams:
                                all_open.set()

            tasks = [asyncio.create_task(listen()) for _ in range(streams)]
            await asyncio.wait_for(all_open.wait(), 30)
            idle = await _cpu(WINDOW)
            keys = [k for k in backend.store if k.kind == "Sync"]

            async def changing(window: float) -> None:
                deadline = time.perf_counter() + window
                i = 0
                while time.perf_counter() < deadline:
                    for _ in range(10):
                        backend.touch(keys[i % len(keys)])
                        i += 1
                    await asyncio.sleep(1)

            busy = await _cpu(WINDOW, changing)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        lines.append(
            f"CPU (process, % of one core): no stream {quiet:.1f}; {streams} open streams "
            f"{idle:.1f}; {streams} streams with 10 Syncs changing per second {busy:.1f} "
            f"({received[0]} lines received)"
        )
    finally:
        await runner.cleanup()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    for line in asyncio.run(measure(args.syncs, args.requests, args.streams)):
        print(line)


if __name__ == "__main__":
    main()
