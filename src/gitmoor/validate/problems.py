"""What validation finds: one `Problem` per mistake, with the file and line to fix it at."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


class Severity(enum.StrEnum):
    ERROR = "error"  # the agent would refuse or fail on it: `gitmoor validate` exits 1
    WARNING = "warning"  # suspicious, but may be right when something outside the paths helps


@dataclass(frozen=True, order=True)
class Problem:
    """One problem, read `file:line: Kind/ns/name: field: message`.

    `file` is relative to the repository root (so CI annotations land on the right file); `line`
    is 1-based, None when unknown; `subject` and `field` are empty when they do not apply.
    `check` names the rule that found it (`yaml`, `kind`, `schema`, `duplicate`, `namespace`,
    `gitmoor`, ...), for scripts that filter.
    """

    file: str
    line: int | None
    subject: str
    field: str
    message: str
    severity: Severity = Severity.ERROR
    check: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        message = f"warning: {self.message}" if self.severity is Severity.WARNING else self.message
        return ": ".join(p for p in (self.where, self.subject, self.field, message) if p)

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "file": self.file,
            "line": self.line,
            "object": self.subject,
            "field": self.field,
            "message": self.message,
            "severity": self.severity.value,
            "check": self.check,
        }


def sort_key(problem: Problem) -> tuple[str, int, str, str, str]:
    """By file, then line (unknown lines first: they concern the whole file), then the rest."""
    return (problem.file, problem.line or 0, problem.subject, problem.field, problem.message)


def field_path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """`spec.containers[0].image` from ('spec', 'containers', 0, 'image')."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part) is None:
            out += f"[{part}]"  # a label or annotation key such as gitmoor.io/order
        else:
            out += f".{part}" if out else part
    return out


def parse_field_path(text: str) -> tuple[str | int, ...]:
    """The inverse of `field_path`."""
    parts: list[str | int] = []
    for match in _SEGMENT.finditer(text):
        name, index = match.group(1), match.group(2)
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index) if index.isdigit() else index)
    return tuple(parts)
