"""Whose Secret a chart dependency's repository is reached with."""

from __future__ import annotations

import pytest

from gitmoor.reconcile.charts import credentials_lender
from gitmoor.reconcile.memory import Key

URL = "https://charts.example.com/stable"
SECRET = {"secretRef": {"name": "auth"}}


def _key(namespace: str, name: str) -> Key:
    return Key("ChartSource", namespace, name)


@pytest.mark.parametrize(
    ("sources", "own", "expected"),
    [
        pytest.param({}, None, None, id="none-anonymous"),
        pytest.param({_key("apps", "a"): {"url": URL}}, None, None, id="no-secret-anonymous"),
        pytest.param(
            {_key("apps", "a"): {"url": URL + "/", **SECRET}}, None, _key("apps", "a"), id="url"
        ),
        pytest.param(
            {_key("other", "a"): {"url": URL, **SECRET}}, None, None, id="another-namespace-no"
        ),
        pytest.param(
            {
                _key("apps", "a"): {"url": URL, **SECRET},
                _key("vendor", "web"): {"url": URL, **SECRET},
            },
            _key("vendor", "web"),
            _key("vendor", "web"),
            id="the-syncs-own-chartsource-first",
        ),
        pytest.param(
            {
                _key("apps", "a"): {"url": URL, **SECRET},
                _key("vendor", "b"): {"url": URL, **SECRET},
            },
            _key("vendor", "web"),
            _key("vendor", "b"),
            id="then-its-namespace",
        ),
        pytest.param(
            {_key("apps", "b"): {"url": URL, **SECRET}, _key("apps", "a"): {"url": URL, **SECRET}},
            None,
            _key("apps", "a"),
            id="by-name",
        ),
        pytest.param(
            {_key("apps", "a"): {"url": "https://charts.example.com", **SECRET}},
            None,
            None,
            id="another-url-no",
        ),
    ],
)
def test_the_lender(sources: dict, own: Key | None, expected: Key | None) -> None:
    assert credentials_lender(URL, sources, own, "apps") == expected
