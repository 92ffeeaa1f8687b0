"""The pure parts of the OCI client: references and the registry's Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitmoor.sources.bounded_http import retry_after, shown
from gitmoor.sources.oci import OciReference


@pytest.mark.parametrize(
    ("url", "host", "repository"),
    [
        ("oci://registry.example.com/charts", "registry.example.com", "charts"),
        ("oci://127.0.0.1:5000/a/b/c/", "127.0.0.1:5000", "a/b/c"),
        ("oci://ghcr.io", "ghcr.io", ""),
    ],
)
def test_an_oci_url_names_a_registry_and_a_repository(url: str, host: str, repository: str) -> None:
    ref = OciReference.parse(url)
    assert (ref.host, ref.repository) == (host, repository)
    assert ref.child("podinfo").repository == "/".join(p for p in (repository, "podinfo") if p)


@pytest.mark.parametrize(
    "url", ["https://ghcr.io/a", "oci://user:pw@ghcr.io/a", "oci:///a", "ghcr.io/a"]
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not oci://HOST/REPOSITORY"):
        OciReference.parse(url)


NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("30", 30.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Tue, 01 Dec 2026 12:01:30 GMT", 90.0),
        ("Tue, 01 Dec 2026 11:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=NOW) == seconds


def test_a_shown_url_has_no_user_info_and_no_query() -> None:
    assert shown("https://u:p@h.example:8443/v2/x?sig=secret") == "https://h.example:8443/v2/x"
