"""Which commit produced what a Sync runs: per-Sync attribution in a shared repository.

A record's revision is the repository's commit at the time of the attempt. When many apps share
one repository, most commits change nothing of a given Sync: its content (the digest of its
objects as sent, `Record.content`) stays the same. What a Sync runs was produced by the commit
that first deployed that content, so each deploying record is attributed to an *origin*:

- a record whose content equals the content of the Sync's previous deploying record keeps that
  record's origin (an unchanged content across commits to other apps, a drift correction, a
  re-apply);
- a record that restored an earlier revision (`rolled_back`) is attributed to the origin of the
  latest record that applied that revision, when there is one;
- any other record is its own origin: its commit is the one that changed the content.

Records without a content digest (written before gitmoor kept one) are their own origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitmoor.model.record import Result


@dataclass(frozen=True)
class State:
    """One deploying record of a Sync, as attribution reads it."""

    id: int
    result: Result
    content: str | None
    deployed_revision: str
    deployed_sha: str
    commit_author: str = ""
    commit_time: datetime | None = None
    commit_message: str = ""


@dataclass(frozen=True)
class Origin:
    """The commit whose content a Sync runs, and the record that first deployed it."""

    revision: str
    sha: str
    author: str
    time: datetime | None
    subject: str
    record_id: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Origin:
        """The Origin `as_dict` gave (as the agent's ledger API sends it)."""
        when = data.get("commit_time")
        return cls(
            str(data["revision"]),
            str(data["commit_sha"]),
            str(data.get("commit_author") or ""),
            datetime.fromisoformat(when) if when else None,
            str(data.get("commit_message") or ""),
            int(data["record_id"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "commit_sha": self.sha,
            "commit_author": self.author,
            "commit_time": self.time.isoformat() if self.time else None,
            "commit_message": self.subject,
            "record_id": self.record_id,
        }


def origins(states: Sequence[State]) -> dict[int, Origin]:
    """The origin of every state of one Sync; `states` oldest first."""
    found: dict[int, Origin] = {}
    applied: dict[str, Origin] = {}  # deployed sha -> the origin of its latest applied record
    previous: State | None = None
    for state in states:
        if previous is not None and state.content and state.content == previous.content:
            origin = found[previous.id]
        elif state.result is Result.ROLLED_BACK and state.deployed_sha in applied:
            origin = applied[state.deployed_sha]
        elif state.result is Result.ROLLED_BACK:
            # Restored a revision whose deployment is no longer in the ledger (pruned).
            origin = Origin(state.deployed_revision, state.deployed_sha, "", None, "", state.id)
        else:
            origin = Origin(
                state.deployed_revision,
                state.deployed_sha,
                state.commit_author,
                state.commit_time,
                state.commit_message,
                state.id,
            )
        found[state.id] = origin
        if state.result is Result.APPLIED:
            applied[state.deployed_sha] = origin
        previous = state
    return found
