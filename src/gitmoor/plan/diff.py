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
