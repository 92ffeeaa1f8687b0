"""dependsOn between Syncs: cycles are found before anything waits on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Key = tuple[str, str]  # (namespace, name)


def find_cycle(start: Key, edges: Mapping[Key, Sequence[Key]]) -> list[Key] | None:
    """A dependency cycle through `start` (first and last element equal), or None."""
    path: list[Key] = []
    on_path: set[Key] = set()
    done: set[Key] = set()

    def visit(node: Key) -> list[Key] | None:
        if node in on_path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        on_path.add(node)
        for nxt in edges.get(node, ()):
            cycle = visit(nxt)
            if cycle is not None:
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    cycle = visit(start)
    return cycle if cycle is not None and start in cycle else None


def describe(cycle: Sequence[Key]) -> str:
    return " -> ".join(f"{ns}/{name}" for ns, name in cycle)
