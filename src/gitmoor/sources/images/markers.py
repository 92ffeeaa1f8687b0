"""Flux's image policy markers in YAML files, and the edits that update the fields they mark.

A marker is a comment right after a scalar on its line:

    image: registry.example/app:1.2.3 # {"$imagepolicy": "apps:app"}
    newTag: 1.2.3 # {"$imagepolicy": "apps:app:tag"}

`ns:name` sets the whole image (`name:tag`), `:tag` the tag, `:name` the image name, `:digest`
the manifest digest. Any scalar can be marked: a container's image, a kustomization's
`images:` entry (newName/newTag/digest), a Helm values file's repository and tag.

The scalars are located by a real YAML parser (PyYAML's node marks) and only the characters of a
marked scalar change: comments, indentation, quoting, line endings and key order stay as they
were, byte for byte. A plain scalar whose new value would read as something other than a string
(`1.10`, `true`) is written double-quoted.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import yaml

_COMMENT = re.compile(r"[ \t]*#[ \t]*(\{.*\})[ \t]*$")
_MAX_FILE_BYTES = 4 * 1024 * 1024


class Field(enum.StrEnum):
    IMAGE = "image"
    TAG = "tag"
    NAME = "name"
    DIGEST = "digest"


@dataclass(frozen=True)
class Marker:
    """One marked scalar: where it is (`start`..`end` in the file's text), what it holds."""

    file: str
    line: int  # 1-based
    namespace: str
    policy: str
    field: Field
    start: int
    end: int
    value: str
    style: str  # "" plain, "'" or '"'

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def policy_key(self) -> str:
        return f"{self.namespace}/{self.policy}"


@dataclass(frozen=True)
class Image:
    """What a policy chose: the image name, the tag, and the digest when known."""

    name: str
    tag: str
    digest: str | None = None

    def value(self, of: Field) -> str | None:
        if of is Field.IMAGE:
            return f"{self.name}:{self.tag}"
        if of is Field.TAG:
            return self.tag
        if of is Field.NAME:
            return self.name
        return self.digest


@dataclass(frozen=True)
class Change:
    file: str
    line: int
    policy: str  # ns/name
    field: Field
    old: str
    new: str


@dataclass(frozen=True)
class Problem:
    """A marker that cannot be served: its policy does not exist, or its line is malformed."""

    where: str
    message: str


@dataclass(frozen=True)
class Plan:
    files: dict[str, bytes] = field(default_factory=dict)  # path -> its new content
    changes: tuple[Change, ...] = ()
    problems: tuple[Problem, ...] = ()
    seen: frozenset[str] = frozenset()  # ns/name of every policy a marker in scope names


class _Composer(yaml.SafeLoader):
    """SafeLoader's composer, which alone keeps marks; aliases stay unexpanded nodes."""


def parse_marker(comment: str, *, namespace: str = "default") -> tuple[str, str, Field] | None:
    """(namespace, policy, field) from a comment's JSON (`{"$imagepolicy": "ns:name:tag"}`);
    None when it is not a marker. A marker without a namespace means `namespace`."""
    try:
        doc = json.loads(comment)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("$imagepolicy"), str):
        return None
    parts = doc["$imagepolicy"].split(":")
    if len(parts) == 1:
        return namespace, parts[0], Field.IMAGE
    if len(parts) == 2 and parts[1] not in Field.__members__.values():
        return parts[0], parts[1], Field.IMAGE
    if len(parts) == 2:
        return namespace, parts[0], Field(parts[1])
    if len(parts) == 3 and parts[2] in Field.__members__.values():
        return parts[0], parts[1], Field(parts[2])
    return None


def find(text: str, file: str, *, namespace: str = "default") -> Iterator[Marker]:
    """Every marked scalar of a (multi-document) YAML text; text that does not parse as YAML
    holds none (it is not a manifest this automation could edit)."""
    if "$imagepolicy" not in text:
        return
    try:
        roots = list(yaml.compose_all(text, Loader=_Composer))
    except yaml.YAMLError:
        return
    for root in roots:
        for node in _values(root):
            if node.style not in (None, "", "'", '"'):
                continue
            start, end = node.start_mark, node.end_mark
            if start.line != end.line or text[start.index] in "&!*":
                # Multi-line, or an anchor or tag before the value: not a scalar to replace.
                continue
            eol = text.find("\n", end.index)
            rest = text[end.index : len(text) if eol < 0 else eol].rstrip("\r")
            comment = _COMMENT.match(rest)
            if comment is None:
                continue
            parsed = parse_marker(comment.group(1), namespace=namespace)
            if parsed is None:
                continue
            ns, name, what = parsed
            yield Marker(
                file,
                start.line + 1,
                ns,
                name,
                what,
                start.index,
                end.index,
                str(node.value),
                node.style or "",
            )


def _values(node: yaml.Node | None) -> Iterator[yaml.ScalarNode]:
    """Scalars in value position (mapping values, sequence items), depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(value, yaml.ScalarNode):
                    yield value
                else:
                    stack.append(value)
                if not isinstance(key, yaml.ScalarNode):
                    stack.append(key)
        elif isinstance(current, yaml.SequenceNode):
            for item in current.value:
                if isinstance(item, yaml.ScalarNode):
                    yield item
                else:
                    stack.append(item)


def written(value: str, style: str) -> str:
    """`value` as it is written in a scalar of `style`, so that it reads back as that string."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_ok(value):
        return json.dumps(value)
    return value


def _plain_ok(value: str) -> bool:
    try:
        return bool(yaml.safe_load(f"k: {value}\n") == {"k": value})
    except yaml.YAMLError:
        return False


def edit(text: str, replacements: list[tuple[Marker, str]]) -> str:
    """`text` with each marker's scalar replaced by its new value; nothing else changes."""
    out = text
    for marker, value in sorted(replacements, key=lambda r: r[0].start, reverse=True):
        out = out[: marker.start] + written(value, marker.style) + out[marker.end :]
    return out


def plan(
    files: Mapping[str, bytes],
    images: Mapping[str, Image | None],
    *,
    namespace: str,
) -> Plan:
    """The edits that bring every marker of `files` (path -> content, the files under the
    update path) to what its policy chose. `images` maps every existing policy (ns/name) to its
    choice, None while it has none (its markers are left as they are). A marker naming a policy
    that does not exist is a Problem, and so is a digest marker whose policy knows no digest."""
    new_files: dict[str, bytes] = {}
    changes: list[Change] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for path in sorted(files):
        raw = files[path]
        if len(raw) > _MAX_FILE_BYTES or b"$imagepolicy" not in raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        replacements: list[tuple[Marker, str]] = []
        for marker in find(text, path, namespace=namespace):
            seen.add(marker.policy_key)
            if marker.policy_key not in images:
                problems.append(
                    Problem(marker.where, f"ImagePolicy {marker.policy_key} does not exist")
                )
                continue
            image = images[marker.policy_key]
            if image is None:
                continue
            value = image.value(marker.field)
            if value is None:
                problems.append(
                    Problem(
                        marker.where,
                        f"ImagePolicy {marker.policy_key} knows no digest for {image.tag}",
                    )
                )
                continue
            if value != marker.value:
                replacements.append((marker, value))
                changes.append(
                    Change(path, marker.line, marker.policy_key, marker.field, marker.value, value)
                )
        if replacements:
            new_files[path] = edit(text, replacements).encode("utf-8")
    return Plan(new_files, tuple(changes), tuple(problems), frozenset(seen))
