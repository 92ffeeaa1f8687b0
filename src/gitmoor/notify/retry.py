"""When to try a notification again: exponential backoff, a bounded number of attempts, and the
receiver's `Retry-After` honoured up to the cap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first one included
    base: float = 1.0  # seconds before the second attempt
    factor: float = 2.0
    cap: float = 60.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1-based)."""
        wait = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        if retry_after is not None:
            wait = min(self.cap, max(wait, retry_after))
        return wait

    def gives_up_after(self, failures: int) -> bool:
        return failures >= self.attempts


def retryable(status: int) -> bool:
    """Statuses that say "not now" rather than "never": timeouts, throttling, server errors."""
    return status in (408, 425, 429) or status >= 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
