"""What a migration gives: gitmoor documents, and every field that has no gitmoor equivalent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitmoor.model.api import API_VERSION
from gitmoor.model.config import ConfigError, load_documents
from gitmoor.model.durations import format_duration, parse_duration


@dataclass(frozen=True)
class Skipped:
    """A field (or a whole resource, `field` empty) not carried over, and why; with `carried`,
    a field that was carried over but behaves differently enough to check by hand.

    `resource` is written `Kind/namespace/name`: the Flux or Argo CD resource, or the gitmoor
    object written for it when the item concerns that object."""

    resource: str
    field: str
    reason: str
    carried: bool = False

    def __str__(self) -> str:
        return ": ".join(p for p in (self.resource, self.field, self.reason) if p)

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class Migration:
    """gitmoor documents (GitSources, then Syncs, valid by gitmoor's own models) and what was
    not carried over; `read` counts the Flux and Argo CD resources looked at."""

    objects: tuple[dict[str, Any], ...] = ()
    skipped: tuple[Skipped, ...] = ()
    read: int = 0

    def __add__(self, other: Migration) -> Migration:
        return Migration(
            self.objects + other.objects, self.skipped + other.skipped, self.read + other.read
        )


@dataclass
class Builder:
    """Collects the documents and skipped fields of one ecosystem's conversion."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    read: int = 0

    def skip(self, resource: str, field_path: str, reason: str) -> None:
        self.skipped.append(Skipped(resource, field_path, reason))

    def check(self, resource: str, field_path: str, reason: str) -> None:
        """Carried over, but not the same: say what differs."""
        self.skipped.append(Skipped(resource, field_path, reason, carried=True))

    def add(self, resource: str, document: dict[str, Any]) -> bool:
        """Add `document` if gitmoor's models accept it; otherwise skip `resource` whole with
        the models' words. Returns whether it was added."""
        problem = model_problem(document)
        if problem:
            # Nothing of it is carried over: what would have differed does not matter.
            self.skipped = [s for s in self.skipped if not (s.carried and s.resource == resource)]
            self.skip(
                resource, "", f"cannot be expressed as a gitmoor {document['kind']}: {problem}"
            )
            return False
        self.objects.append(document)
        return True

    def result(self) -> Migration:
        order = {"GitSource": 0, "ChartSource": 1, "OCISource": 1, "Sync": 2}
        objects = sorted(
            self.objects,
            key=lambda o: (
                order.get(o["kind"], 3),
                o["metadata"]["namespace"],
                o["metadata"]["name"],
            ),
        )
        return Migration(tuple(objects), tuple(self.skipped), self.read)


def model_problem(document: Mapping[str, Any]) -> str | None:
    """Why gitmoor's GitSource and Sync models refuse `document`, if they do."""
    try:
        loaded = load_documents(yaml.safe_dump(dict(document), sort_keys=False), source="-")
    except ConfigError as err:
        return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in err.problems)
    if len(loaded) != 1:
        return "not one document"
    return None


def subject(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace') or 'default'}/{meta.get('name')}"


def duration(value: Any) -> str | None:
    """A Go duration as gitmoor writes it (`10m0s` -> `10m`); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return format_duration(parse_duration(value))
    except ValueError:
        return None


def document(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def slug(text: str, *, limit: int = 63) -> str:
    """`github.com/Org/My_Repo.git` -> `my-repo`-like names: lowercase, digits and '-'."""
    name = _NOT_NAME.sub("-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "source"
