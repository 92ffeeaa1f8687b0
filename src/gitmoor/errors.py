"""One exception tree. The type of an error decides what the agent does next:

- `TransientError` (network, throttling, a server hiccup): retry with backoff, after `retry_after`
  seconds when the cause says so;
- `PermanentError` (an invalid manifest, a refused request): stop retrying the same input and
  report it, until the input changes.
"""

from __future__ import annotations

from gitmoor.model import ObjectRef


class GitmoorError(Exception):
    """Base of every error gitmoor raises on purpose."""


class TransientError(GitmoorError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(GitmoorError):
    pass


class KubeApiError(GitmoorError):
    """The API server answered a request with an error status."""

    def __init__(self, message: str, *, ref: ObjectRef | None, status: int, reason: str) -> None:
        super().__init__(message)
        self.ref = ref
        self.status = status
        self.reason = reason


class KubeTransientError(KubeApiError, TransientError):
    def __init__(
        self,
        message: str,
        *,
        ref: ObjectRef | None,
        status: int,
        reason: str,
        retry_after: float | None = None,
    ) -> None:
        KubeApiError.__init__(self, message, ref=ref, status=status, reason=reason)
        self.retry_after = retry_after


class KubePermanentError(KubeApiError, PermanentError):
    pass


class KubeNotFoundError(KubePermanentError):
    pass


class UnknownKindError(PermanentError):
    """No API resource serves this apiVersion and kind (e.g. its CRD is not installed)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(
            f"the API server serves no kind {kind} in {api_version}: is its CRD installed?"
        )
        self.api_version = api_version
        self.kind = kind


class ConnectionFailedError(TransientError):
    """The API server could not be reached at all."""
