"""The one place a reconcile's effects happen: the status patch (none when nothing changed),
Events, notifications, metrics, ledger records, drift tracking, snapshots and log lines, all
carried out from a `Report`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from gitmoor import metrics
from gitmoor.errors import KubeApiError, TransientError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.ledger.spool import Spool
from gitmoor.model import inventory
from gitmoor.model.api import API_VERSION
from gitmoor.model.images import ImageUpdate
from gitmoor.model.notifications import NotificationEvent
from gitmoor.model.record import Record, Result
from gitmoor.model.resources import Sync
from gitmoor.notify import Notifier
from gitmoor.reconcile.cache import Cache, Obj
from gitmoor.reconcile.drift import DriftMonitor
from gitmoor.reconcile.events import WARNING, EventRecorder
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.report import DriftAction, Note, Report
from gitmoor.reconcile.retry import jittered
from gitmoor.reconcile.snapshots import SnapshotStore

log = structlog.get_logger("gitmoor.agent")
_REOPEN = 10.0  # seconds between tries to open a ledger that could not be opened
_GUARD_RETRY = 5.0  # seconds until a key whose guarded status write was refused is seen again


@dataclass(frozen=True)
class Begun:
    """A ledger record opened before an attempt wrote anything; `id` None when the ledger was
    away and the record waits in the spool to be written whole."""

    id: int | None
    record: Record
    deferred: bool = False  # a retry of a failed revision, recorded once its end is known


class Publisher:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        drift: DriftMonitor,
        events: EventRecorder,
        notifier: Notifier,
        snapshots: SnapshotStore,
        ledger: Ledger | None,
        spool: Spool | None = None,
        open_ledger: Callable[[], Awaitable[Ledger]] | None = None,
        replica: str | None = None,
        cluster: str = "default",
    ) -> None:
        """`open_ledger`: how to open the ledger when it could not be opened at start (it is
        tried again, at most every `_REOPEN` seconds; records wait in the spool meanwhile).
        `cluster`: the agent's, whose records and image updates it writes."""
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.drift = drift
        self.events = events
        self.notifier = notifier
        self.snapshots = snapshots
        self.ledger = ledger
        self.spool = spool
        self._ledger_ok = ledger is not None or open_ledger is None
        self._ledger_error = ""  # the last failure, for the Event saying records are spooled
        self._open_ledger = open_ledger
        # Sharded: this replica's name, written to `status.replica` of what it owns.
        self.replica = replica
        self.cluster = cluster
        self._opened_at = -_REOPEN
        # Records in progress, per key and slot: a drift correction (slot "drift") may overlap
        # the Sync's own attempt.
        self._begun: dict[tuple[Key, str], Begun] = {}
        # The last record of each Sync when it was a failure: (its id, what failed how).
        self._failed: dict[tuple[Key, str], tuple[int, tuple[str, str, str]]] = {}

    def begun(self, key: Key, slot: str = "") -> Record | None:
        """The record of the attempt in progress for `key`, if one was opened."""
        found = self._begun.get((key, slot))
        return None if found is None else found.record

    def forget(self, key: Key) -> None:
        """Drop what is kept of `key` (gone): a namesake created later starts afresh, and its
        failures are never counted as more attempts of this one's record."""
        for kept in (self._begun, self._failed):
            for held in [k for k in kept if k[0] == key]:
                del kept[held]

    async def __call__(
        self,
        key: Key,
        report: Report,
        *,
        sync: Sync | None = None,
        revision: str = "",
        slot: str = "",
    ) -> float | None:
        """Carry out `report` for the resource `key`; returns the delay until the next try."""
        if report.begin is not None:
            # A deposed leader (or a replica whose key moved on) starts no record: the attempt
            # could not write anything to the cluster, and its ledger would say it did.
            self.kube.guard("PATCH", _status_path(key))
        bound = log.bind(**{_role(key): f"{key.namespace}/{key.name}"})
        if revision:
            bound = bound.bind(revision=revision)
        spooled = await self._ledger((key, slot), report, bound)
        self._drift(key, report)
        if report.snapshot is not None:
            self.snapshots.save(key.namespace, key.name, report.snapshot)
        obj = self.cache.get(key)
        status = report.status
        if status is None and obj is not None and self.replica is not None:
            # Taken over without anything to change: the status still names its new owner.
            status = obj.get("status") or {}
        refused = False
        if status is not None and obj is not None:
            try:
                obj = await self._write_status(key, obj, status, bound) or obj
            except _GuardFailed:
                # Another replica wrote this status since it was read: look again soon, with
                # the newer copy the watch brings (and, if the Sync is no longer ours, drop it).
                refused = True
        if obj is not None:
            for event in report.events:
                await self.events.emit(obj, event.type, event.reason, event.message)
            if spooled is not None:
                # Where people look first (`kubectl describe`, `gitmoor events`); repeats fold.
                await self.events.emit(obj, WARNING, "LedgerUnavailable", spooled)
        if sync is not None:
            self.notify(key, sync, report.notes)
        self._metrics(key, report)
        if report.log is not None:
            getattr(bound, report.log.level)(report.log.event, **report.log.fields)
        memory = self.memory.of(key)
        if report.retry is not None:
            memory.failures = report.retry.failures
            if key.kind == "Sync":
                self.memory.sync(key).awaiting = report.awaiting
            if report.retry.delay is not None and not refused:
                return jittered(report.retry.delay)
        return jittered(_GUARD_RETRY) if refused else None

    def notify(self, key: Key, sync: Sync, notes: Sequence[Note]) -> None:
        """Hand `notes` about the Sync `key` to its sinks (none when it has none)."""
        if not sync.spec.notifications:
            return
        for note in notes:
            self.notifier.notify(
                NotificationEvent(
                    kind=note.kind,
                    namespace=key.namespace,
                    name=key.name,
                    revision=note.revision,
                    reason=note.reason,
                    message=note.message,
                    sinks=tuple(sync.spec.notifications),
                    source_url=self.cache.source_url(sync),
                    restored_revision=note.restored,
                )
            )

    async def image_updated(self, update: ImageUpdate) -> None:
        """An automation pushed an update commit: the ledger keeps it, to link the image's
        push, the commit and the deployments that follow. A ledger away loses it (logged):
        the commit itself is in Git."""
        ledger = await self._connected()
        if ledger is None:
            return
        try:
            await ledger.record_image_update(update, cluster=self.cluster)
        except LedgerError as err:
            log.warning("could not record an image update in the ledger", error=str(err))

    async def interrupted(self, syncs: list[tuple[str, str]], before: datetime) -> None:
        """Attempts of these Syncs that their previous owner left in progress (it died, or was
        cut short handing over), begun before `before`, are marked interrupted."""
        ledger = await self._connected()
        if ledger is None:
            return
        try:
            marked = await ledger.interrupted(cluster=self.cluster, syncs=syncs, before=before)
        except LedgerError as err:
            log.warning("could not mark the attempts of Syncs taken over", error=str(err))
            return
        if marked:
            log.info("attempts of Syncs taken over marked interrupted", records=marked)

    async def _connected(self) -> Ledger | None:
        """The ledger, opened now if it could not be at start."""
        if self.ledger is not None or self._open_ledger is None:
            return self.ledger
        loop = asyncio.get_running_loop()
        if loop.time() - self._opened_at < _REOPEN:
            return None
        self._opened_at = loop.time()
        try:
            self.ledger = await self._open_ledger()
        except LedgerError as err:
            log.warning("ledger still unavailable: records wait in the spool", error=str(err))
            metrics.LEDGER_UP.set(0)
            self._ledger_error = _clip(str(err))
            return None
        log.info("ledger opened", url=self.ledger.url)
        return self.ledger

    async def close(self) -> None:
        """Close the ledger if this publisher opened it."""
        if self._open_ledger is not None and self.ledger is not None:
            await self.ledger.close()
            self.ledger = None

    async def _ledger(
        self, key: tuple[Key, str], report: Report, bound: structlog.BoundLogger
    ) -> str | None:
        """Record what `report` opens or finishes. Returns why, when the finished record had to
        wait in the spool (None: written, or nothing to write)."""
        if self.ledger is None and self._open_ledger is None:
            return None  # no ledger configured
        ledger = await self._connected()
        if report.begin is not None:
            self._begun.pop(key, None)
            record_id: int | None = None
            repeated = self._failed.get(key)
            if repeated is not None and repeated[1][0] == report.begin.revision:
                # Retrying a revision that failed: recorded only once it is known whether it
                # failed the same way again (then it is one more attempt of that record). The
                # end may come in this same report (a retry that was not expected to write).
                self._begun[key] = Begun(None, report.begin, deferred=True)
            else:
                # Nothing goes ahead of what waits in the spool: the ledger keeps the order.
                if ledger is not None and await self.flush_spool():
                    try:
                        record_id = await ledger.begin(report.begin)
                    except LedgerError as err:
                        self._ledger_down(bound, err)
                self._begun[key] = Begun(record_id, report.begin)
        if report.finish is not None:
            begun = self._begun.pop(key, None)
            if begun is None:
                return None
            final = report.finish
            same = _failure(final)
            repeated = self._failed.get(key)
            again = begun.deferred and repeated is not None and same == repeated[1]
            if (
                again
                and ledger is not None
                and repeated is not None
                and await self._count_again(ledger, repeated[0], final)
            ):
                return None
            written_id: int | None = None
            if ledger is not None and await self.flush_spool():
                try:
                    if begun.id is None:
                        written_id = await ledger.begin(final)
                    else:
                        written_id = begun.id
                    await ledger.finish(written_id, final)
                except LedgerError as err:
                    self._ledger_down(bound, err)
                    written_id = None
            if written_id is None:
                self._spool(begun.id, final, bound)
                self._failed.pop(key, None)
                return (
                    f"the ledger is unavailable ({self._ledger_error or 'not open yet'}): the "
                    "record of this attempt waits in the agent's spool and is written, in order, "
                    "when the ledger is back"
                )
            metrics.LEDGER_UP.set(1)
            if same is not None:
                self._failed[key] = (written_id, same)
            else:
                self._failed.pop(key, None)
        return None

    async def _count_again(self, ledger: Ledger, record_id: int, final: Record) -> bool:
        try:
            await ledger.repeat(record_id, final.finished_at or final.started_at)
        except LedgerError as err:
            log.warning("ledger: could not count a repeated failure", error=str(err))
            return False
        return True

    async def flush_spool(self) -> bool:
        """Write the spooled records; True when none is left waiting."""
        if self.spool is None or not len(self.spool):
            return True
        ledger = await self._connected()
        if ledger is None:
            return False
        written = await self.spool.flush(ledger)
        left = len(self.spool)
        metrics.LEDGER_SPOOLED.set(left)
        if written and not left:
            log.info("ledger back: spooled records written", records=written)
            self._ledger_ok = True
            metrics.LEDGER_UP.set(1)
        return not left

    def _spool(self, record_id: int | None, record: Record, bound: structlog.BoundLogger) -> None:
        if self.spool is None:
            bound.warning("ledger unavailable and no spool: attempt not recorded")
            return
        if record_id is None:
            self.spool.add_insert(record)
        else:
            self.spool.add_finish(record_id, record)
        metrics.LEDGER_SPOOLED.set(len(self.spool))

    def _ledger_down(self, bound: structlog.BoundLogger, err: LedgerError) -> None:
        metrics.LEDGER_FAILURES.inc()
        metrics.LEDGER_UP.set(0)
        self._ledger_error = _clip(str(err))
        if self._ledger_ok:
            bound.warning(
                "ledger unavailable: records are spooled until it returns", error=str(err)
            )
        self._ledger_ok = False

    def _drift(self, key: Key, report: Report) -> None:
        if key.kind != "Sync":
            return
        if report.retry is not None:
            # Each attempt's end says anew what its health gate left progressing (mostly
            # nothing): set before resuming, so the objects changed meanwhile are judged too.
            self.drift.expect(key.short, report.progressing)
        if report.drift is DriftAction.TRACK:
            self.drift.track(key.short, report.tracked)
        elif report.drift is DriftAction.RESUME:
            self.drift.resume(key.short)
        elif report.drift is DriftAction.FORGET:
            self.drift.forget(key.short)
        if report.reported is not None:
            self.memory.sync(key).reported = dict(report.reported)
            metrics.DRIFTED_OBJECTS.labels(*key.short).set(len(report.reported))

    def _metrics(self, key: Key, report: Report) -> None:
        ns, name = key.short
        if report.result is not None:
            metrics.RECONCILE_DURATION.labels(ns, name, report.result.value).observe(report.seconds)
            metrics.RECONCILES.labels(ns, name, report.result.value).inc()
        if report.correction is not None:
            metrics.DRIFT_CORRECTIONS.labels(ns, name, report.correction).inc()
        if report.fetch is not None:
            result, seconds = report.fetch
            metrics.GIT_FETCH_DURATION.labels(ns, name, result).observe(seconds)
            metrics.GIT_FETCHES.labels(ns, name, result).inc()
        if report.status is not None:
            for c in report.status.get("conditions") or []:
                metrics.set_condition(key.kind, ns, name, str(c["type"]), str(c["status"]))
            if key.kind == "Sync" and report.result is not None:
                managed = inventory.count(report.status.get("inventory"))
                metrics.MANAGED_OBJECTS.labels(ns, name).set(managed)

    async def _write_status(
        self, key: Key, obj: Obj, status: Obj, bound: structlog.BoundLogger
    ) -> Obj | None:
        current = obj.get("status") or {}
        if self.replica is not None:
            status = {**status, "replica": self.replica}
        if key.kind == "Sync":
            # A large inventory's chunks are written first: the status only ever names chunks
            # that exist.
            try:
                status = await stored_inventory.store(self.kube, obj, status)
            except TransientError as err:
                bound.warning("inventory chunks not written", error=str(err))
                return None
        if status == current:
            return None  # nothing changed: no write
        try:
            if self.replica is not None:
                updated = await self.kube.patch_json(
                    API_VERSION,
                    key.kind,
                    key.name,
                    key.namespace,
                    owner_guarded(current, status),
                    subresource="status",
                )
            else:
                updated = await self.kube.patch_merge(
                    API_VERSION,
                    key.kind,
                    key.name,
                    key.namespace,
                    {"status": merge_patch(current, status)},
                    subresource="status",
                )
        except KubeApiError as err:
            if err.status == 404:
                return None
            if err.status in (409, 422) and self.replica is not None:
                bound.warning("status written by another replica; not overwritten")
                raise _GuardFailed from err
            raise
        except TransientError as err:
            bound.warning("status update failed", error=str(err))
            return None
        self.cache.refresh(key, updated)
        before, after = current.get("inventory"), status.get("inventory")
        if before != after and (inventory.is_chunked(before) or inventory.is_chunked(after)):
            # Only once no status names them: a crash before this leaves them to the next sweep.
            await stored_inventory.sweep(self.kube, obj, inventory.chunk_names(after))
        return updated


class _GuardFailed(Exception):
    """The API server refused a status write: `status.replica` changed since it was read."""


def merge_patch(current: Obj, new: Obj) -> Obj:
    """The JSON merge patch (RFC 7386) that turns `current` into `new`. A merge patch keeps
    what it does not mention, in nested objects too: a field `new` dropped at any depth (an
    artifact's `unsafeEntries` once a clean revision came) is nulled. Lists are replaced."""
    patch: Obj = {k: None for k in current if k not in new}
    for k, v in new.items():
        old = current.get(k)
        patch[k] = merge_patch(old, v) if isinstance(v, dict) and isinstance(old, dict) else v
    return patch


def owner_guarded(current: Obj, status: Obj) -> list[dict[str, Any]]:
    """A JSON patch replacing the status whole, refused by the API server (422) unless
    `status.replica` still holds what this replica read: a replica acting on a stale copy
    never overwrites the status a newer owner wrote."""
    ops: list[dict[str, Any]] = []
    if "replica" in current:
        ops.append({"op": "test", "path": "/status/replica", "value": current["replica"]})
    ops.append({"op": "add", "path": "/status", "value": status})
    return ops


def _failure(record: Record) -> tuple[str, str, str] | None:
    """What makes two failed attempts the same: revision, reason and message."""
    if record.result is not Result.FAILED:
        return None
    return (record.revision, record.reason, record.message)


def _role(key: Key) -> str:
    return "sync" if key.kind == "Sync" else "source"


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_path(key: Key) -> str:
    plural = f"{key.kind.lower()}s"
    return f"/apis/{API_VERSION}/namespaces/{key.namespace}/{plural}/{key.name}/status"
