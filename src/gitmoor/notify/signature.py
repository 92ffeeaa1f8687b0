"""gitmoor's HMAC scheme, used both ways: CI jobs sign requests to `/hooks/generic`, and the
webhook sink signs the notifications it sends.

    X-Gitmoor-Timestamp: <unix seconds>
    X-Gitmoor-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>." + raw body)>

The timestamp is inside the MAC so a captured request stops verifying after `MAX_SKEW`; the
receiver compares in constant time and accepts any of several keys (rotation). With a shell:

    ts=$(date +%s)
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$KEY" -r | cut -d' ' -f1)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Gitmoor-Signature"
TIMESTAMP_HEADER = "X-Gitmoor-Timestamp"
DELIVERY_HEADER = "X-Gitmoor-Delivery"
EVENT_HEADER = "X-Gitmoor-Event"
PREFIX = "sha256="
MAX_SKEW = 300.0  # seconds either way


class Check(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"  # no signature or timestamp header
    MALFORMED = "malformed"  # headers present but unreadable
    STALE = "stale"  # timestamp further than the allowed skew from now
    MISMATCH = "mismatch"  # no key gives this signature


def mac(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(key: bytes, body: bytes, *, timestamp: int) -> dict[str, str]:
    """The two headers that authenticate `body` as sent at `timestamp`."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: PREFIX + mac(key, timestamp, body),
    }


def verify(
    keys: Iterable[bytes],
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    now: float,
    max_skew: float = MAX_SKEW,
) -> Check:
    if not signature or not timestamp:
        return Check.MISSING
    if not signature.startswith(PREFIX):
        return Check.MALFORMED
    try:
        stamp = int(timestamp.strip())
    except ValueError:
        return Check.MALFORMED
    if abs(now - stamp) > max_skew:
        return Check.STALE
    given = signature[len(PREFIX) :].strip().lower()
    for key in keys:
        if hmac.compare_digest(mac(key, stamp, body).encode(), given.encode()):
            return Check.OK
    return Check.MISMATCH
