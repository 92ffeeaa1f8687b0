"""Sessions and forged-request protection for the UI.

- A session is a random id in an HttpOnly, SameSite=Strict cookie, mapped in memory to the
  principal it stands for: the token a person signed in with stays on the server. Sessions end
  after `IDLE` without use, at `LIFETIME`, on sign-out, and when the agent restarts.
- Every action (POST) made with ambient credentials (the session cookie, or a proxy's headers)
  must carry `X-Gitmoor-CSRF`: an HMAC of the session (or the proxy's user) under a key of this
  process, which only a page of the UI's own origin can read. The request's `Origin` must be the
  UI's own, and `Sec-Fetch-Site`, where the browser sends it, must not say cross-site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gitmoor.server.ui.gates import Principal

COOKIE = "gitmoor-ui"
CSRF_HEADER = "X-Gitmoor-CSRF"
IDLE = 8 * 3600.0
LIFETIME = 24 * 3600.0
_CAPACITY = 10_000


@dataclass
class Session:
    principal: Principal
    started: float
    used: float


class Sessions:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._key = secrets.token_bytes(32)

    def start(self, principal: Principal) -> str:
        now = self._clock()
        self._expire(now)
        if len(self._sessions) >= _CAPACITY:
            oldest = min(self._sessions, key=lambda s: self._sessions[s].used)
            del self._sessions[oldest]
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(principal, now, now)
        return session_id

    def get(self, session_id: str | None) -> Principal | None:
        if not session_id:
            return None
        found = self._sessions.get(session_id)
        now = self._clock()
        if found is None:
            return None
        if now - found.used > IDLE or now - found.started > LIFETIME:
            del self._sessions[session_id]
            return None
        found.used = now
        return found.principal

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def csrf(self, subject: str) -> str:
        """The token actions must carry for `subject` (a session id, or a proxy's user key)."""
        return hmac.new(self._key, subject.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, subject: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf(subject), str(given))

    def _expire(self, now: float) -> None:
        for session_id in [
            s
            for s, v in self._sessions.items()
            if now - v.used > IDLE or now - v.started > LIFETIME
        ]:
            del self._sessions[session_id]


def same_origin(headers: Mapping[str, str], host: str, scheme: str) -> str | None:
    """Why a state-changing request does not come from the UI's own pages, or None when it
    does: its `Origin` must be present and be `scheme://host`, and `Sec-Fetch-Site` (when
    sent) must not be `cross-site`."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site!r}"
    origin = headers.get("Origin")
    if not origin or origin == "null":
        return "the request has no Origin"
    parts = urlsplit(origin)
    if (parts.scheme, parts.netloc.lower()) != (scheme, host.lower()):
        return f"Origin {origin!r} is not this UI's"
    return None
