"""`python -m benchmarks.images`: image update automation at scale, on real parts.

- **scan**: a repository of `--tags` tags (5,000) in Debian's docker-registry (TLS, htpasswd),
  listed page by page as an ImageRepository scan does: wall time, and the peak of Python memory
  during the scan (tracemalloc) next to the size of the kept tag names, for a page size of 100
  and 1,000. The peak stays one page of the registry's answer above the list itself: memory is
  bounded by the page, not by the answer.
- **policy**: choosing a tag among them (semver range; numerical over an extracted part).
- **write-back**: `--policies` policies (100), each marking one file of one configuration
  repository on the loopback Git server (HTTPS), all moved to a new tag at once: one run makes
  exactly one commit (with every change), a second run none. The agent runs an automation at
  most once per interval and a run pushes at most one commit, so this is the most commits an
  interval can see.

Prints one line per measurement; `-o json` prints them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitmoor.model.credentials import ChartCredentials, GitCredentials
from gitmoor.model.images import OrderPolicy, Policy, SemverPolicy, TagFilter
from gitmoor.sources.images import registry
from gitmoor.sources.images.markers import Image
from gitmoor.sources.images.policy import select
from gitmoor.sources.images.writeback import Request, Writer
from testenv.gitserver import GitServers, Worktree
from testenv.images import ImagePusher
from testenv.registry import Registry


def _tags(count: int) -> list[str]:
    # Semver tags and CI build tags, as a busy repository has.
    half = count // 2
    semver = [f"1.{i // 100}.{i % 100}" for i in range(half)]
    builds = [f"main-{i:07x}-{1_700_000_000 + i}" for i in range(count - half)]
    return semver + builds


async def _scan(reg: Registry, repository: str, page_size: int) -> tuple[int, float, int]:
    image = registry.ImageName.parse(f"{reg.host}/{repository}")
    credentials = ChartCredentials(
        username=reg.username, password=reg.password, ca=reg.ca_path.read_bytes()
    )
    tracemalloc.start()
    started = time.perf_counter()
    tags = await registry.scan(image, credentials, [r"^.*\.sig$"], timeout=120, page_size=page_size)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(tags), seconds, peak


def bench_scan(workdir: Path, count: int, runs: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with Registry(workdir / "registry") as reg:
        pusher = ImagePusher(reg)
        tags = _tags(count)
        started = time.perf_counter()
        pusher.push_many("bench/app", tags, created=datetime.now(UTC))
        print(f"# pushed {count} tags in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        names = sum(sys.getsizeof(t) for t in tags) + sys.getsizeof(tags)
        for page_size in (100, 1000):
            results = [asyncio.run(_scan(reg, "bench/app", page_size)) for _ in range(runs)]
            found = results[0][0]
            out.append(
                {
                    "measure": f"scan {found} tags, pages of {page_size}",
                    "seconds": statistics.median(r[1] for r in results),
                    "peak_kib": max(r[2] for r in results) / 1024,
                    "tag_names_kib": names / 1024,
                }
            )
        semver = Policy(semver=SemverPolicy(range="^1.0.0"))
        numerical = Policy(numerical=OrderPolicy(order="asc"))
        build = TagFilter(pattern=r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", extract="$ts")
        for name, policy, tag_filter in (
            ("semver ^1.0.0", semver, None),
            ("numerical over filterTags", numerical, build),
        ):
            started = time.perf_counter()
            chosen = select(tags, policy, tag_filter)
            out.append(
                {
                    "measure": f"policy {name} over {count} tags -> {chosen.tag}",
                    "seconds": time.perf_counter() - started,
                }
            )
    return out


def _deployment(index: int) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\n"
        f"metadata: {{name: app-{index}, namespace: apps}}\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: main\n          image: registry.test/app-{index}:1.0.0"
        f' # {{"$imagepolicy": "apps:app-{index}"}}\n'
    )


def bench_writeback(workdir: Path, policies: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with GitServers(workdir / "git") as servers:
        repo = servers.create_repo("config")
        tree = Worktree.init(workdir / "work", remote=repo.file_url)
        tree.commit("apps", {f"apps/app-{i}.yaml": _deployment(i) for i in range(policies)})
        tree.push()
        request = Request(
            url=repo.https_url,
            credentials=GitCredentials(
                username=servers.username,
                password=servers.password,
                ca_file=servers.ca_path.read_bytes(),
            ),
            checkout="main",
            push="main",
            path="./apps",
            images={
                f"apps/app-{i}": Image(f"registry.test/app-{i}", "1.1.0") for i in range(policies)
            },
            namespace="apps",
            author_name="bench",
            author_email="bench@example.test",
            message_template="",
            automation="apps/bench",
        )
        writer = Writer(workdir / "scratch")

        def commits() -> int:
            listed = subprocess.run(
                ["git", "--git-dir", str(repo.path), "rev-list", "--count", "main"],
                capture_output=True,
                text=True,
                check=True,
            )
            return int(listed.stdout)

        before = commits()
        for label in ("every policy moved", "nothing moved"):
            started = time.perf_counter()
            outcome = asyncio.run(writer.run(request))
            seconds = time.perf_counter() - started
            after = commits()
            out.append(
                {
                    "measure": f"write-back, {policies} policies, {label}: "
                    f"{after - before} commit(s), {len(outcome.changes)} changes",
                    "seconds": seconds,
                    "commits": after - before,
                }
            )
            before = after
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.images", description=__doc__)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitmoor-bench-images-") as tmp:
        workdir = Path(tmp)
        rows = bench_scan(workdir, args.tags, args.runs) + bench_writeback(workdir, args.policies)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        extra = ""
        if "peak_kib" in row:
            extra = f"  peak {row['peak_kib']:.0f} KiB (tag names {row['tag_names_kib']:.0f} KiB)"
        print(f"{row['measure']:<72} {row['seconds']:8.3f} s{extra}")


if __name__ == "__main__":
    main()
