"""How `where` reads its argument: a revision or an image, and image spellings."""

from __future__ import annotations

import pytest

from gitmoor.ledger.lookup import (
    ChartQuery,
    ImageQuery,
    RevisionQuery,
    chart_of,
    image_spellings,
    parse_query,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"v1.2.0@sha1:{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (SHA, SHA),
        ("0123456", "0123456"),
        ("ABCDEF0", "abcdef0"),
    ],
)
def test_revisions_become_a_lower_case_sha_prefix(text: str, prefix: str) -> None:
    assert parse_query(text) == RevisionQuery(prefix)


@pytest.mark.parametrize(
    "text",
    [
        "nginx:1.27",
        "ghcr.io/acme/web:1.4.2",
        "registry.local:5000/team/app",
        "acme/web",
        f"nginx@sha256:{SHA}{SHA[:24]}",
    ],
)
def test_anything_else_with_a_colon_slash_or_at_is_an_image(text: str) -> None:
    query = parse_query(text)
    assert isinstance(query, ImageQuery)
    assert query.image == text
    assert text in query.spellings


@pytest.mark.parametrize("text", ["nginx", "012345", "", "two words:1", "main"])
def test_neither_is_refused_with_both_forms_explained(text: str) -> None:
    with pytest.raises(ValueError, match=r"neither a revision .* nor a container image"):
        parse_query(text)


def test_docker_hub_images_have_their_equivalent_spellings() -> None:
    expected = {
        "nginx:1.27",
        "library/nginx:1.27",
        "docker.io/library/nginx:1.27",
        "index.docker.io/library/nginx:1.27",
        "registry-1.docker.io/library/nginx:1.27",
    }
    for spelling in expected:
        assert image_spellings(spelling) == expected
    assert image_spellings("bitnami/redis:7") == {
        "bitnami/redis:7",
        "docker.io/bitnami/redis:7",
        "index.docker.io/bitnami/redis:7",
        "registry-1.docker.io/bitnami/redis:7",
    }


def test_other_registries_are_matched_exactly() -> None:
    assert image_spellings("ghcr.io/acme/web:1") == {"ghcr.io/acme/web:1"}
    assert image_spellings("localhost/app:1") == {"localhost/app:1"}
    assert image_spellings("registry.local:5000/app:1") == {"registry.local:5000/app:1"}


@pytest.mark.parametrize(
    ("text", "chart", "versions"),
    [
        ("chart:podinfo", "podinfo", ""),
        ("chart:podinfo@6.x", "podinfo", "6.x"),
        ("chart:cert-manager@>=1.14.0 <2.0.0", "cert-manager", ">=1.14.0 <2.0.0"),
    ],
)
def test_charts_are_named_with_an_optional_range(text: str, chart: str, versions: str) -> None:
    assert parse_query(text) == ChartQuery(chart, versions)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("chart:", "chart:NAME"), ("chart:Pod Info", "chart:NAME"), ("chart:web@>>1", "web@>>1")],
)
def test_bad_chart_queries_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_query(text)


def test_a_chart_revision_names_its_chart_and_version() -> None:
    digest = "ab" * 32
    assert chart_of(f"web@1.2.0@sha256:{digest};main@sha1:{SHA}") == ("web", "1.2.0")
    assert chart_of(f"main@sha1:{SHA}") is None
    assert ChartQuery("web", "1.x").admits("1.2.0")
    assert not ChartQuery("web", "1.x").admits("2.0.0")
    assert ChartQuery("web", "").admits("anything")
