"""The audit chain: sealing records as they are finished, and verifying what was sealed.

**What is chained.** Finished states, not rows. A record is sealed into its cluster's chain
each time gitmoor writes a final state for it: when it is finished, when a repeated identical
failure counts one more attempt, when it is marked interrupted (and again if its attempt is
finished after all). The record's `chain_seq` points at its latest seal, and verify checks the
row (with its objects and images) against that seal's content digest: an UPDATE gitmoor
allows appends a new seal, so it never rewrites sealed history, while one made with SQL
leaves the row disagreeing with its seal. Retention appends a `prune` entry per record it
deletes, so a pruned record is expected to be absent and a deleted one is not. A record in
progress is not sealed yet (its attempt has not ended).

**Image update rows** (`ledger_image_updates`: one image field an update automation's commit
changed) are chained too, in the chain of the cluster whose agent pushed the commit: an
`imgseal` entry when the row is written (it is never changed afterwards), an `imgprune` entry
when retention deletes it. Verify checks them as it checks records: edited, deleted, unsealed or
pointed at another entry. Rows written before they were chained (migration 0008) name no
cluster and are not checked.

**One chain per cluster.** Each cluster's agent is its only writer (one leader at a time), so
its chain is ordered by its own finishes. Appends take the cluster's row of
`ledger_chain_heads` with `SELECT ... FOR UPDATE` inside the transaction that writes the
record (PostgreSQL; SQLite's single writer with BEGIN IMMEDIATE orders them anyway): agents of
other clusters never wait on each other, and two writers for one cluster (a leader hand-over,
the spool replaying) append one after the other. The cost per finish is that one indexed read
of the head, an insert of the entry and an update of the head.

**What verify catches.** An edited column, object or image of a sealed record (content
changed); a deleted record (record missing); a deleted, inserted, reordered or edited chain
entry, a record pointed at another seal, entries cut from the chain's end (link broken); a
finished record with no seal at all (not sealed). A chain kept in the same database cannot stop
someone who recomputes every hash after an edit: keep each chain's head (position and hash)
somewhere else and pass it back to verify as an anchor; a rewritten chain no longer passes
through it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gitmoor.ledger import rows, seal
from gitmoor.ledger.schema import chain, chain_heads, image_updates, images, objects, records
from gitmoor.model.record import Record, Result

PAGE = 500  # entries or records read per query: memory stays flat whatever the ledger's size


class Problem(enum.StrEnum):
    """What is wrong with a broken record."""

    CONTENT_CHANGED = "content changed"
    RECORD_MISSING = "record missing"
    LINK_BROKEN = "link broken"
    NOT_SEALED = "not sealed"


@dataclass(frozen=True)
class ChainBreak:
    """The first broken record of a chain."""

    cluster: str
    record_id: int
    problem: Problem
    detail: str
    seq: int | None = None  # the chain entry where it shows, when there is one
    sync: str | None = None  # namespace/name, when the row is there to say
    revision: str | None = None
    image_update: bool = False  # record_id is the id of an image update row

    def __str__(self) -> str:
        if self.image_update:  # the detail names the row
            at = f", entry {self.seq}" if self.seq is not None else ""
            return f"chain {self.cluster}{at}: {self.problem.value}: {self.detail}"
        where = f"record {self.record_id}"
        if self.sync is not None:
            where += f" (sync {self.sync}, revision {self.revision})"
        at = f", entry {self.seq}" if self.seq is not None else ""
        return f"chain {self.cluster}{at}: {where}: {self.problem.value}: {self.detail}"


@dataclass(frozen=True)
class ChainStatus:
    """One cluster's chain as verify found it."""

    cluster: str
    entries: int  # chain entries walked
    records: int  # records whose current state was checked against their seal
    pruned: int  # records retention deleted, as the chain says
    head: str  # the last entry's link hash (GENESIS for an empty chain)
    broken: ChainBreak | None = None
    image_updates: int = 0  # image update rows checked against their seal

    @property
    def ok(self) -> bool:
        return self.broken is None


# -- appending -------------------------------------------------------------------------------------
def _insert(connection: Connection) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(chain_heads)
    if dialect == "sqlite":
        return sqlite.insert(chain_heads)
    raise NotImplementedError(f"the ledger chain does not run on {dialect}")


class Appender:
    """Appends to one cluster's chain inside the caller's write transaction.

    Creating it locks the cluster's head row until the transaction ends; `done()` writes the
    new head. Take it before any record row is locked (heads first, then records, in every
    writer), so two writers never wait on each other in opposite orders."""

    def __init__(self, connection: Connection, cluster: str) -> None:
        self._connection = connection
        self.cluster = cluster
        locked = select(chain_heads.c.seq, chain_heads.c.hash).where(
            chain_heads.c.cluster == cluster
        )
        head = connection.execute(locked.with_for_update()).first()
        if head is None:
            connection.execute(
                _insert(connection)
                .values(cluster=cluster, seq=0, record_id=0, hash=seal.GENESIS)
                .on_conflict_do_nothing()
            )
            head = connection.execute(locked.with_for_update()).one()
        self.seq = int(head.seq)
        self.hash = str(head.hash)
        self._record = 0
        self._entries: list[dict[str, Any]] = []

    def append(self, event: seal.Event, record_id: int, digest: str) -> int:
        """Add an entry; returns its position."""
        seq = self.seq + 1
        link = seal.link(
            cluster=self.cluster,
            seq=seq,
            event=event,
            record=record_id,
            digest=digest,
            prev=self.hash,
        )
        self._entries.append(
            {
                "cluster": self.cluster,
                "seq": seq,
                "record_id": record_id,
                "event": event.value,
                "digest": digest,
                "prev": self.hash,
                "hash": link,
            }
        )
        self.seq, self.hash, self._record = seq, link, record_id
        return seq

    def seal(self, record_id: int, digest: str) -> None:
        """Seal a record's current state and point the record at it."""
        seq = self.append(seal.Event.SEAL, record_id, digest)
        self._connection.execute(
            update(records).where(records.c.id == record_id).values(chain_seq=seq)
        )

    def done(self) -> None:
        if not self._entries:
            return
        self._connection.execute(insert(chain), self._entries)
        self._connection.execute(
            update(chain_heads)
            .where(chain_heads.c.cluster == self.cluster)
            .values(seq=self.seq, hash=self.hash, record_id=self._record)
        )
        self._entries = []


def written_digest(record_id: int, record: Record) -> str:
    """The content digest of `record` as `finish` stores it under `record_id` (computed from
    the values written, so sealing costs no read-back)."""
    row = rows.record_values(record)
    row["id"] = record_id
    return seal.digest(
        row, rows.object_rows(record_id, record.objects), [str(i) for i in record.images]
    )


def stored_digests(connection: Connection, found: Sequence[Mapping[Any, Any]]) -> dict[int, str]:
    """The content digest of each stored record row in `found` (columns of `ledger_records`)."""
    ids = [int(row["id"]) for row in found]
    object_map: dict[int, list[Mapping[Any, Any]]] = {i: [] for i in ids}
    image_map: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for row in connection.execute(
            select(objects)
            .where(objects.c.record_id.in_(ids))
            .order_by(objects.c.record_id, objects.c.position)
        ).mappings():
            object_map[int(row["record_id"])].append(row)
        for image in connection.execute(
            select(images.c.record_id, images.c.image).where(images.c.record_id.in_(ids))
        ):
            image_map[int(image.record_id)].append(str(image.image))
    return {
        int(row["id"]): seal.digest(row, object_map[int(row["id"])], image_map[int(row["id"])])
        for row in found
    }


def reseal(connection: Connection, appender: Appender, record_ids: Sequence[int]) -> None:
    """Seal the stored state of records gitmoor just changed (a repeat, an interruption)."""
    for start in range(0, len(record_ids), PAGE):
        chunk = record_ids[start : start + PAGE]
        found = (
            connection.execute(
                select(records).where(records.c.id.in_(chunk)).order_by(records.c.id)
            )
            .mappings()
            .all()
        )
        digests = stored_digests(connection, found)
        for row in found:
            if row["result"] != Result.IN_PROGRESS.value:
                appender.seal(int(row["id"]), digests[int(row["id"])])


def prune(connection: Connection, record_ids: Sequence[int]) -> None:
    """Delete records, with a `prune` entry for each in its cluster's chain (carrying the
    digest of its latest seal), heads locked in cluster order."""
    latest: list[tuple[str, int, str]] = []
    for start in range(0, len(record_ids), PAGE):
        chunk = record_ids[start : start + PAGE]
        latest += [
            (str(row.cluster), int(row.id), str(row.digest or ""))
            for row in connection.execute(
                select(records.c.cluster, records.c.id, chain.c.digest)
                .outerjoin(
                    chain,
                    and_(chain.c.cluster == records.c.cluster, chain.c.seq == records.c.chain_seq),
                )
                .where(records.c.id.in_(chunk))
            )
        ]
    for cluster in sorted({c for c, _, _ in latest}):
        appender = Appender(connection, cluster)
        for _, record_id, digest in sorted(e for e in latest if e[0] == cluster):
            appender.append(seal.Event.PRUNE, record_id, digest)
        appender.done()
    for start in range(0, len(record_ids), PAGE):
        chunk = record_ids[start : start + PAGE]
        connection.execute(delete(objects).where(objects.c.record_id.in_(chunk)))
        connection.execute(delete(images).where(images.c.record_id.in_(chunk)))
        connection.execute(delete(records).where(records.c.id.in_(chunk)))


def prune_image_updates(connection: Connection, update_ids: Sequence[int]) -> None:
    """Delete image update rows, with an `imgprune` entry for each chained one in its
    cluster's chain (carrying the digest of its seal), heads locked in cluster order."""
    latest: list[tuple[str, int, str]] = []
    for start in range(0, len(update_ids), PAGE):
        chunk = update_ids[start : start + PAGE]
        latest += [
            (str(row.cluster), int(row.id), str(row.digest or ""))
            for row in connection.execute(
                select(image_updates.c.cluster, image_updates.c.id, chain.c.digest)
                .outerjoin(
                    chain,
                    and_(
                        chain.c.cluster == image_updates.c.cluster,
                        chain.c.seq == image_updates.c.chain_seq,
                    ),
                )
                .where(image_updates.c.id.in_(chunk), image_updates.c.cluster.is_not(None))
            )
        ]
    for cluster in sorted({c for c, _, _ in latest}):
        appender = Appender(connection, cluster)
        for _, update_id, digest in sorted(e for e in latest if e[0] == cluster):
            appender.append(seal.Event.IMAGE_PRUNE, update_id, digest)
        appender.done()
    for start in range(0, len(update_ids), PAGE):
        chunk = update_ids[start : start + PAGE]
        connection.execute(delete(image_updates).where(image_updates.c.id.in_(chunk)))


# -- verifying -------------------------------------------------------------------------------------
def clusters(connection: Connection) -> list[str]:
    """Every cluster with a chain, with records or with chained image updates."""
    found = set(connection.execute(select(chain_heads.c.cluster)).scalars())
    found |= set(connection.execute(select(records.c.cluster).distinct()).scalars())
    found |= set(
        connection.execute(
            select(image_updates.c.cluster).where(image_updates.c.cluster.is_not(None)).distinct()
        ).scalars()
    )
    return sorted(str(c) for c in found)


def _break(
    cluster: str,
    record_id: int,
    problem: Problem,
    detail: str,
    *,
    seq: int | None = None,
    row: Any = None,
) -> ChainBreak:
    return ChainBreak(
        cluster=cluster,
        record_id=record_id,
        problem=problem,
        detail=detail,
        seq=seq,
        sync=None if row is None else f"{row['sync_namespace']}/{row['sync_name']}",
        revision=None if row is None else str(row["revision"]),
    )


_UPDATE_EVENTS = frozenset({seal.Event.IMAGE_SEAL.value, seal.Event.IMAGE_PRUNE.value})


def _update_break(
    cluster: str,
    update_id: int,
    problem: Problem,
    detail: str,
    *,
    seq: int | None = None,
    row: Any = None,
) -> ChainBreak:
    """A broken image update row: named as such (its id is not a record's), with its
    automation and commit when the row is there to say."""
    what = f"image update {update_id}"
    if row is not None:
        what += (
            f" (automation {row['automation_namespace']}/{row['automation_name']}, "
            f"commit {str(row['commit_sha'])[:12]})"
        )
    return ChainBreak(
        cluster=cluster,
        record_id=update_id,
        problem=problem,
        detail=f"{what}: {detail}",
        seq=seq,
        image_update=True,
    )


def verify(
    connection: Connection, cluster: str, *, anchors: Mapping[int, str] | None = None
) -> ChainStatus:
    """Walk one cluster's chain in order and check every record against its latest seal; stops
    at the first broken record. `anchors` maps entry positions to the link hashes an auditor
    kept (from an earlier verify): the chain must still pass through each, which a chain
    rewritten from scratch does not. Run it in one transaction, so concurrent appends are not
    seen halfway."""
    walk = _Walk(connection, cluster, anchors or {})
    broken = walk.run()
    return ChainStatus(
        cluster=cluster,
        entries=walk.entries,
        records=walk.checked,
        pruned=walk.pruned,
        head=walk.prev,
        broken=broken,
        image_updates=walk.checked_updates,
    )


@dataclass(frozen=True)
class _Facts:
    """What a page of the walk looked up: digests of the rows whose latest seal is in the page,
    where pruned records were pruned, and which record each seal pointed at belongs to."""

    digests: dict[int, str]
    pruned: dict[int, int]
    sealed_by: dict[int, int]
    updates: dict[int, Any]  # image update rows named by the page's `imgseal`/`imgprune` entries
    update_digests: dict[int, str]
    updates_pruned: dict[int, int]


class _Walk:
    def __init__(self, connection: Connection, cluster: str, anchors: Mapping[int, str]) -> None:
        self.connection = connection
        self.cluster = cluster
        self.anchors = anchors
        self.prev = seal.GENESIS
        self.seq = 0
        self.last_record = 0
        self.entries = 0
        self.checked = 0
        self.checked_updates = 0
        self.pruned = 0

    def run(self) -> ChainBreak | None:
        for page in self._pages():
            broken = self._page(page)
            if broken is not None:
                return broken
        return (
            self._head()
            or self._beyond()
            or self._pointers()
            or self._update_pointers()
            or self._unsealed()
            or self._unsealed_updates()
        )

    def _beyond(self) -> ChainBreak | None:
        """An anchor past the chain's end: entries it had are gone."""
        past = [seq for seq in self.anchors if seq > self.seq]
        if not past:
            return None
        return _break(
            self.cluster,
            self.last_record,
            Problem.LINK_BROKEN,
            f"the chain ends at entry {self.seq}, before the anchor at entry {min(past)}",
            seq=self.seq,
        )

    def _pages(self) -> Iterator[list[Any]]:
        last = 0
        while True:
            page = list(
                self.connection.execute(
                    select(chain)
                    .where(chain.c.cluster == self.cluster, chain.c.seq > last)
                    .order_by(chain.c.seq)
                    .limit(PAGE)
                ).all()
            )
            if not page:
                return
            yield page
            last = int(page[-1].seq)

    def _page(self, page: list[Any]) -> ChainBreak | None:
        update_entries = [e for e in page if e.event in _UPDATE_EVENTS]
        page_records = [e for e in page if e.event not in _UPDATE_EVENTS]
        ids = sorted({int(e.record_id) for e in page_records})
        found = {
            int(row["id"]): row
            for row in self.connection.execute(select(records).where(records.c.id.in_(ids)))
            .mappings()
            .all()
        }
        seqs = {int(e.seq) for e in page_records}
        current = [row for row in found.values() if row["chain_seq"] in seqs]
        digests = stored_digests(self.connection, current)
        missing = [i for i in ids if i not in found]
        pruned: dict[int, int] = {}
        if missing:
            for entry in self.connection.execute(
                select(chain.c.record_id, chain.c.seq).where(
                    chain.c.cluster == self.cluster,
                    chain.c.event == seal.Event.PRUNE.value,
                    chain.c.record_id.in_(missing),
                )
            ):
                pruned[int(entry.record_id)] = int(entry.seq)
        # Which record each later seal the rows point at belongs to (a row moved to another
        # id still points at its own seal); a record's seals are `seal` entries only.
        sealed_by = {int(e.seq): int(e.record_id) for e in page if e.event == seal.Event.SEAL.value}
        later = sorted(
            {int(r["chain_seq"]) for r in found.values() if r["chain_seq"] is not None} - seqs
        )
        if later:
            for entry in self.connection.execute(
                select(chain.c.seq, chain.c.record_id).where(
                    chain.c.cluster == self.cluster,
                    chain.c.seq.in_(later),
                    chain.c.event == seal.Event.SEAL.value,
                )
            ):
                sealed_by[int(entry.seq)] = int(entry.record_id)
        updates, update_digests, updates_pruned = self._update_facts(update_entries)
        facts = _Facts(
            digests=digests,
            pruned=pruned,
            sealed_by=sealed_by,
            updates=updates,
            update_digests=update_digests,
            updates_pruned=updates_pruned,
        )
        for entry in page:
            row = (
                facts.updates.get(int(entry.record_id))
                if entry.event in _UPDATE_EVENTS
                else found.get(int(entry.record_id))
            )
            broken = self._entry(entry, row, facts)
            if broken is not None:
                return broken
            self.prev = str(entry.hash)
            self.seq = int(entry.seq)
            self.last_record = int(entry.record_id)
            self.entries += 1
        return None

    def _update_facts(
        self, entries: list[Any]
    ) -> tuple[dict[int, Any], dict[int, str], dict[int, int]]:
        """The image update rows the entries name, their digests, and where the missing ones
        were pruned."""
        ids = sorted({int(e.record_id) for e in entries})
        if not ids:
            return {}, {}, {}
        rows_by_id = {
            int(row["id"]): row
            for row in self.connection.execute(
                select(image_updates).where(image_updates.c.id.in_(ids))
            )
            .mappings()
            .all()
        }
        digests = {i: seal.update_digest(row) for i, row in rows_by_id.items()}
        pruned: dict[int, int] = {}
        missing = [i for i in ids if i not in rows_by_id]
        if missing:
            for entry in self.connection.execute(
                select(chain.c.record_id, chain.c.seq).where(
                    chain.c.cluster == self.cluster,
                    chain.c.event == seal.Event.IMAGE_PRUNE.value,
                    chain.c.record_id.in_(missing),
                )
            ):
                pruned[int(entry.record_id)] = int(entry.seq)
        return rows_by_id, digests, pruned

    def _entry(
        self,
        entry: Any,
        row: Mapping[Any, Any] | None,
        facts: _Facts,
    ) -> ChainBreak | None:
        seq, record_id = int(entry.seq), int(entry.record_id)

        def broken(problem: Problem, detail: str) -> ChainBreak:
            if entry.event in _UPDATE_EVENTS:
                return _update_break(self.cluster, record_id, problem, detail, seq=seq, row=row)
            return _break(self.cluster, record_id, problem, detail, seq=seq, row=row)

        if seq != self.seq + 1:
            return broken(
                Problem.LINK_BROKEN,
                f"entries {self.seq + 1} to {seq - 1} are missing from the chain"
                if seq > self.seq + 1
                else f"entry {seq} is out of order after entry {self.seq}",
            )
        if entry.prev != self.prev:
            return broken(
                Problem.LINK_BROKEN, f"its entry does not link to entry {self.seq} before it"
            )
        try:
            event = seal.Event(entry.event)
        except ValueError:
            return broken(Problem.LINK_BROKEN, f"its entry has an unknown event {entry.event!r}")
        expected = seal.link(
            cluster=self.cluster,
            seq=seq,
            event=event,
            record=record_id,
            digest=str(entry.digest),
            prev=str(entry.prev),
        )
        if entry.hash != expected:
            return broken(Problem.LINK_BROKEN, "its entry was altered (its hash does not match)")
        kept = self.anchors.get(seq)
        if kept is not None and entry.hash != kept:
            return broken(
                Problem.LINK_BROKEN,
                f"entry {seq} is not the one kept as an anchor ({kept[:16]}): the chain was "
                "rewritten",
            )
        if event.image_update:
            return self._update_entry(event, entry, row, facts, broken)
        if event is seal.Event.PRUNE:
            if row is not None:
                return broken(Problem.LINK_BROKEN, f"it was pruned at entry {seq} yet is present")
            self.pruned += 1
            return None
        if row is None:
            if facts.pruned.get(record_id, 0) > seq:
                return None
            return broken(Problem.RECORD_MISSING, f"sealed at entry {seq}, the row is gone")
        points = row["chain_seq"]
        if points is None or int(points) < seq:
            return broken(
                Problem.LINK_BROKEN,
                f"the record no longer points at its latest seal (entry {seq})",
            )
        if int(points) > seq:
            if facts.sealed_by.get(int(points)) != record_id:
                return broken(
                    Problem.LINK_BROKEN,
                    f"it points at entry {points}, which seals another record or none",
                )
            return None  # sealed again later: that seal is the one to check
        if row["cluster"] != self.cluster:
            return broken(Problem.CONTENT_CHANGED, f"its cluster now reads {row['cluster']!r}")
        if facts.digests[record_id] != entry.digest:
            return broken(
                Problem.CONTENT_CHANGED,
                f"the row, its objects or images differ from what was sealed at entry {seq}",
            )
        self.checked += 1
        return None

    def _update_entry(
        self,
        event: seal.Event,
        entry: Any,
        row: Mapping[Any, Any] | None,
        facts: _Facts,
        broken: Callable[[Problem, str], ChainBreak],
    ) -> ChainBreak | None:
        """An `imgseal` or `imgprune` entry (its link already checked)."""
        seq, update_id = int(entry.seq), int(entry.record_id)
        if event is seal.Event.IMAGE_PRUNE:
            if row is not None:
                return broken(Problem.LINK_BROKEN, f"it was pruned at entry {seq} yet is present")
            self.pruned += 1
            return None
        if row is None:
            if facts.updates_pruned.get(update_id, 0) > seq:
                return None
            return broken(Problem.RECORD_MISSING, f"sealed at entry {seq}, the row is gone")
        # An image update row is sealed once, when it is written.
        if row["chain_seq"] is None or int(row["chain_seq"]) != seq:
            return broken(
                Problem.LINK_BROKEN, f"the row no longer points at its seal (entry {seq})"
            )
        if row["cluster"] != self.cluster:
            return broken(Problem.CONTENT_CHANGED, f"its cluster now reads {row['cluster']!r}")
        if facts.update_digests[update_id] != entry.digest:
            return broken(
                Problem.CONTENT_CHANGED, f"the row differs from what was sealed at entry {seq}"
            )
        self.checked_updates += 1
        return None

    def _head(self) -> ChainBreak | None:
        head = self.connection.execute(
            select(chain_heads).where(chain_heads.c.cluster == self.cluster)
        ).first()
        if head is None:
            if self.entries == 0:
                return None
            return _break(
                self.cluster,
                self.last_record,
                Problem.LINK_BROKEN,
                "the chain's head is gone",
                seq=self.seq,
            )
        if int(head.seq) == self.seq and head.hash == self.prev:
            return None
        if int(head.seq) > self.seq:
            detail = f"entries {self.seq + 1} to {head.seq} were cut from the chain's end"
        else:
            detail = f"the chain's head says entry {head.seq}, the chain ends at entry {self.seq}"
        row = (
            self.connection.execute(select(records).where(records.c.id == head.record_id))
            .mappings()
            .first()
        )
        problem = Problem.RECORD_MISSING if row is None else Problem.LINK_BROKEN
        return _break(
            self.cluster, int(head.record_id), problem, detail, seq=int(head.seq), row=row
        )

    def _pointers(self) -> ChainBreak | None:
        """A record whose seal pointer names an entry that is not its own."""
        row = (
            self.connection.execute(
                select(records, chain.c.record_id.label("sealed_id"))
                .outerjoin(
                    chain,
                    and_(chain.c.cluster == records.c.cluster, chain.c.seq == records.c.chain_seq),
                )
                .where(
                    records.c.cluster == self.cluster,
                    records.c.chain_seq.is_not(None),
                    or_(
                        chain.c.record_id.is_(None),
                        chain.c.record_id != records.c.id,
                        chain.c.event != seal.Event.SEAL.value,
                    ),
                )
                .order_by(records.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _break(
            self.cluster,
            int(row["id"]),
            Problem.LINK_BROKEN,
            f"it points at entry {row['chain_seq']}, which seals another record or none",
            seq=int(row["chain_seq"]),
            row=row,
        )

    def _update_pointers(self) -> ChainBreak | None:
        """An image update row whose seal pointer names an entry that is not its seal."""
        row = (
            self.connection.execute(
                select(image_updates)
                .outerjoin(
                    chain,
                    and_(
                        chain.c.cluster == image_updates.c.cluster,
                        chain.c.seq == image_updates.c.chain_seq,
                    ),
                )
                .where(
                    image_updates.c.cluster == self.cluster,
                    image_updates.c.chain_seq.is_not(None),
                    or_(
                        chain.c.record_id.is_(None),
                        chain.c.record_id != image_updates.c.id,
                        chain.c.event != seal.Event.IMAGE_SEAL.value,
                    ),
                )
                .order_by(image_updates.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _update_break(
            self.cluster,
            int(row["id"]),
            Problem.LINK_BROKEN,
            f"it points at entry {row['chain_seq']}, which seals another row or none",
            seq=int(row["chain_seq"]),
            row=row,
        )

    def _unsealed_updates(self) -> ChainBreak | None:
        row = (
            self.connection.execute(
                select(image_updates)
                .where(image_updates.c.cluster == self.cluster, image_updates.c.chain_seq.is_(None))
                .order_by(image_updates.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _update_break(
            self.cluster,
            int(row["id"]),
            Problem.NOT_SEALED,
            "a row that was never sealed: written outside gitmoor",
            row=row,
        )

    def _unsealed(self) -> ChainBreak | None:
        row = (
            self.connection.execute(
                select(records)
                .where(
                    records.c.cluster == self.cluster,
                    records.c.chain_seq.is_(None),
                    records.c.result != Result.IN_PROGRESS.value,
                )
                .order_by(records.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _break(
            self.cluster,
            int(row["id"]),
            Problem.NOT_SEALED,
            f"a finished ({row['result']}) record that was never sealed: written outside gitmoor",
            row=row,
        )


# -- exporting -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """Which records an export streams."""

    since: datetime | None = None
    until: datetime | None = None
    sync: str | None = None
    namespace: str | None = None
    cluster: str | None = None


Key = tuple[datetime, int]  # (started_at, id): the order an export streams in


def export_page(
    connection: Connection, where: Filter, after: Key | None
) -> tuple[list[dict[str, Any]], Key | None]:
    """The next page of records (by start time, then id) after `after`, each as its JSON form
    with a `chain` member: its latest seal (cluster, seq, digest, prev, hash), or null while in
    progress; and the key to ask for the page after it (None after the last)."""
    query = select(
        *rows.COLUMNS,
        chain.c.seq.label("seal_seq"),
        chain.c.digest.label("seal_digest"),
        chain.c.prev.label("seal_prev"),
        chain.c.hash.label("seal_hash"),
    ).outerjoin(
        chain, and_(chain.c.cluster == records.c.cluster, chain.c.seq == records.c.chain_seq)
    )
    if where.since is not None:
        query = query.where(records.c.started_at >= where.since)
    if where.until is not None:
        query = query.where(records.c.started_at <= where.until)
    if where.sync is not None:
        query = query.where(records.c.sync_name == where.sync)
    if where.namespace is not None:
        query = query.where(records.c.sync_namespace == where.namespace)
    if where.cluster is not None:
        query = query.where(records.c.cluster == where.cluster)
    if after is not None:
        started, last = after
        query = query.where(
            # The first condition alone lets the planner range-scan the start-time index.
            records.c.started_at >= started,
            or_(records.c.started_at > started, records.c.id > last),
        )
    query = query.order_by(records.c.started_at, records.c.id).limit(PAGE)
    found = connection.execute(query).mappings().all()
    ids = [int(row["id"]) for row in found]
    object_map: dict[int, list[Any]] = {i: [] for i in ids}
    image_map: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for row in connection.execute(
            select(objects)
            .where(objects.c.record_id.in_(ids))
            .order_by(objects.c.record_id, objects.c.position)
        ).mappings():
            object_map[int(row["record_id"])].append(rows.object_of(row))
        for image in connection.execute(
            select(images.c.record_id, images.c.image).where(images.c.record_id.in_(ids))
        ):
            image_map[int(image.record_id)].append(str(image.image))
    out = []
    for row in found:
        record = rows.record_of(row, object_map[int(row["id"])], image_map[int(row["id"])])
        data = record.as_dict()
        data["chain"] = (
            None
            if row["seal_seq"] is None
            else {
                "cluster": record.cluster,
                "seq": int(row["seal_seq"]),
                "digest": row["seal_digest"],
                "prev": row["seal_prev"],
                "hash": row["seal_hash"],
            }
        )
        out.append(data)
    if len(found) < PAGE:
        return out, None
    return out, (found[-1]["started_at"], int(found[-1]["id"]))


@dataclass(frozen=True)
class UpdateFilter:
    """Which image update rows an export streams (`since`/`until` on the commit time)."""

    since: datetime | None = None
    until: datetime | None = None
    namespace: str | None = None  # of the automation
    cluster: str | None = None


def export_updates_page(
    connection: Connection, where: UpdateFilter, after: Key | None
) -> tuple[list[dict[str, Any]], Key | None]:
    """The next page of image update rows (by commit time, then id) after `after`, each with
    a `chain` member: its seal (cluster, seq, digest, prev, hash), or null for a row from before
    they were chained; and the key of the page after it (None after the last)."""
    query = select(
        image_updates,
        chain.c.seq.label("seal_seq"),
        chain.c.digest.label("seal_digest"),
        chain.c.prev.label("seal_prev"),
        chain.c.hash.label("seal_hash"),
    ).outerjoin(
        chain,
        and_(
            chain.c.cluster == image_updates.c.cluster,
            chain.c.seq == image_updates.c.chain_seq,
        ),
    )
    if where.since is not None:
        query = query.where(image_updates.c.committed_at >= where.since)
    if where.until is not None:
        query = query.where(image_updates.c.committed_at <= where.until)
    if where.namespace is not None:
        query = query.where(image_updates.c.automation_namespace == where.namespace)
    if where.cluster is not None:
        query = query.where(image_updates.c.cluster == where.cluster)
    if after is not None:
        committed, last = after
        query = query.where(
            image_updates.c.committed_at >= committed,
            or_(image_updates.c.committed_at > committed, image_updates.c.id > last),
        )
    query = query.order_by(image_updates.c.committed_at, image_updates.c.id).limit(PAGE)
    found = connection.execute(query).mappings().all()
    out = []
    for row in found:
        pushed = row["image_pushed_at"]
        out.append(
            {
                "id": int(row["id"]),
                "cluster": row["cluster"],
                "automation": f"{row['automation_namespace']}/{row['automation_name']}",
                "policy": row["policy"],
                "image": row["image"],
                "old_tag": row["old_tag"],
                "new_tag": row["new_tag"],
                "digest": row["digest"],
                "pushed_at": pushed.isoformat() if pushed is not None else None,
                "source_url": row["source_url"],
                "branch": row["branch"],
                "commit": row["commit_sha"],
                "committed_at": row["committed_at"].isoformat(),
                "file": row["file"],
                "chain": None
                if row["seal_seq"] is None
                else {
                    "cluster": row["cluster"],
                    "seq": int(row["seal_seq"]),
                    "digest": row["seal_digest"],
                    "prev": row["seal_prev"],
                    "hash": row["seal_hash"],
                },
            }
        )
    if len(found) < PAGE:
        return out, None
    return out, (found[-1]["committed_at"], int(found[-1]["id"]))
