"""One bounded GET for the repositories gitmoor reads over HTTPS (chart repositories, OCI
registries): a size limit enforced while reading, a total timeout, the system's trust store or a
Secret's CA bundle alone, and every failure as one of four plain problems.

The problems carry no credentials and no query strings (a signed URL's query is a credential):
each caller words them for its own resource (`gitmoor.sources.charts`, `gitmoor.sources.oci`).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # empty unless the status is 200


class HttpProblem(Exception):
    """A GET that gave no usable answer. `shown` is the URL as it may be printed."""

    def __init__(self, shown: str, message: str) -> None:
        super().__init__(f"{shown}: {message}")
        self.shown = shown


class Unreachable(HttpProblem):
    """No answer: connection refused, reset, DNS, or the timeout."""


class Untrusted(HttpProblem):
    """The server's certificate did not verify."""


class Refused(HttpProblem):
    """An answer outside the caller's expected statuses."""

    def __init__(self, shown: str, status: int, reason: str, retry_after: float | None) -> None:
        Exception.__init__(self, f"{shown} answered {status} {reason}".rstrip())
        self.shown = shown
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class TooLarge(HttpProblem):
    def __init__(self, shown: str, what: str, limit: int) -> None:
        super().__init__(shown, f"the {what} is larger than {limit} bytes: refused")
        self.limit = limit


async def get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str],
    limit: int,
    timeout: float,
    ca: bytes | None,
    what: str,
    answers: frozenset[int] = frozenset({200}),
) -> Answer:
    """GET `url`; a status in `answers` is returned (with its body only for 200, read up to
    `limit` bytes), anything else raises Refused. aiohttp drops Authorization itself when a
    redirect leaves the origin."""
    where = shown(url)
    try:
        async with session.get(
            url,
            headers=dict(headers),
            ssl=ssl_context(ca),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            status = response.status
            if status not in answers:
                raise Refused(
                    where,
                    status,
                    response.reason or "",
                    retry_after(response.headers.get("Retry-After")),
                )
            if status != 200:
                return Answer(status, response.headers, b"")
            declared = response.content_length
            if declared is not None and declared > limit:
                raise TooLarge(where, what, limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(where, what, limit)
                chunks.append(chunk)
            return Answer(status, response.headers, b"".join(chunks))
    except aiohttp.ClientConnectorCertificateError as err:
        raise Untrusted(
            where, f"the server's certificate did not verify ({err.certificate_error})"
        ) from None
    except TimeoutError:
        raise Unreachable(where, f"no answer within {timeout:g}s") from None
    except (aiohttp.ClientError, OSError) as err:
        raise Unreachable(where, str(err) or type(err).__name__) from None


def shown(url: str) -> str:
    """A URL for messages: no user info, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def next_page(link: str | None, current: str) -> str | None:
    """The next page of a paginated list (`Link: </v2/...?last=x>; rel="next"`)."""
    if not link or 'rel="next"' not in link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    return urljoin(current, target)


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return None


_CONTEXTS: dict[bytes | None, ssl.SSLContext] = {}


def ssl_context(ca: bytes | None) -> ssl.SSLContext:
    """The system's trust store, or the Secret's CA bundle alone when it gives one."""
    context = _CONTEXTS.get(ca)
    if context is None:
        context = ssl.create_default_context()
        if ca is not None:
            context = ssl.create_default_context(cadata=ca.decode("ascii", errors="replace"))
        if len(_CONTEXTS) > 64:
            _CONTEXTS.clear()
        _CONTEXTS[ca] = context
    return context
