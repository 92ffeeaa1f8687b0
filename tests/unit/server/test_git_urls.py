"""One repository, many spellings: the key webhooks are matched to GitSources by."""

from __future__ import annotations

import pytest

from gitmoor.model.notifications import normalise_git_url, split_git_url


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo",
        "https://github.com/org/repo.git",
        "https://github.com/org/repo/",
        "https://GitHub.com/Org/Repo.git",
        "http://github.com/org/repo",
        "https://github.com:443/org/repo.git",
        "ssh://git@github.com/org/repo.git",
        "ssh://git@github.com:22/org/repo",
        "git@github.com:org/repo.git",
        "git@github.com:org/repo",
        "github.com:org/repo.git",
        "git://github.com/org/repo.git",
    ],
)
def test_spellings_of_one_repository_compare_equal(url: str) -> None:
    assert normalise_git_url(url) == "github.com/org/repo"


def test_different_repositories_stay_apart() -> None:
    keys = {
        normalise_git_url(u)
        for u in (
            "https://github.com/org/repo",
            "https://github.com/org/repo2",
            "https://github.com/other/repo",
            "https://gitlab.com/org/repo",
            "https://github.com/org/group/repo",
        )
    }
    assert len(keys) == 5


def test_ports_and_nested_groups() -> None:
    assert normalise_git_url("ssh://git@git.example.com:2222/ops/cluster.git") == normalise_git_url(
        "https://git.example.com:3000/ops/cluster"
    )
    assert split_git_url("git@gitlab.example.com:Platform/Infra/Deployments.git") == (
        "gitlab.example.com",
        "Platform/Infra/Deployments",
    )


def test_file_urls() -> None:
    assert split_git_url("file:///srv/git/repo.git") == ("file", "srv/git/repo")
    assert normalise_git_url("file:///srv/git/repo") == "file/srv/git/repo"


@pytest.mark.parametrize(
    "url", ["", "repo", "https://", "https://host", "https://host/.git", "::x"]
)
def test_what_is_not_a_git_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"git url|no host"):
        split_git_url(url)
