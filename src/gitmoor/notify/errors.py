"""What can go wrong delivering a notification. None of these reaches a reconcile: the notifier
logs and counts them. Messages name the sink by type and host only, since a sink's full URL may
be a credential (Slack's is)."""

from __future__ import annotations

from gitmoor.errors import GitmoorError, PermanentError, TransientError


class NotifyError(GitmoorError):
    def __init__(self, message: str, *, sink: str, subject: str) -> None:
        super().__init__(f"{subject}: {sink} notification: {message}")
        self.sink = sink
        self.subject = subject


class SinkConfigError(NotifyError, PermanentError):
    """The sink cannot be used as configured (a key missing from its Secret, a source URL that
    names no GitHub repository): retrying will not help until the configuration changes."""


class DeliveryRefusedError(NotifyError, PermanentError):
    """The receiver refused the request in a way a retry will not change (most 4xx)."""

    def __init__(self, message: str, *, sink: str, subject: str, status: int) -> None:
        super().__init__(message, sink=sink, subject=subject)
        self.status = status


class DeliveryFailedError(NotifyError, TransientError):
    """The receiver could not be reached, timed out, or answered 408/429/5xx: retried."""

    def __init__(
        self,
        message: str,
        *,
        sink: str,
        subject: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        NotifyError.__init__(self, message, sink=sink, subject=subject)
        self.status = status
        self.retry_after = retry_after
