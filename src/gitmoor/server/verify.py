"""Is a webhook request from who it claims? One check per provider, each constant-time and
accepting any of several secrets (so a secret can be rotated without a gap).

Every check returns a `Check` and never raises on malformed input: what an unauthenticated
client sends is data, not a reason to fail.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from gitmoor.model.notifications import Provider
from gitmoor.notify import signature
from gitmoor.notify.signature import Check

GITHUB_SIGNATURE = "X-Hub-Signature-256"
GITLAB_TOKEN = "X-Gitlab-Token"  # noqa: S105 - a header name
# Forgejo, Gitea's fork, sends the same scheme under its own name too.
GITEA_SIGNATURES = ("X-Gitea-Signature", "X-Forgejo-Signature")


def _hex_hmac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def _any_hmac(keys: Sequence[bytes], body: bytes, given: str) -> Check:
    wanted = given.strip().lower().encode("utf-8", "replace")
    for key in keys:
        if hmac.compare_digest(_hex_hmac(key, body), wanted):
            return Check.OK
    return Check.MISMATCH


def verify_github(keys: Sequence[bytes], body: bytes, header: str | None) -> Check:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`."""
    if not header:
        return Check.MISSING
    if not header.startswith("sha256="):
        return Check.MALFORMED
    return _any_hmac(keys, body, header[len("sha256=") :])


def verify_gitlab(keys: Sequence[bytes], header: str | None) -> Check:
    """`X-Gitlab-Token: <secret token>`, compared as it is."""
    if not header:
        return Check.MISSING
    given = header.encode("utf-8", "replace")
    for key in keys:
        if hmac.compare_digest(key, given):
            return Check.OK
    return Check.MISMATCH


def verify_gitea(keys: Sequence[bytes], body: bytes, header: str | None) -> Check:
    """`X-Gitea-Signature: <hex HMAC-SHA256(secret, body)>`, no prefix."""
    if not header:
        return Check.MISSING
    return _any_hmac(keys, body, header)


def verify_bearer(keys: Sequence[bytes], header: str | None) -> Check:
    """`Authorization: Bearer <secret>`: what a registry's notification endpoint sends as a
    static header (docker-registry's `notifications.endpoints[].headers`, Harbor's auth
    header), compared constant-time."""
    if not header:
        return Check.MISSING
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Check.MALFORMED
    given = token.strip().encode("utf-8", "replace")
    for key in keys:
        if hmac.compare_digest(key, given):
            return Check.OK
    return Check.MISMATCH


def verify_request(
    provider: Provider,
    keys: Sequence[bytes],
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    max_skew: float = signature.MAX_SKEW,
) -> Check:
    """Check a request by its provider's scheme. `headers` must look names up
    case-insensitively (aiohttp's do)."""
    if not keys:
        return Check.MISMATCH  # nothing configured: nobody can be verified
    match provider:
        case Provider.GITHUB:
            return verify_github(keys, body, headers.get(GITHUB_SIGNATURE))
        case Provider.GITLAB:
            return verify_gitlab(keys, headers.get(GITLAB_TOKEN))
        case Provider.GITEA:
            given = next((headers[h] for h in GITEA_SIGNATURES if headers.get(h)), None)
            return verify_gitea(keys, body, given)
        case Provider.REGISTRY:
            return verify_bearer(keys, headers.get("Authorization"))
        case Provider.GENERIC:
            return signature.verify(
                keys,
                body,
                signature=headers.get(signature.SIGNATURE_HEADER),
                timestamp=headers.get(signature.TIMESTAMP_HEADER),
                now=now,
                max_skew=max_skew,
            )
