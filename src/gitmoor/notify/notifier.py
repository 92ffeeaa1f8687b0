"""`Notifier`: tells a Sync's sinks what happened, without ever holding up the reconcile.

`notify(event)` decides what is news (sinks that want the kind, minus repeats) and queues it; it
never awaits, raises or does I/O. Worker tasks then read each sink's Secret, build the request
and send it, retrying with backoff a bounded number of times. A delivery that finally fails is
logged and counted, and forgotten by the deduplication so the next repeat is tried again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

import aiohttp
import structlog

from gitmoor import metrics
from gitmoor.errors import PermanentError
from gitmoor.model.notifications import NotificationEvent, NotificationSink
from gitmoor.notify import sinks
from gitmoor.notify.dedup import DEDUP_WINDOW, Deduplicator
from gitmoor.notify.errors import DeliveryFailedError, DeliveryRefusedError
from gitmoor.notify.retry import RetryPolicy, parse_retry_after, retryable

log = structlog.get_logger("gitmoor.notify")

ReadSecret: TypeAlias = Callable[[str, str], Awaitable[Mapping[str, bytes]]]
"""`(namespace, name)` -> the Secret's data, base64-decoded. Raise a TransientError to have the
delivery retried, a PermanentError (e.g. the Secret does not exist) to give it up."""


def sink_key(sink: NotificationSink) -> str:
    """Identity of a sink for deduplication: the same sink configured again is the same."""
    return f"{sink.type}|{sink.url or ''}|{sink.secret_ref.name}|{sink.context or ''}"


@dataclass(frozen=True)
class _Delivery:
    sink: NotificationSink
    event: NotificationEvent
    id: str  # the same on every attempt, so a receiver can drop our retries of a success


class Notifier:
    def __init__(
        self,
        read_secret: ReadSecret,
        *,
        retry: RetryPolicy | None = None,
        dedup_window: float = DEDUP_WINDOW,
        workers: int = 4,
        queue_size: int = 1000,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_secret = read_secret
        self._retry = retry or RetryPolicy()
        self._dedup = Deduplicator(dedup_window, clock=clock)
        self._workers = workers
        self._timeout = timeout
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            # Our own pool: a hanging receiver must not starve the Kubernetes client's.
            connector=aiohttp.TCPConnector(limit=self._workers * 2),
        )
        self._tasks = [
            asyncio.create_task(self._work(), name=f"gitmoor-notify-{i}")
            for i in range(self._workers)
        ]

    async def close(self, *, grace: float = 5.0) -> None:
        """Give queued deliveries `grace` seconds, then stop. Undelivered ones are dropped."""
        if self._tasks:
            try:
                await asyncio.wait_for(self._queue.join(), grace)
            except TimeoutError:
                log.warning("notifications left undelivered", queued=self._queue.qsize())
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Notifier:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def join(self) -> None:
        """Wait until every queued delivery has been sent or given up."""
        await self._queue.join()

    # -- the caller's side ---------------------------------------------------------------------
    def notify(self, event: NotificationEvent) -> None:
        """Queue `event` for its sinks. Returns at once and never raises."""
        try:
            self._enqueue(event)
        except Exception:  # a notification must never fail the reconcile
            log.exception("notification not queued", sync=event.subject, kind=event.kind.value)

    def _enqueue(self, event: NotificationEvent) -> None:
        for sink in event.sinks:
            if not sink.wants(event.kind):
                continue
            if not self._dedup.admit(sink_key(sink), event):
                metrics.NOTIFICATIONS.labels(sink.type, "duplicate").inc()
                continue
            try:
                self._queue.put_nowait(_Delivery(sink, event, uuid.uuid4().hex))
            except asyncio.QueueFull:
                self._dedup.forget(sink_key(sink), event)
                metrics.NOTIFICATIONS.labels(sink.type, "dropped").inc()
                log.warning(
                    "notification dropped: queue full",
                    sync=event.subject,
                    kind=event.kind.value,
                    sink=sink.type,
                )

    # -- the workers' side ---------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            except Exception:  # one bad delivery must not stop the worker
                log.exception("notification delivery crashed", sync=delivery.event.subject)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        sink, event = delivery.sink, delivery.event
        fields = {"sync": event.subject, "kind": event.kind.value, "sink": sink.type}
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                secret = await self._read_secret(event.namespace, sink.secret_ref.name)
                request = sinks.build(sink, event, secret, delivery=delivery.id, now=time.time())
                await self._send(request, sink, event)
            except PermanentError as problem:
                self._given_up(delivery, str(problem), fields)
                return
            except Exception as problem:  # anything else: retry
                failures += 1
                if isinstance(problem, DeliveryFailedError):
                    retry_after = problem.retry_after
                if self._retry.gives_up_after(failures):
                    self._given_up(delivery, str(problem), fields)
                    return
                wait = self._retry.delay(failures, retry_after)
                log.info(
                    "notification retry", error=str(problem), attempt=failures, wait=wait, **fields
                )
                await asyncio.sleep(wait)
                continue
            metrics.NOTIFICATIONS.labels(sink.type, "sent").inc()
            log.info("notification sent", revision=event.revision, attempts=failures + 1, **fields)
            return

    def _given_up(self, delivery: _Delivery, error: str, fields: dict[str, str]) -> None:
        self._dedup.forget(sink_key(delivery.sink), delivery.event)
        metrics.NOTIFICATIONS.labels(delivery.sink.type, "failed").inc()
        log.warning("notification failed", error=error, **fields)

    async def _send(
        self, request: sinks.Outgoing, sink: NotificationSink, event: NotificationEvent
    ) -> None:
        session = self._session
        if session is None:
            raise DeliveryFailedError(
                "the notifier is not started", sink=sink.type, subject=event.subject
            )
        try:
            # No redirects: a token in our headers must reach only the host it was set for.
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                allow_redirects=False,
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as problem:
            # Only the class: aiohttp's messages may repeat the URL, which can be a credential.
            raise DeliveryFailedError(
                f"could not reach {request.target}: {type(problem).__name__}",
                sink=sink.type,
                subject=event.subject,
            ) from None
        message = f"{request.target} answered {status}"
        if retryable(status):
            raise DeliveryFailedError(
                message,
                sink=sink.type,
                subject=event.subject,
                status=status,
                retry_after=retry_after,
            )
        raise DeliveryRefusedError(message, sink=sink.type, subject=event.subject, status=status)
