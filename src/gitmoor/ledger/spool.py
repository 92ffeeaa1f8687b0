"""Records the ledger could not take (its database down, its disk full), kept durably beside
the agent and written, in order, once it is back: an attempt is never lost because the ledger
was away.

One JSON line per pending write, fsync'ed: `{"op": "finish", "id": 7, "record": {...}}` for an
attempt whose start reached the ledger, `{"op": "insert", "record": {...}}` for one that never
did (written whole when it returns).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from gitmoor.ledger.errors import LedgerError, RecordFinishedError, RecordNotFoundError
from gitmoor.ledger.store import Ledger
from gitmoor.model.pipeline import Action
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.model.refs import ObjectRef

_TIMES = {"commit_time", "started_at", "applied_at", "healthy_at", "finished_at"}


class Spool:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "ledger-spool.jsonl"

    def __len__(self) -> int:
        return len(self._lines())

    def add_finish(self, record_id: int, record: Record) -> None:
        self._append({"op": "finish", "id": record_id, "record": encode(record)})

    def add_insert(self, record: Record) -> None:
        self._append({"op": "insert", "record": encode(record)})

    async def flush(self, ledger: Ledger) -> int:
        """Write what is pending, oldest first, stopping at the first failure (the rest keeps
        its order for the next try); returns how many were written."""
        lines = self._lines()
        done = 0
        try:
            for line in lines:
                entry = json.loads(line)
                record = decode(entry["record"])
                if entry["op"] == "finish":
                    try:
                        await ledger.finish(int(entry["id"]), record)
                    except (RecordNotFoundError, RecordFinishedError):
                        # Its start is gone (a ledger restored from a backup, another
                        # database): the attempt is written whole rather than lost.
                        await ledger.finish(await ledger.begin(record), record)
                else:
                    record_id = await ledger.begin(record)
                    await ledger.finish(record_id, record)
                done += 1
        except LedgerError:
            pass
        finally:
            if done:
                self._rewrite(lines[done:])
        return done

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        # A line cut short by a crash mid-append is the only one that may not parse: dropped.
        return [line for line in text.splitlines() if _whole(line)]

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rewrite(self, lines: list[str]) -> None:
        if not lines:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        tmp.replace(self.path)


def _whole(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def encode(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name in _TIMES:
            value = value.isoformat() if value is not None else None
        elif f.name in ("trigger", "result"):
            value = value.value
        elif f.name == "objects":
            value = [
                [o.ref.group, o.ref.kind, o.ref.namespace, o.ref.name, o.api_version, o.action]
                for o in value
            ]
        elif f.name == "images":
            value = list(value)
        out[f.name] = value
    return out


def decode(data: dict[str, Any]) -> Record:
    values = dict(data)
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["trigger"] = Trigger(values["trigger"])
    values["result"] = Result(values["result"])
    values["objects"] = tuple(
        ObjectAction(ObjectRef(g, k, ns, n), v, Action(a))
        for g, k, ns, n, v, a in values["objects"]
    )
    values["images"] = tuple(values["images"])
    values["id"] = None
    return Record(**values)
