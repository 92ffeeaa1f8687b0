"""The ledger away, or flooded. Away: deploys go on, every finished attempt waits durably beside
the agent, and all of them reach the ledger, in order, once it is back (PostgreSQL of its own,
halted and resumed like an outage). Flooded: a Sync failing the same way at every retry is one
record with a count."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmoor import metrics
from gitmoor.ledger import Ledger, LedgerError, LedgerNotFoundError
from gitmoor.model.record import Result
from testenv.gitserver import GitServers
from testenv.postgres import Postgres
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import UNSCHEDULABLE, configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]


async def ledger_warnings(harness: AgentHarness) -> list[dict[str, Any]]:
    return [e for e in await harness.events("Sync", "app") if e["reason"] == "LedgerUnavailable"]


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    try:
        yield server
    finally:
        server.stop()


async def test_records_of_an_outage_are_spooled_and_written_in_order_when_it_ends(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, own_postgres: Postgres
) -> None:
    ns = harness.namespace
    url = own_postgres.create_database("outage")
    await harness.stop()
    harness.ledger_url = url
    await harness.start()
    spool = harness.workdir / "agent-cache" / "ledger-spool" / "ledger-spool.jsonl"

    async def history() -> list:  # type: ignore[type-arg]
        async with await Ledger.open(url) as ledger:
            return list(reversed(await ledger.history(sync="app", namespace=ns)))

    repo, tree = harness.repo(git_servers, unique_name)
    first = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", first)

    own_postgres.halt()
    shas = []
    for version in ("2", "3"):
        sha = tree.commit(f"v{version}", {"cm.yaml": configmap("settings", ns, v=version)})
        tree.push()
        # Deploys go on without the ledger.
        await harness.wait_applied("app", sha, within=120)
        shas.append(sha)
    assert spool.is_file()
    assert len(spool.read_text().splitlines()) >= 2
    # Said where people look: a Warning on the Sync (repeats folded), and the metric. Events
    # are created just after the status write that the wait saw.
    warnings = await eventually(
        lambda: ledger_warnings(harness),
        lambda found: bool(found) and found[0]["count"] >= 2,
        within=30,
        what="the LedgerUnavailable warning, folded",
    )
    assert len(warnings) == 1, warnings
    assert warnings[0]["type"] == "Warning"
    assert warnings[0]["count"] >= 2
    assert "spool" in warnings[0]["message"]
    assert metrics.REGISTRY.get_sample_value("gitmoor_ledger_up") == 0

    own_postgres.resume()
    records = await eventually(
        history,
        lambda found: (
            [r.revision for r in found if r.result is Result.APPLIED][-2:]
            == [f"main@sha1:{s}" for s in shas]
        ),
        within=60,
        what="the spooled records in the ledger",
    )
    applied = [r for r in records if r.result is Result.APPLIED]
    assert [r.revision for r in applied] == [f"main@sha1:{s}" for s in (first, *shas)]
    assert all(r.finished_at is not None for r in applied)
    assert not spool.exists()
    assert metrics.REGISTRY.get_sample_value("gitmoor_ledger_up") == 1
    # Replayed from the spool, the records are sealed in the order they were written.
    async with await Ledger.open(url) as ledger:
        statuses = await ledger.verify()
    assert [s.ok for s in statuses] == [True], statuses


async def test_a_ledger_that_cannot_open_at_start_delays_its_records_and_nothing_else(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    blocker = harness.workdir / "not-a-directory"
    blocker.write_text("a file where the ledger's directory should be\n")
    url = f"sqlite:///{blocker}/ledger.db"
    await harness.stop()
    harness.ledger_url = url
    await harness.start()
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")

    # The agent runs and deploys; the attempt waits in the spool.
    await harness.wait_applied("app", sha)
    harness.check_alive()

    blocker.unlink()

    async def applied() -> list[str]:
        try:
            async with await Ledger.open(url, create=False) as ledger:
                found = await ledger.history(sync="app", namespace=ns)
        except LedgerError:
            return []
        return [r.revision for r in found if r.result is Result.APPLIED]

    await eventually(
        applied,
        lambda revisions: revisions == [f"main@sha1:{sha}"],
        within=60,
        what="the ledger opened and the spooled record written",
    )


async def test_a_sync_failing_the_same_way_at_every_retry_is_one_record_with_a_count(
    harness: AgentHarness, git_servers: GitServers, unique_name: str
) -> None:
    ns = harness.namespace
    repo, tree = harness.repo(git_servers, unique_name)
    sha = tree.commit("stuck", {"web.yaml": deployment("web", ns, extra_spec=UNSCHEDULABLE)})
    tree.push()
    await harness.source("repo", repo.file_url)
    # Timed out while still progressing: retried at the interval (the watch is the fast path).
    await harness.sync("app", "repo", timeout="2s", retryInterval="2s", interval="3s")
    assert harness.ledger_url is not None
    url = harness.ledger_url

    async def failed() -> list:  # type: ignore[type-arg]
        # The agent opens (and so creates) its ledger at the first record it writes.
        try:
            async with await Ledger.open(url, create=False) as ledger:
                found = await ledger.history(sync="app", namespace=ns)
        except LedgerNotFoundError:
            return []
        return [r for r in found if r.result is Result.FAILED]

    records = await eventually(
        failed,
        lambda found: bool(found) and found[0].attempts >= 3,
        within=120,
        what="three identical failures",
    )
    assert len(records) == 1
    assert records[0].revision == f"main@sha1:{sha}"
    # Each count re-sealed the record: what the ledger says now is what was sealed last.
    async with await Ledger.open(url) as ledger:
        statuses = await ledger.verify()
    assert statuses, "no chain"
    assert all(s.ok for s in statuses), statuses


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem of its own (tmpfs): filled up, it is a full disk for the ledger."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem has no space left."""
    filler = disk / "filler"
    failure = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while not failure:
            try:
                os.write(fd, b"\0" * 65536)
            except OSError as err:
                failure = err.errno or -1
    finally:
        os.close(fd)
    assert failure == errno.ENOSPC, os.strerror(failure)
    return filler


async def test_a_full_disk_keeps_deploys_going_and_the_ledger_catches_up_when_space_returns(
    harness: AgentHarness, git_servers: GitServers, unique_name: str, small_disk: Path
) -> None:
    ns = harness.namespace
    url = f"sqlite:///{small_disk / 'ledger.db'}"
    await harness.stop()
    harness.ledger_url = url
    await harness.start()
    repo, tree = harness.repo(git_servers, unique_name)
    first = tree.commit("v1", {"cm.yaml": configmap("settings", ns, v="1")})
    tree.push()
    await harness.source("repo", repo.file_url)
    await harness.sync("app", "repo")
    await harness.wait_applied("app", first)

    async def applied() -> list[str]:
        async with await Ledger.open(url, create=False) as ledger:
            found = await ledger.history(sync="app", namespace=ns)
        return [r.revision for r in reversed(found) if r.result is Result.APPLIED]

    await eventually(applied, lambda r: r == [f"main@sha1:{first}"], within=30, what="v1")

    filler = await asyncio.to_thread(fill, small_disk)
    # Big enough that no record fits in what the filesystem may still hold for itself.
    payload = "x" * 40_000
    shas = []
    for version in ("2", "3"):
        sha = tree.commit(
            f"v{version}",
            {"cm.yaml": configmap("settings", ns, v=version, pad=payload)},
        )
        tree.push()
        await harness.wait_applied("app", sha, within=120)  # deploys do not wait for the ledger
        shas.append(sha)
    warnings = await eventually(
        lambda: ledger_warnings(harness),
        lambda found: bool(found) and "full" in found[0]["message"],
        within=30,
        what="a LedgerUnavailable warning saying the disk is full",
    )
    assert "full" in warnings[0]["message"], warnings[0]["message"]
    assert metrics.REGISTRY.get_sample_value("gitmoor_ledger_up") == 0

    filler.unlink()
    await eventually(
        applied,
        lambda r: r == [f"main@sha1:{s}" for s in (first, *shas)],
        within=60,
        what="the records of the full-disk time written once space returned",
    )
    # Written once space returned, the records are sealed in order: the chain holds.
    async with await Ledger.open(url, create=False) as ledger:
        statuses = await ledger.verify()
    assert statuses, "no chain"
    assert all(s.ok for s in statuses), statuses
