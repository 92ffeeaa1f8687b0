"""What is deployed where: the answer of `Ledger.where`, and the rule for "since when".

A sync is (cluster, namespace, name). Its *deployed state* changes only with records whose result
is `applied` (the record's revision now runs) or `rolled_back` (`rolled_back_to` runs again); a
`failed`, `interrupted` or `in_progress` record leaves it as it was. Each such record has a
deployed revision and a deployed time (`Record.deployed_revision`, `Record.deployed_at`).

What is *deployed now* in a sync is the content of its latest such record, attributed to the
commit that produced it (`gitmoor.ledger.attribution`: in a repository shared by many apps, a
commit to another app changes nothing of this sync). *Since* is the deployed time of the oldest
record of the unbroken run of such records, newest backwards, that still match: the same origin
commit when asked by revision, a state containing the image when asked by image. So an atomic
rollback to the running revision does not restart its run (it never stopped being the running
one), while deploying another revision and then this one again does. Retention may prune the
start of a run; `Ledger.prune` keeps the first record of each sync's current revision run, and
the record its content is attributed to, so that "since" and the attribution survive it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Deployment:
    """One sync where the asked-for revision or image is deployed now."""

    environment: str
    cluster: str
    sync_namespace: str
    sync_name: str
    revision: str  # what runs now: the revision of the commit its content came from
    commit_sha: str
    since: datetime  # start of the unbroken run (see the module docstring)
    deployed_at: datetime  # the latest record that (re)deployed it
    record_id: int  # that record
    images: tuple[str, ...]  # the images running there now

    @property
    def sync(self) -> str:
        return f"{self.sync_namespace}/{self.sync_name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "cluster": self.cluster,
            "sync_namespace": self.sync_namespace,
            "sync_name": self.sync_name,
            "revision": self.revision,
            "commit_sha": self.commit_sha,
            "since": self.since.isoformat(),
            "deployed_at": self.deployed_at.isoformat(),
            "record_id": self.record_id,
            "images": list(self.images),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        """The Deployment `as_dict` gave (as the agent's ledger API sends it)."""
        return cls(
            environment=str(data["environment"]),
            cluster=str(data["cluster"]),
            sync_namespace=str(data["sync_namespace"]),
            sync_name=str(data["sync_name"]),
            revision=str(data["revision"]),
            commit_sha=str(data["commit_sha"]),
            since=datetime.fromisoformat(data["since"]),
            deployed_at=datetime.fromisoformat(data["deployed_at"]),
            record_id=int(data["record_id"]),
            images=tuple(str(i) for i in data["images"]),
        )


def run_start(states: Iterable[tuple[datetime, bool]]) -> datetime | None:
    """The deployed time of the oldest state in the leading run of matching states.

    `states` are a sync's deployed states, newest first, as (deployed time, matches); None when
    the newest does not match.
    """
    start: datetime | None = None
    for deployed_at, matches in states:
        if not matches:
            break
        start = deployed_at
    return start
