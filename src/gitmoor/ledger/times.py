"""Times as users write them on the command line and in retention settings.

- an age: `90s`, `30m`, `12h`, `7d`, `2w`, or a sum such as `1d12h` (no months: they vary);
- a moment: `now`, an age meaning that long ago (`7d`), or ISO-8601 (`2026-11-05`,
  `2026-11-05T14:30`, `2026-11-05T14:30:00+01:00`, `...Z`). A date or time without a zone is
  taken as UTC, the zone the ledger keeps; write the offset for any other.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_age(text: str) -> timedelta:
    """A span such as `7d` or `1d12h`; raises ValueError naming the text otherwise."""
    value = text.strip()
    pos = 0
    seconds = 0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"invalid age {text!r}: expected e.g. 90s, 30m, 12h, 7d, 2w or 1d12h")
    return timedelta(seconds=seconds)


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """The moment `text` names, aware and in UTC; raises ValueError naming the text otherwise."""
    value = text.strip()
    current = (now or datetime.now(UTC)).astimezone(UTC)
    if value.lower() == "now":
        return current
    if _PART.match(value):
        try:
            return current - parse_age(value)
        except ValueError:
            pass  # e.g. `2026-...` starts with digits too: try ISO-8601 next
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: expected ISO-8601 (2026-11-05, 2026-11-05T14:30Z) "
            "or an age such as 12h or 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
