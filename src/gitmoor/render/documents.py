"""YAML and JSON text -> documents that remember the file and line they came from.

YAML is read the way kubectl reads it (YAML 1.1 through go-yaml v2): booleans such as `yes` are
booleans, timestamps and a bare `=` stay strings, and a key given twice in one mapping is an
error.

Reading keeps to `Limits` (`gitmoor.model.limits`): a document nested too deeply, or whose
aliases expand too far, is a `RenderError` before it is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from gitmoor.errors import RenderError
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.composer import BoundedLoader, LimitExceeded
from gitmoor.render.text import json_text_error, yaml_reader_error

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"


class _Loader(BoundedLoader):
    """libyaml's parser, composed within limits, read as kubectl reads: timestamps, `=` and
    duplicate keys."""

    # go-yaml v2 hands timestamps to kubectl as strings: dates in a ConfigMap stay text. It has
    # no YAML 1.1 "value" type either, for which PyYAML resolves a bare `=` and then has no
    # constructor: kubectl reads it as the string "=" (kube-prometheus CRDs list it in enums).
    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class-level table
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _VALUE)]
        for first, resolvers in BoundedLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found key {key_node.value!r} twice (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Document:
    """One parsed document. `item_lines` holds the line of each entry of a top-level `items`
    sequence, so the objects of a `List` keep their own lines."""

    obj: Any
    source: str
    line: int | None
    item_lines: tuple[int, ...] = ()


def parse_yaml(
    data: bytes | str, source: str, *, lines: bool = True, limits: Limits = DEFAULT_LIMITS
) -> Iterator[Document]:
    """Every non-empty document of a YAML stream; raises RenderError at the first syntax error
    or exceeded limit with the line of the problem (documents before it have been yielded)."""
    loader = _Loader(data, limits)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or node.tag == "tag:yaml.org,2002:null":
                continue
            obj = loader.construct_document(node)
            if obj is None:
                continue
            if lines:
                yield Document(obj, source, node.start_mark.line + 1, _item_lines(node))
            else:
                yield Document(obj, source, None)
    except LimitExceeded as err:
        raise RenderError(err.problem, file=source, line=err.line) from err
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, source) from err
    except yaml.reader.ReaderError as err:
        raise yaml_reader_error(err, data, source) from err
    except yaml.YAMLError as err:
        raise RenderError(f"cannot read YAML: {err}", file=source) from err
    finally:
        loader.dispose()


def load_single(data: bytes | str, source: str, *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The first document of a YAML file (None when it has none), read like a manifest."""
    for document in parse_yaml(data, source, limits=limits):
        return document.obj
    return None


def parse_json(data: bytes, source: str, *, limits: Limits = DEFAULT_LIMITS) -> Iterator[Document]:
    """The one document of a JSON file (none when the file is blank)."""
    text = data.lstrip()
    if not text:
        return
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        not_text = json_text_error(data, source)
        raise not_text or RenderError(
            f"invalid JSON: {err.msg}", file=source, line=err.lineno
        ) from err
    line = data[: len(data) - len(text)].count(b"\n") + 1
    # orjson reads up to 1024 levels but writes only 254: refuse what could not be digested.
    if _nests_deeper(obj, limits.max_depth):
        raise RenderError(f"JSON nested deeper than {limits.max_depth} levels", file=source)
    yield Document(obj, source, line)


def _nests_deeper(obj: Any, limit: int) -> bool:
    """Whether lists and mappings in `obj` nest more than `limit` levels; without recursion,
    since the depth is what is in doubt."""
    pending: list[tuple[Any, int]] = [(obj, 1)] if isinstance(obj, dict | list) else []
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False


def _item_lines(node: yaml.Node) -> tuple[int, ...]:
    if not isinstance(node, yaml.MappingNode):
        return ()
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items":
            if isinstance(value, yaml.SequenceNode):
                return tuple(item.start_mark.line + 1 for item in value.value)
            return ()
    return ()


def _syntax_error(err: yaml.MarkedYAMLError, source: str) -> RenderError:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or "invalid YAML"
    context = err.context or ""
    if (
        context
        and err.context_mark
        and err.problem_mark
        and err.context_mark.line != err.problem_mark.line
    ):
        context = f"{context} (which starts on line {err.context_mark.line + 1})"
    message = f"invalid YAML: {problem}" + (f" {context}" if context else "")
    return RenderError(message, file=source, line=mark.line + 1 if mark else None)
