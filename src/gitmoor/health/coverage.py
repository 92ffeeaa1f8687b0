"""The rule library's coverage as a Markdown table, for the README (a unit test keeps the two in
step): `python -m gitmoor.health.coverage` prints it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from gitmoor.health.exprs import LIBRARY, ExprRule


def markdown() -> str:
    """One row per file of the library: its API groups and the kinds with a rule of their own
    (`every kind` for a group-wide rule, versions named where rules differ by version)."""
    by_file: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rule in LIBRARY.values():
        for variant in rule.versions():
            groups = by_file[_file(variant)]
            groups[variant.group].add(_kind(variant, rule))
    lines = ["| file | API group | kinds |", "| --- | --- | --- |"]
    for file in sorted(by_file):
        for group in sorted(by_file[file]):
            kinds = ", ".join(sorted(by_file[file][group], key=lambda k: (k == "every kind", k)))
            lines.append(f"| {file} | `{group}` | {kinds} |")
    return "\n".join(lines) + "\n"


def _file(rule: ExprRule) -> str:
    return Path(rule.origin.split("[")[0]).stem


def _kind(variant: ExprRule, rule: ExprRule) -> str:
    name = "every kind" if variant.kind == "*" else variant.kind
    if len(rule.versions()) > 1:
        return f"{name} ({variant.version})"
    return name


if __name__ == "__main__":
    print(markdown(), end="")
