"""The short revision that `kubectl get`'s REVISION column and the status table show."""

from __future__ import annotations

import pytest

from gitmoor.model.record import short_revision

HEX = "0123456789abcdef0123456789abcdef01234567"
CHART = "podinfo@6.5.1@sha256:" + "f" * 64


@pytest.mark.parametrize(
    ("revision", "short"),
    [
        (f"main@sha1:{HEX}", HEX[:12]),
        (f"v1.2.0@sha1:{HEX}", HEX[:12]),
        (f"sha1:{HEX}", HEX[:12]),
        (CHART, "podinfo@6.5.1"),
        (f"{CHART};main@sha1:{HEX}", f"podinfo@6.5.1,{HEX[:7]}"),
        ("something-else", "something-else"),
        ("", ""),
        (None, ""),
    ],
)
def test_short_revision(revision: str | None, short: str) -> None:
    assert short_revision(revision) == short
