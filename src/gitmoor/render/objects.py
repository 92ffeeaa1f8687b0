"""Documents -> Manifests: every object named, Lists flattened, no object defined twice, no
more objects than `Limits.max_objects`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitmoor.errors import RenderError
from gitmoor.model import Manifest, ObjectRef
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render.documents import Document
from gitmoor.render.problems import Problems

_NEEDS = "every object needs apiVersion, kind and metadata.name (or metadata.generateName)"


def to_manifests(
    documents: Iterable[Document], problems: Problems, limits: Limits = DEFAULT_LIMITS
) -> list[Manifest]:
    """The objects of `documents` in order; a bad or duplicate object goes to `problems`. Past
    `limits.max_objects` objects, that goes to `problems` and the rest is not read."""
    manifests: list[Manifest] = []
    seen: dict[ObjectRef, Manifest] = {}
    count = 0
    for document in documents:
        for obj, line in _flatten(document):
            count += 1
            if count > limits.max_objects:
                too_many = (
                    f"more than {limits.max_objects:,} objects, the limit for one render: "
                    "split the path into several Syncs"
                )
                problems.add(RenderError(too_many, file=document.source, line=line))
                return manifests
            error = _identity_error(obj)
            if error is not None:
                problems.add(RenderError(error, file=document.source, line=line))
                continue
            manifest = Manifest(obj, document.source, line)
            ref = manifest.ref
            first = seen.get(ref)
            # Objects named by the server (generateName) are distinct however alike.
            if first is not None and not _generated(obj):
                problems.add(
                    RenderError(
                        f"defined twice: also at {first.where}",
                        file=manifest.source,
                        line=manifest.line,
                        ref=ref,
                    )
                )
                continue
            seen[ref] = manifest
            manifests.append(manifest)
    return manifests


def _flatten(document: Document) -> Iterable[tuple[Any, int | None]]:
    """A `List` (kind `List` or `<Kind>List` with `items`) as its items, like kubectl."""
    obj = document.obj
    if (
        isinstance(obj, dict)
        and str(obj.get("kind", "")).endswith("List")
        and isinstance(obj.get("items"), list)
    ):
        items: list[Any] = obj["items"]
        lines = document.item_lines
        for index, item in enumerate(items):
            yield item, lines[index] if index < len(lines) else document.line
        return
    yield obj, document.line


def _identity_error(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"the document is {_a(obj)}, not an object: {_NEEDS}"
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return f"metadata is {_a(meta)}, not a mapping{_known(obj, {})}"
    meta = meta or {}
    missing = [
        label
        for label, value in (
            ("apiVersion", obj.get("apiVersion")),
            ("kind", obj.get("kind")),
            ("metadata.name", meta.get("name") or meta.get("generateName")),
        )
        if not isinstance(value, str) or not value
    ]
    if missing:
        return f"missing {', '.join(missing)}{_known(obj, meta)}: {_NEEDS}"
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        return f"metadata.namespace is {_a(namespace)}, not a string{_known(obj, meta)}"
    return None


def _generated(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return not meta.get("name") and bool(meta.get("generateName"))


def _known(obj: dict[str, Any], meta: dict[str, Any]) -> str:
    """What of the object's identity is known, for a message about the rest."""
    known = [
        f"{label} {value}"
        for label, value in (
            ("apiVersion", obj.get("apiVersion")),
            ("kind", obj.get("kind")),
            ("namespace", meta.get("namespace")),
            ("name", meta.get("name")),
        )
        if isinstance(value, str) and value
    ]
    return f" (object with {', '.join(known)})" if known else ""


def _a(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"
