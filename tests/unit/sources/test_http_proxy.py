"""Which proxy the in-process check uses: the one git would, from the environment."""

import pytest

from gitmoor.sources.httpcheck import proxy_for

URL = "https://git.example.com/org/repo.git"


@pytest.mark.parametrize(
    ("environ", "proxy"),
    [
        ({}, None),
        ({"https_proxy": "http://proxy:3128"}, "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://upper:3128"}, "http://upper:3128"),
        (
            {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128"},
            "http://lower:3128",
        ),
        ({"http_proxy": "http://plain:3128"}, None),  # not for https
        ({"all_proxy": "http://all:3128"}, "http://all:3128"),
        ({"https_proxy": "http://proxy:3128", "no_proxy": "example.com"}, None),
        ({"https_proxy": "http://proxy:3128", "no_proxy": ".example.com"}, None),
        ({"https_proxy": "http://proxy:3128", "NO_PROXY": "other.org, *"}, None),
        ({"https_proxy": "http://proxy:3128", "no_proxy": "ample.com"}, "http://proxy:3128"),
    ],
)
def test_proxy_for(environ: dict[str, str], proxy: str | None) -> None:
    assert proxy_for(URL, environ) == proxy


def test_plain_http_uses_http_proxy() -> None:
    assert proxy_for("http://git.local/r.git", {"http_proxy": "http://p:1"}) == "http://p:1"
