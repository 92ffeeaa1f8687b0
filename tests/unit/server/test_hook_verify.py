"""Each provider's request authentication: valid, invalid, missing, expired, rotated secrets."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from multidict import CIMultiDict

from gitmoor.model.notifications import Provider
from gitmoor.notify import signature
from gitmoor.notify.signature import Check
from gitmoor.server.verify import verify_request

BODY = b'{"ref":"refs/heads/main","after":"59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"}'
KEY = b"It's a Secret to Everybody"
OLD_KEY = b"the previous secret"
NOW = 1_763_900_000.0


def _hex(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def check(provider: Provider, headers: dict[str, str], *, keys=(KEY,), body=BODY, now=NOW):
    return verify_request(provider, list(keys), body, CIMultiDict(headers), now=now)


def test_github_signature_matches_githubs_documented_example() -> None:
    # The example from GitHub's webhook documentation: secret, payload and expected header.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    result = verify_request(
        Provider.GITHUB,
        [KEY],
        b"Hello, World!",
        CIMultiDict({"X-Hub-Signature-256": header}),
        now=NOW,
    )
    assert result is Check.OK


def test_github_valid_invalid_missing_and_unprefixed() -> None:
    good = {"X-Hub-Signature-256": "sha256=" + _hex(KEY, BODY)}
    assert check(Provider.GITHUB, good) is Check.OK
    # Header names are case-insensitive, as proxies may change them.
    assert check(Provider.GITHUB, {"x-hub-signature-256": good["X-Hub-Signature-256"]}) is Check.OK
    assert check(Provider.GITHUB, good, body=BODY + b" ") is Check.MISMATCH
    assert check(Provider.GITHUB, good, keys=(b"another",)) is Check.MISMATCH
    assert check(Provider.GITHUB, {}) is Check.MISSING
    assert check(Provider.GITHUB, {"X-Hub-Signature-256": _hex(KEY, BODY)}) is Check.MALFORMED
    # The legacy SHA-1 header alone is not accepted.
    assert check(Provider.GITHUB, {"X-Hub-Signature": "sha1=" + "0" * 40}) is Check.MISSING


def test_any_configured_secret_verifies_during_a_rotation() -> None:
    signed_with_old = {"X-Hub-Signature-256": "sha256=" + _hex(OLD_KEY, BODY)}
    assert check(Provider.GITHUB, signed_with_old, keys=(KEY, OLD_KEY)) is Check.OK
    assert check(Provider.GITHUB, signed_with_old, keys=(KEY,)) is Check.MISMATCH


def test_no_configured_secret_verifies_nothing() -> None:
    good = {"X-Hub-Signature-256": "sha256=" + _hex(KEY, BODY)}
    assert check(Provider.GITHUB, good, keys=()) is Check.MISMATCH
    assert check(Provider.GITLAB, {"X-Gitlab-Token": ""}, keys=()) is Check.MISMATCH


def test_gitlab_token() -> None:
    assert check(Provider.GITLAB, {"X-Gitlab-Token": KEY.decode()}) is Check.OK
    assert check(Provider.GITLAB, {"X-Gitlab-Token": "wrong"}) is Check.MISMATCH
    assert check(Provider.GITLAB, {"X-Gitlab-Token": KEY.decode() + " "}) is Check.MISMATCH
    assert check(Provider.GITLAB, {}) is Check.MISSING
    assert check(Provider.GITLAB, {"X-Gitlab-Token": "ünïcode"}) is Check.MISMATCH


def test_gitea_signature_is_bare_hex_and_forgejo_spelling_works() -> None:
    sig = _hex(KEY, BODY)
    assert check(Provider.GITEA, {"X-Gitea-Signature": sig}) is Check.OK
    assert check(Provider.GITEA, {"X-Forgejo-Signature": sig}) is Check.OK
    assert check(Provider.GITEA, {"X-Gitea-Signature": "sha256=" + sig}) is Check.MISMATCH
    assert check(Provider.GITEA, {"X-Gitea-Signature": _hex(KEY, b"other")}) is Check.MISMATCH
    assert check(Provider.GITEA, {}) is Check.MISSING


def test_generic_signature_covers_timestamp_and_body() -> None:
    ts = int(NOW)
    headers = signature.sign(KEY, BODY, timestamp=ts)
    assert headers["X-Gitmoor-Signature"] == "sha256=" + _hex(KEY, f"{ts}.".encode() + BODY)
    assert check(Provider.GENERIC, headers) is Check.OK
    # Moving the timestamp (to extend a captured request's life) breaks the MAC.
    moved = {**headers, "X-Gitmoor-Timestamp": str(ts + 60)}
    assert check(Provider.GENERIC, moved) is Check.MISMATCH
    assert check(Provider.GENERIC, headers, body=BODY[:-1]) is Check.MISMATCH


@pytest.mark.parametrize(
    ("skew", "expected"),
    [(0, Check.OK), (299, Check.OK), (-299, Check.OK), (301, Check.STALE), (-301, Check.STALE)],
)
def test_generic_timestamp_must_be_within_five_minutes(skew: int, expected: Check) -> None:
    headers = signature.sign(KEY, BODY, timestamp=int(NOW) - skew)
    assert check(Provider.GENERIC, headers) is expected


def test_generic_missing_or_malformed_headers() -> None:
    headers = signature.sign(KEY, BODY, timestamp=int(NOW))
    assert check(Provider.GENERIC, {"X-Gitmoor-Signature": headers["X-Gitmoor-Signature"]}) is (
        Check.MISSING
    )
    assert check(Provider.GENERIC, {"X-Gitmoor-Timestamp": str(int(NOW))}) is Check.MISSING
    assert check(Provider.GENERIC, {**headers, "X-Gitmoor-Timestamp": "yesterday"}) is (
        Check.MALFORMED
    )
    bare = {**headers, "X-Gitmoor-Signature": headers["X-Gitmoor-Signature"][len("sha256=") :]}
    assert check(Provider.GENERIC, bare) is Check.MALFORMED
    assert check(Provider.GENERIC, {**headers, "X-Gitmoor-Signature": "sha256=zz€"}) is (
        Check.MISMATCH
    )
