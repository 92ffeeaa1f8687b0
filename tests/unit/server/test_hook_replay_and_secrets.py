"""Replay memory and where webhook secrets come from."""

from __future__ import annotations

import pytest

from gitmoor.model.notifications import Provider
from gitmoor.server.hooks import CachedSecrets, ReplayGuard, secret_values


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_delivery_is_claimed_once_within_the_window() -> None:
    clock = Clock()
    guard = ReplayGuard(600, clock=clock)
    assert guard.claim("github:abc")
    assert not guard.claim("github:abc")
    assert guard.claim("gitlab:abc")
    clock.now += 599
    assert not guard.claim("github:abc")
    clock.now += 2  # 601 s after the first claim
    assert guard.claim("github:abc")


def test_a_released_delivery_can_be_claimed_again() -> None:
    guard = ReplayGuard(600, clock=Clock())
    assert guard.claim("k")
    guard.release("k")
    assert guard.claim("k")
    guard.release("never-seen")  # harmless


def test_memory_is_bounded_by_capacity_oldest_forgotten_first() -> None:
    clock = Clock()
    guard = ReplayGuard(600, capacity=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        clock.now += 1
        assert guard.claim(key)
    assert guard.claim("a")  # evicted to make room for d
    assert not guard.claim("d")


def test_secret_values_one_per_line_trimmed() -> None:
    data = {"github": b"new-secret\nold-secret\n", "generic": b"  ci-key \n\n", "gitlab": b""}
    assert secret_values(data, Provider.GITHUB) == [b"new-secret", b"old-secret"]
    assert secret_values(data, Provider.GENERIC) == [b"ci-key"]
    assert secret_values(data, Provider.GITLAB) == []
    assert secret_values(data, Provider.GITEA) == []


async def test_cached_secrets_read_once_per_ttl_and_do_not_cache_failures() -> None:
    clock = Clock()
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
