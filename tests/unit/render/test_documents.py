"""YAML scalars read as kubectl (go-yaml v2) reads them."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.errors import RenderError
from gitmoor.render.documents import parse_yaml

# (YAML text, what kubectl makes of it)
READ_AS_KUBECTL = [
    ("enum: [=, '!=', =~]", {"enum": ["=", "!=", "=~"]}),
    ("enum:\n- =\n- '!='\n", {"enum": ["=", "!="]}),
    ("operator: =", {"operator": "="}),
    ("=: equals", {"=": "equals"}),
    ("quoted: '='", {"quoted": "="}),
    ("flags: [yes, no, on, off, true]", {"flags": [True, False, True, False, True]}),
    ("started: 2024-01-31", {"started": "2024-01-31"}),
    ("at: 2024-01-31T10:00:00Z", {"at": "2024-01-31T10:00:00Z"}),
    ("n: 010", {"n": 8}),
    ("merged: {<<: {a: 1}, b: 2}", {"merged": {"a": 1, "b": 2}}),
]


def read(text: str | bytes) -> list[Any]:
    return [document.obj for document in parse_yaml(text, "f.yaml")]


@pytest.mark.parametrize(("text", "expected"), READ_AS_KUBECTL)
def test_scalars_read_as_kubectl_reads_them(text: str, expected: Any) -> None:
    assert read(text) == [expected]


def test_a_key_given_twice_is_still_refused() -> None:
    with pytest.raises(RenderError, match=r"f\.yaml:2: .*'a' twice \(first on line 1\)"):
        read("a: 1\na: 2\n")
