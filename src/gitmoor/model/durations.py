"""Go-style durations (`30s`, `1m30s`, `2h`), the form Kubernetes users already write."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError naming the text when it is not a duration."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style text for a whole number of seconds (sub-seconds as ms)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
