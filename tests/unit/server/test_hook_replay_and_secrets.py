"""Replay memory and where webhook secrets come from."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from gitmoor.model.notifications import Provider
from gitmoor.server.hooks import CachedSecrets, secret_values
from gitmoor.server.replay import ReplayGuard, Seen, signed_digest
from tests.unit.clock import Clock

GITHUB = Provider.GITHUB


def test_a_delivery_id_again_is_a_duplicate_within_the_window() -> None:
    clock = Clock(1000.0)
    guard = ReplayGuard(600, clock=clock)
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.NEW
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.DUPLICATE
    assert guard.claim(GITHUB, "d-1", "body-2") is Seen.DUPLICATE  # the id decides
    assert guard.claim(Provider.GITLAB, "d-1", "body-1") is Seen.NEW  # another provider's
    clock.now += 599
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.DUPLICATE
    clock.now += 2  # 601 s after the first claim
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.NEW


def test_the_same_signed_content_under_another_id_is_a_replay() -> None:
    clock = Clock(1000.0)
    guard = ReplayGuard(600, clock=clock)
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.NEW
    assert guard.claim(GITHUB, "d-2", "body-1") is Seen.REPLAY
    assert guard.claim(GITHUB, "d-3", "body-1") is Seen.REPLAY  # refused, so not remembered
    assert guard.claim(GITHUB, "d-3", "body-2") is Seen.NEW
    clock.now += 601
    assert guard.claim(GITHUB, "d-4", "body-1") is Seen.NEW


def test_a_released_claim_can_be_made_again() -> None:
    guard = ReplayGuard(600, clock=Clock(1000.0))
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.NEW
    guard.release(GITHUB, "d-1", "body-1")
    assert guard.claim(GITHUB, "d-1", "body-1") is Seen.NEW
    guard.release(GITHUB, "never-seen", "nor-this")  # harmless


def test_memory_is_bounded_by_capacity_oldest_forgotten_first() -> None:
    clock = Clock(1000.0)
    guard = ReplayGuard(600, capacity=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        clock.now += 1
        assert guard.claim(GITHUB, key, f"body-{key}") is Seen.NEW
    assert guard.claim(GITHUB, "a", "body-a") is Seen.NEW  # evicted to make room for d
    assert guard.claim(GITHUB, "d", "body-d") is Seen.DUPLICATE


def test_the_generic_forms_signed_content_includes_its_timestamp() -> None:
    body = b'{"url": "https://example.com/repo.git"}'
    at_1 = signed_digest(Provider.GENERIC, CIMultiDict({"X-Gitmoor-Timestamp": "1"}), body)
    at_2 = signed_digest(Provider.GENERIC, CIMultiDict({"X-Gitmoor-Timestamp": "2"}), body)
    assert at_1 != at_2
    # Spellings of the same number are the same signed content: the MAC covers the number.
    for spelling in ("+1", "01", " 1 "):
        headers = CIMultiDict({"X-Gitmoor-Timestamp": spelling})
        assert signed_digest(Provider.GENERIC, headers, body) == at_1
    # For the others the body is all the signature (or nothing, for GitLab) covers.
    github = signed_digest(GITHUB, CIMultiDict({"X-Gitmoor-Timestamp": "1"}), body)
    assert github == signed_digest(GITHUB, CIMultiDict(), body)
    assert github != signed_digest(GITHUB, CIMultiDict(), body + b" ")


def test_secret_values_one_per_line_trimmed() -> None:
    data = {"github": b"new-secret\nold-secret\n", "generic": b"  ci-key \n\n", "gitlab": b""}
    assert secret_values(data, Provider.GITHUB) == [b"new-secret", b"old-secret"]
    assert secret_values(data, Provider.GENERIC) == [b"ci-key"]
    assert secret_values(data, Provider.GITLAB) == []
    assert secret_values(data, Provider.GITEA) == []


async def test_cached_secrets_read_once_per_ttl_and_do_not_cache_failures() -> None:
    clock = Clock(1000.0)
    calls: list[Provider] = []
    fail = True

    async def fetch(provider: Provider) -> list[bytes]:
        calls.append(provider)
        if fail:
            raise RuntimeError("apiserver unreachable")
        return [b"k"]

    cached = CachedSecrets(fetch, ttl=30, clock=clock)
    with pytest.raises(RuntimeError, match="unreachable"):
        await cached(Provider.GITHUB)
    fail = False
    assert await cached(Provider.GITHUB) == [b"k"]
    assert await cached(Provider.GITHUB) == [b"k"]
    assert await cached(Provider.GITLAB) == [b"k"]
    assert calls == [Provider.GITHUB, Provider.GITHUB, Provider.GITLAB]
    clock.now += 31
    await cached(Provider.GITHUB)
    assert calls[-1] == Provider.GITHUB
    assert len(calls) == 4
