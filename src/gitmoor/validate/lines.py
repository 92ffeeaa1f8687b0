"""The line of a field in the file an object came from.

Rendering keeps the line of each document; a schema problem is more useful at the line of the
offending field, so the file is read again as YAML nodes (which remember their marks) and the
field's path walked down them. Objects without a line (built by kustomize, templated by Helm) are
looked for in their file by kind and name; failing that, only the file is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitmoor.model.config import line_of

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


@dataclass(frozen=True)
class _Object:
    node: yaml.MappingNode
    line: int
    kind: str
    name: str


class Locator:
    """Finds lines in files below `root`; each file is read at most once."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._files: dict[Path, list[_Object]] = {}

    def line(
        self, file: Path, obj: dict[str, Any], line: int | None, path: Sequence[str | int]
    ) -> int | None:
        """The line of `path` in `obj`, which starts on `line` of `file` (None: unknown);
        the deepest part of `path` the file shows, else `line`."""
        objects = self._objects(file)
        found = _by_line(objects, line) if line else _by_identity(objects, obj)
        if found is None:
            return line
        return line_of(found.node, path) or found.line

    def _objects(self, file: Path) -> list[_Object]:
        file = file if file.is_absolute() else self._root / file
        cached = self._files.get(file)
        if cached is None:
            cached = _read(file)
            self._files[file] = cached
        return cached


def _read(file: Path) -> list[_Object]:
    """The mappings of every document (and of `items` of a List) that parse, in file order."""
    try:
        text = file.read_bytes()
    except OSError:
        return []
    found: list[_Object] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if isinstance(node, yaml.MappingNode):
                found.append(_object(node))
                items = _child(node, "items")
                if isinstance(items, yaml.SequenceNode):
                    found.extend(_object(i) for i in items.value if isinstance(i, yaml.MappingNode))
    except yaml.YAMLError:
        pass  # a syntax error: the documents before it still help
    finally:
        loader.dispose()
    return found


def _object(node: yaml.MappingNode) -> _Object:
    meta = _child(node, "metadata")
    return _Object(
        node,
        node.start_mark.line + 1,
        _scalar(_child(node, "kind")),
        _scalar(_child(meta, "name")) if meta is not None else "",
    )


def _by_line(objects: list[_Object], line: int) -> _Object | None:
    return next((o for o in objects if o.line == line), None)


def _by_identity(objects: list[_Object], obj: dict[str, Any]) -> _Object | None:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    matches = [o for o in objects if o.kind == obj.get("kind") and o.name == name]
    return matches[0] if len(matches) == 1 else None


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None


def _scalar(node: yaml.Node | None) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""
