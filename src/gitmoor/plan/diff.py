"""Comparing what a server-side dry run returns with what is live.

Both sides come from the same API server, so defaulting and admission already happened on the
dry-run side; what remains are fields that change on every write and say nothing about the
desired state. Dropping exactly those makes the comparison detect every change of content.
"""

from __future__ import annotations

from typing import Any

_VOLATILE_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"}
)


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in _VOLATILE_METADATA}
    return out


def changed_paths(live: Any, desired: Any, prefix: str = "", limit: int = 20) -> list[str]:
    """Field paths (`spec.replicas`, `data.key`, `spec.template.spec.containers[0].image`) where
    the two differ. Values are never included, so the result is safe to log for Secrets too."""
    found: list[str] = []
    _walk(live, desired, prefix, found, limit)
    return found


def _walk(a: Any, b: Any, path: str, found: list[str], limit: int) -> None:
    if len(found) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key), found, limit)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", found, limit)
        return
    found.append(path or "<root>")


def differs(live: dict[str, Any], dry_run: dict[str, Any]) -> list[str]:
    """The changed paths between a live object and its dry-run result, after normalising."""
    return changed_paths(normalise(live), normalise(dry_run))


def project(shape: Any, obj: Any) -> Any:
    """The part of `obj` that `shape` (a manifest) speaks about.

    Maps keep the keys of `shape`; lists of named maps (containers, ports, env) are matched by
    `name`, so items others add (an injected sidecar) are not part of it; other lists are taken
    whole. `status` is never part of it. Comparing projections of the same shape tells whether
    anything the manifest sets has changed, whoever else writes to the object.
    """
    if isinstance(shape, dict):
        if not isinstance(obj, dict):
            return obj
        return {k: project(v, obj.get(k)) for k, v in shape.items() if k != "status" and k in obj}
    if isinstance(shape, list) and isinstance(obj, list):
        if shape and all(isinstance(i, dict) and "name" in i for i in shape):
            by_name = {i.get("name"): i for i in obj if isinstance(i, dict)}
            return [project(i, by_name.get(i["name"])) for i in shape]
        return obj
    return obj
