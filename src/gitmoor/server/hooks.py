r"""`POST /hooks/{github,gitlab,gitea,generic}`: authenticated push webhooks.

A request goes through, in order: size limit (413) and body timeout (408), the provider's
signature (401, nothing else happens), replay check (200 "duplicate" for a delivery id already
handled, 409 "replay" for signed content already handled under another id: see
`gitmoor.server.replay`), payload reading (400, or 200 "ignored" for a ping or another event),
then `on_push`, which maps the push to GitSources and only enqueues them (202 with how many
matched). Every answer is JSON and counted in `gitmoor_webhook_receipts_total{provider,result}`.

The generic form, for CI jobs ("image built, tests green, revision X"): a JSON body
`{"url": REPO, "ref": "refs/heads/B" | "refs/tags/T", "revision": SHA}` (ref and revision
optional), signed as `gitmoor.notify.signature` describes. With curl and openssl:

    # recipe: generic-webhook
    body=$(printf '{"url":"%s","ref":"%s","revision":"%s"}' "$REPO_URL" "$REF" "$SHA")
    ts=$(date +%s)
    sig=$(printf '%s.%s' "$ts" "$body" \
      | openssl dgst -sha256 -hmac "$GITMOOR_WEBHOOK_KEY" -r | cut -d' ' -f1)
    curl -fsS -X POST "$GITMOOR_URL/hooks/generic" \
      -H 'Content-Type: application/json' \
      -H "X-Gitmoor-Timestamp: $ts" \
      -H "X-Gitmoor-Signature: sha256=$sig" \
      --data-binary "$body"
    # end recipe

The key is on openssl's command line, visible to other processes of the CI runner; runners are
normally single-job containers, where that is acceptable.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import structlog
from aiohttp import web

from gitmoor import metrics
from gitmoor.model.notifications import ImagePushEvent, Provider, PushEvent
from gitmoor.notify import signature
from gitmoor.notify.signature import Check
from gitmoor.server import payloads
from gitmoor.server.replay import ReplayGuard, Seen, signed_digest
from gitmoor.server.verify import verify_request

log = structlog.get_logger("gitmoor.hooks")

MAX_BODY = 1024 * 1024  # GitHub caps its payloads at 25 MB, but pushes are far smaller
BODY_TIMEOUT = 30.0  # a sender's body arrives in far less; a slow one only holds a connection
_CHUNK = 64 * 1024

SecretsFor: TypeAlias = Callable[[Provider], Awaitable[Sequence[bytes]]]
"""The secrets a provider's requests may be signed with (several during a rotation)."""

OnPush: TypeAlias = Callable[[PushEvent], int | Awaitable[int]]
"""Enqueue the GitSources a push concerns; returns how many. Must not fetch or apply itself."""

OnImagePush: TypeAlias = Callable[[ImagePushEvent], int]
"""Enqueue the ImageRepositories an image push concerns; returns how many."""


class Result(enum.StrEnum):
    """The `result` label of `gitmoor_webhook_receipts_total`."""

    ACCEPTED = "accepted"  # verified push, at least one GitSource enqueued
    UNMATCHED = "unmatched"  # verified push that concerns no GitSource
    IGNORED = "ignored"  # verified, but not a push (a ping, another event)
    DUPLICATE = "duplicate"  # a delivery id already handled within the replay window
    REPLAY = "replay"  # signed content already handled within the window, under another id
    UNAUTHORIZED = "unauthorized"  # signature or token missing, wrong or stale
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"  # the body did not arrive within the body timeout
    BAD_REQUEST = "bad_request"  # authentic, but not a payload gitmoor can read
    ERROR = "error"  # secrets unreadable or on_push failed: the sender should retry


def secret_values(data: Mapping[str, bytes], provider: Provider) -> list[bytes]:
    """The secrets of `provider` in a webhook Secret's (decoded) data.

    The Secret has one key per provider (`github`, `gitlab`, `gitea`, `generic`); a value may
    hold several secrets, one per line, while one is being rotated. Surrounding whitespace is
    dropped: a trailing newline from `kubectl create secret --from-file` is not part of it.
    """
    raw = data.get(provider.value, b"")
    return [line.strip() for line in raw.splitlines() if line.strip()]


class CachedSecrets:
    """Wraps a `SecretsFor` that reads the cluster, so unauthenticated requests cannot turn
    into one API call each. Failures are not cached."""

    def __init__(
        self,
        fetch: SecretsFor,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[Provider, tuple[float, Sequence[bytes]]] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, provider: Provider) -> Sequence[bytes]:
        async with self._lock:
            hit = self._cache.get(provider)
            if hit is not None and self._clock() - hit[0] < self._ttl:
                return hit[1]
            keys = await self._fetch(provider)
            self._cache[provider] = (self._clock(), keys)
            return keys


@dataclass(frozen=True)
class _Answer:
    result: Result
    status: int
    body: dict[str, Any]


_REFUSED = {
    Check.MISSING: "signature missing",
    Check.MALFORMED: "signature or timestamp malformed",
    Check.MISMATCH: "signature invalid",
    Check.STALE: f"timestamp more than {signature.MAX_SKEW:.0f}s from the server's clock",
}


class HookReceiver:
    """The webhook routes, given where secrets come from and what a push does."""

    def __init__(
        self,
        secrets_for: SecretsFor,
        on_push: OnPush,
        *,
        max_body: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
        max_skew: float = signature.MAX_SKEW,
        replay: ReplayGuard | None = None,
        clock: Callable[[], float] = time.time,
        on_image_push: OnImagePush | None = None,
    ) -> None:
        self._secrets_for = secrets_for
        self._on_push = on_push
        self._on_image_push = on_image_push
        self._max_body = max_body
        self._body_timeout = body_timeout
        self._max_skew = max_skew
        self._replay = replay or ReplayGuard()
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{provider}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            provider = Provider(request.match_info["provider"])
        except ValueError:
            # Not counted: the label would take whatever a client puts in the path.
            return web.json_response(
                {"error": "unknown provider", "providers": [p.value for p in Provider]},
                status=404,
            )
        answer = await self._receive(provider, request)
        metrics.WEBHOOK_RECEIPTS.labels(provider.value, answer.result.value).inc()
        return web.json_response(answer.body, status=answer.status)

    async def _receive(self, provider: Provider, request: web.Request) -> _Answer:
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await _read_limited(request, self._max_body)
        except TimeoutError:
            log.warning("webhook refused", provider=provider.value, reason="body too slow")
            return _Answer(
                Result.TIMEOUT,
                408,
                {"error": f"body not received within {self._body_timeout:g}s"},
            )
        if body is None:
            log.warning("webhook refused", provider=provider.value, reason="body too large")
            return _Answer(
                Result.TOO_LARGE,
                413,
                {"error": f"body larger than {self._max_body} bytes"},
            )
        try:
            keys = await self._secrets_for(provider)
        except Exception as problem:  # any failure to read secrets is a 503
            log.error("webhook secrets unavailable", provider=provider.value, error=str(problem))
            return _Answer(Result.ERROR, 503, {"error": "webhook secrets unavailable; retry"})
        check = verify_request(
            provider,
            keys,
            body,
            request.headers,
            now=self._clock(),
            max_skew=self._max_skew,
        )
        if check is not Check.OK:
            log.warning(
                "webhook refused",
                provider=provider.value,
                reason=_REFUSED.get(check, check.value),
                remote=request.remote,
            )
            return _Answer(Result.UNAUTHORIZED, 401, {"error": _REFUSED.get(check, "refused")})
        delivery = payloads.delivery_id(provider, request.headers, body)
        content = signed_digest(provider, request.headers, body)
        match self._replay.claim(provider, delivery, content):
            case Seen.DUPLICATE:
                return _Answer(Result.DUPLICATE, 200, {"status": "duplicate", "delivery": delivery})
            case Seen.REPLAY:
                log.warning(
                    "webhook refused",
                    provider=provider.value,
                    reason="replay",
                    delivery=delivery,
                    remote=request.remote,
                )
                return _Answer(
                    Result.REPLAY,
                    409,
                    {
                        "status": "replay",
                        "error": "this signed body was already delivered under another id",
                        "delivery": delivery,
                    },
                )
        try:
            parsed = payloads.parse(provider, request.headers, body)
        except payloads.PayloadError as problem:
            return _Answer(Result.BAD_REQUEST, 400, {"error": str(problem)})
        if isinstance(parsed, payloads.Ignored):
            return _Answer(Result.IGNORED, 200, {"status": "ignored", "reason": parsed.reason})
        if isinstance(parsed, ImagePushEvent):
            return self._image_push(parsed, provider, delivery, content)
        try:
            outcome = self._on_push(parsed)
            matched = await outcome if inspect.isawaitable(outcome) else outcome
        except Exception:
            self._replay.release(provider, delivery, content)
            log.exception("webhook push handling failed", provider=provider.value)
            return _Answer(Result.ERROR, 500, {"error": "internal error; retry"})
        log.info(
            "webhook push",
            provider=provider.value,
            delivery=delivery,
            ref=parsed.ref,
            revision=parsed.revision,
            matched=matched,
        )
        return _Answer(
            Result.ACCEPTED if matched else Result.UNMATCHED,
            202,
            {
                "status": "accepted",
                "matched": matched,
                "ref": parsed.ref,
                "revision": parsed.revision,
                "delivery": delivery,
            },
        )

    def _image_push(
        self, event: ImagePushEvent, provider: Provider, delivery: str, content: str
    ) -> _Answer:
        if self._on_image_push is None:
            return _Answer(Result.IGNORED, 200, {"status": "ignored", "reason": "no images here"})
        try:
            matched = self._on_image_push(event)
        except Exception:
            self._replay.release(provider, delivery, content)
            log.exception("webhook image push handling failed")
            return _Answer(Result.ERROR, 500, {"error": "internal error; retry"})
        log.info("webhook image push", images=list(event.images), matched=matched)
        return _Answer(
            Result.ACCEPTED if matched else Result.UNMATCHED,
            202,
            {"status": "accepted", "matched": matched, "delivery": delivery},
        )


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (without reading the rest)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
