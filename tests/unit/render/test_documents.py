"""YAML scalars read as kubectl (go-yaml v2) reads them."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.errors import RenderError
from gitmoor.render.documents import parse_json, parse_yaml

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


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

# (file name, content, the error)
NOT_TEXT = [
    (
        "logo.yaml",
        PNG,
        "logo.yaml:1: not UTF-8 text: invalid start byte at byte 0 (save the file as UTF-8)",
    ),
    (
        "logo.json",
        PNG,
        "logo.json:1: not UTF-8 text: invalid start byte at byte 0 (save the file as UTF-8)",
    ),
    (
        "latin1.yaml",
        "kind: ConfigMap\ndata: {city: Orléans}\n".encode("latin-1"),
        "latin1.yaml:2: not UTF-8 text: invalid continuation byte at byte 32 (save the file as "
        "UTF-8)",
    ),
    (
        "latin1.json",
        '{\n"city": "Orléans"}'.encode("latin-1"),
        "latin1.json:2: not UTF-8 text: invalid continuation byte at byte 14 (save the file as "
        "UTF-8)",
    ),
    (
        "nul.yaml",
        b"kind: ConfigMap\n\x00\x00\x00",
        "nul.yaml:2: not text: control character U+0000 at byte 16 (a binary file?)",
    ),
    (
        "nul.json",
        b'{"kind": "ConfigMap"}\n\x00\x00',
        "nul.json:2: not text: a NUL byte at byte 22 (a binary file?)",
    ),
]


@pytest.mark.parametrize(("name", "content", "error"), NOT_TEXT)
def test_a_file_that_is_not_text_says_so(name: str, content: bytes, error: str) -> None:
    parse = parse_json if name.endswith(".json") else parse_yaml

    with pytest.raises(RenderError) as caught:
        list(parse(content, name))

    assert str(caught.value) == error


def test_utf16_with_a_byte_order_mark_is_still_read() -> None:
    assert read("kind: ConfigMap\n".encode("utf-16")) == [{"kind": "ConfigMap"}]
