"""Shared by the migration case tables: a case is documents in (YAML), documents out (YAML),
and the items listed as not carried over (or carried over with a difference: `check`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitmoor.migrate import Migration, migrate
from gitmoor.migrate.result import model_problem


@dataclass(frozen=True)
class Item:
    resource: str
    field: str
    words: str
    check: bool = False


@dataclass(frozen=True)
class Case:
    given: str
    expected: str
    items: list[Item] = field(default_factory=list)


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(textwrap.dedent(text)) if d]


def run(case: Case) -> Migration:
    result = migrate(docs(case.given))
    assert list(result.objects) == docs(case.expected)
    for obj in result.objects:
        assert model_problem(obj) is None, obj
    got = {(s.resource, s.field, s.carried): s.reason for s in result.skipped}
    want = {(i.resource, i.field, i.check): i.words for i in case.items}
    assert set(got) == set(want), sorted(got)
    for key, words in want.items():
        assert words in got[key], (key, got[key])
    return result
