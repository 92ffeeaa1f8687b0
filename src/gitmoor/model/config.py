"""GitSource and Sync documents from a YAML file (`gitmoor run --config FILE`).

The same documents are applied as custom resources in a cluster, so they are validated by the
same models. Every problem of a file is reported at once, each as
`FILE:LINE: Kind/namespace/name: field.path: problem`, with the line of the offending field
where the YAML shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from gitmoor.model.api import API_VERSION, GROUP
from gitmoor.model.durations import parse_duration
from gitmoor.model.images import ImagePolicy, ImageRepository, ImageUpdateAutomation
from gitmoor.model.refs import ObjectRef
from gitmoor.model.resources import (
    ChartSource,
    Duration,
    GitSource,
    Name,
    NamespaceName,
    OCISource,
    Sync,
)

Resource = (
    GitSource
    | ChartSource
    | OCISource
    | Sync
    | ImageRepository
    | ImagePolicy
    | ImageUpdateAutomation
)

_KINDS: dict[
    str,
    type[GitSource]
    | type[ChartSource]
    | type[OCISource]
    | type[Sync]
    | type[ImageRepository]
    | type[ImagePolicy]
    | type[ImageUpdateAutomation],
] = {
    "GitSource": GitSource,
    "ChartSource": ChartSource,
    "OCISource": OCISource,
    "Sync": Sync,
    "ImageRepository": ImageRepository,
    "ImagePolicy": ImagePolicy,
    "ImageUpdateAutomation": ImageUpdateAutomation,
}
_NULL_TAG = "tag:yaml.org,2002:null"
_DURATION_PATTERN: str = TypeAdapter(Duration).json_schema()["pattern"]
# What the models' patterns mean, for messages people can act on.
_PATTERN_MEANING: dict[str, str] = {
    TypeAdapter(Name).json_schema()["pattern"]: "a name of lowercase letters, digits, '-' and "
    "'.', starting and ending with a letter or digit",
    TypeAdapter(NamespaceName).json_schema()["pattern"]: "a namespace name of lowercase "
    "letters, digits and '-', starting and ending with a letter or digit",
}
# Metadata the API server fills in: applying it back would be refused or would pin old values.
_SERVER_METADATA = (
    "generation",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file."""

    source: str
    line: int | None
    subject: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return ": ".join(p for p in (where, self.subject, self.field, self.message) if p)


class ConfigError(ValueError):
    """A configuration file holds invalid documents; `problems` lists every one of them.

    A plain ValueError on purpose: `model` sits below `errors` and cannot import it; callers
    that need the retry semantics wrap it in a PermanentError.
    """

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_documents(text: str, *, source: str = "<config>") -> list[Resource]:
    """Parse multi-document YAML into validated GitSource and Sync resources, in file order.

    Empty documents are skipped. Raises ConfigError listing every problem found.
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (err.context, err.problem) if p) or str(err)
        raise ConfigError(
            [ConfigProblem(source, line, "", "", f"invalid YAML: {problem}")]
        ) from err
    except yaml.YAMLError as err:
        raise ConfigError([ConfigProblem(source, None, "", "", f"invalid YAML: {err}")]) from err

    problems: list[ConfigProblem] = []
    resources: list[Resource] = []
    seen: dict[ObjectRef, int] = {}
    for index, node in enumerate(nodes, start=1):
        if node is None or node.tag == _NULL_TAG:
            continue  # an empty document, e.g. after a trailing `---`
        found, resource = _document(node, index, source)
        problems.extend(found)
        if resource is None:
            continue
        meta = resource.metadata
        ref = ObjectRef(GROUP, resource.kind, meta.namespace, meta.name)
        line = node.start_mark.line + 1
        if ref in seen:
            problems.append(
                ConfigProblem(
                    source, line, ref.subject, "", f"defined twice (first on line {seen[ref]})"
                )
            )
            continue
        seen[ref] = line
        resources.append(resource)
    if problems:
        raise ConfigError(problems)
    return resources


def to_document(resource: Resource) -> dict[str, Any]:
    """The resource as a document to apply: camelCase keys, no nulls, no status, no metadata
    the API server owns."""
    doc: dict[str, Any] = resource.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"status"}
    )
    meta = doc["metadata"]
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    return doc


def _document(
    node: yaml.Node, index: int, source: str
) -> tuple[list[ConfigProblem], Resource | None]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        return [ConfigProblem(source, line, f"document {index}", "", "expected a mapping")], None
    try:
        doc = _construct(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        return [
            ConfigProblem(
                source,
                mark.line + 1 if mark else line,
                f"document {index}",
                "",
                f"invalid YAML: {err.problem or err.context or err}",
            )
        ], None
    subject = _subject(doc, index)
    problems = [
        ConfigProblem(source, key_line, subject, field, "duplicate key: YAML keeps only the last")
        for field, key_line in _duplicate_keys(node, ())
    ]
    kind = doc.get("kind")
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        problems.append(
            ConfigProblem(
                source,
                line_of(node, ("kind",)) or line,
                subject,
                "kind",
                f"expected GitSource, ChartSource, OCISource or Sync ({API_VERSION}), got {kind!r}",
            )
        )
        return problems, None
    try:
        resource = model.model_validate(doc)
    except ValidationError as err:
        for detail in err.errors():
            loc = tuple(detail["loc"])
            problems.append(
                ConfigProblem(
                    source,
                    line_of(node, loc) or line,
                    subject,
                    _field_path(loc),
                    _describe(detail),
                )
            )
        return problems, None
    return problems, resource if not problems else None


def _construct(node: yaml.Node) -> dict[str, Any]:
    loader = _Loader("")
    try:
        value = loader.construct_document(node)
    finally:
        loader.dispose()
    return value if isinstance(value, dict) else {}


def _subject(doc: dict[str, Any], index: int) -> str:
    kind = doc.get("kind")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str):
        return f"document {index}"
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return ObjectRef("", kind, str(namespace or "default"), name).subject


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _describe(detail: ErrorDetails) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    value = detail.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == _DURATION_PATTERN and isinstance(value, str):
            try:
                parse_duration(value)
            except ValueError as err:
                return str(err)
        pattern = str(ctx.get("pattern"))
        meaning = _PATTERN_MEANING.get(pattern)
        if meaning:
            return f"{value!r} is not {meaning}"
        return f"{value!r} does not match {pattern}"
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def line_of(node: yaml.Node, loc: Sequence[int | str]) -> int | None:
    """The line of the deepest node along `loc` that the document has."""
    line: int | None = None
    current: yaml.Node | None = node
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            entry = next(
                ((k, v) for k, v in current.value if getattr(k, "value", None) == part), None
            )
            if entry is None:
                break
            line = entry[0].start_mark.line + 1
            current = entry[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node, path: tuple[int | str, ...]) -> list[tuple[str, int]]:
    """(field path, line) of every key repeated in a mapping."""
    found: list[tuple[str, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(getattr(key_node, "value", ""))
            if key in seen:
                found.append((_field_path((*path, key)), key_node.start_mark.line + 1))
            seen.add(key)
            found.extend(_duplicate_keys(value_node, (*path, key)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, (*path, i)))
    return found
