"""The cheap remote check against the real Git servers: in process over HTTPS (what it lists is
what `git ls-remote` lists), kept-alive connections, one check shared by the sources of one
remote, and over SSH one shared connection per host."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitmoor.errors import SourceAuthError, SourceUnavailableError
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.resources import GitRef, GitSourceSpec
from gitmoor.sources import GitFetcher
from gitmoor.sources.httpcheck import HttpChecks
from gitmoor.sources.remote import parse_ls_remote, query_for
from gitmoor.sources.urls import parse_remote_url
from testenv.gitserver import GitServers, Repo, Worktree, run_git

pytestmark = pytest.mark.gitserver

TIMEOUT = 30.0


def https_credentials(servers: GitServers, password: str | None = None) -> GitCredentials:
    return GitCredentials(
        username=servers.username,
        password=password or servers.password,
        ca_file=servers.ca_path.read_bytes(),
    )


def ssh_credentials(servers: GitServers) -> GitCredentials:
    return GitCredentials(
        identity=servers.ssh_key_path.read_bytes(),
        known_hosts=servers.known_hosts_path.read_bytes(),
    )


def publish(servers: GitServers, tmp_path: Path, name: str) -> tuple[Repo, Worktree]:
    repo = servers.create_repo(name)
    author = Worktree.init(tmp_path / f"{name}-author", remote=repo.file_url)
    author.commit("first", {"a.yaml": "a: 1\n"})
    author.push()
    return repo, author


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[GitFetcher]:
    fetcher = GitFetcher(tmp_path / "cache")
    yield fetcher
    await fetcher.close()


@pytest.fixture(scope="module")
def refs_repo(git_servers: GitServers, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """Branches and tags whose names trip a prefix match: main2, feature/main, v1.0.0-rc."""
    tmp = tmp_path_factory.mktemp("refs")
    repo, author = publish(git_servers, tmp, "check-refs")
    author.tag("v1.0.0")
    author.commit("second", {"a.yaml": "a: 2\n"})
    author.tag("v1.1.0", message="release 1.1.0")
    author.tag("v1.1.0-rc.1", message="candidate")
    author.git("branch", "main2")
    author.git("branch", "feature/main")
    author.git("branch", "release")
    author.git("push", "--quiet", "origin", "main", "main2", "feature/main", "release", "--tags")
    return repo


@pytest.mark.parametrize(
    "ref",
    [
        GitRef(),
        GitRef(branch="main"),
        GitRef(branch="release"),
        GitRef(tag="v1.0.0"),
        GitRef(tag="v1.1.0"),
        GitRef(semver="^1"),
    ],
    ids=["HEAD", "main", "release", "lightweight-tag", "annotated-tag", "semver"],
)
async def test_the_https_check_lists_what_git_ls_remote_lists(
    git_servers: GitServers, refs_repo: Repo, ref: GitRef
) -> None:
    query = query_for(ref, url=refs_repo.https_url)
    by_git = run_git(
        ["ls-remote", *query.options, "--", refs_repo.https_url, *query.patterns],
        env=git_servers.https_env(),
    )
    checks = HttpChecks()
    try:
        in_process = await checks.list_refs(
            parse_remote_url(refs_repo.https_url),
            https_credentials(git_servers),
            query,
            timeout=TIMEOUT,
            deadline=asyncio.get_running_loop().time() + TIMEOUT,
        )
    finally:
        checks.close()

    assert in_process == parse_ls_remote(by_git.stdout)
    assert in_process.shas  # not two empty answers


async def test_a_moved_branch_is_noticed_over_one_kept_connection(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    credentials = https_credentials(git_servers)
    repos = [publish(git_servers, tmp_path, f"check-moved-{i}") for i in range(3)]
    seen = []
    for repo, author in repos:
        source = GitSourceSpec(url=repo.https_url, ref=GitRef(branch="main"))
        before = await fetcher.remote_revision("ns/a", source, credentials, timeout=TIMEOUT)
        moved = author.commit("moved", {"a.yaml": "a: moved\n"})
        author.push()
        after = await fetcher.remote_revision("ns/a", source, credentials, timeout=TIMEOUT)
        assert before != after
        assert after == (f"main@sha1:{moved}", moved)
        seen.append(after)

    # Six checks of three repositories on one server: one TLS connection, no git process.
    assert fetcher.check_connections == 1
    assert dict(fetcher.git_calls) == {"ls-refs": 6}


async def test_sources_of_one_remote_share_a_check_but_not_their_credentials(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author = publish(git_servers, tmp_path, "check-shared")
    source = GitSourceSpec(url=repo.https_url, ref=GitRef(branch="main"))
    credentials = https_credentials(git_servers)

    answers = [
        await fetcher.remote_revision(
            f"team-{i}/app",
            source,
            credentials,
            timeout=TIMEOUT,
            fresh_since=time.monotonic() - 60,
        )
        for i in range(5)
    ]
    assert len(set(answers)) == 1
    assert fetcher.git_calls["ls-refs"] == 1
    assert fetcher.shared_checks == 4

    # Asked for now (a webhook, `gitmoor sync`): a check of its own, which sees the push.
    moved = author.commit("moved", {"a.yaml": "a: 3\n"})
    author.push()
    fresh = await fetcher.remote_revision("team-0/app", source, credentials, timeout=TIMEOUT)
    assert fresh[1] == moved
    assert fetcher.git_calls["ls-refs"] == 2

    # Another Secret (a wrong password) never gets the answer the right one earned.
    wrong = https_credentials(git_servers, password="not-the-password-1")
    with pytest.raises(SourceAuthError, match=f"authentication failed for {repo.https_url}"):
        await fetcher.remote_revision(
            "team-9/app", source, wrong, timeout=TIMEOUT, fresh_since=time.monotonic() - 60
        )


async def test_a_missing_repository_says_so(git_servers: GitServers, fetcher: GitFetcher) -> None:
    url = git_servers.create_repo("check-exists").https_url.replace("check-exists", "nope")
    source = GitSourceSpec(url=url, ref=GitRef(branch="main"))
    with pytest.raises(SourceUnavailableError, match=f"no repository found at {url}"):
        await fetcher.remote_revision(
            "ns/x", source, https_credentials(git_servers), timeout=TIMEOUT
        )


def _accepted(servers: GitServers) -> int:
    return (servers.logs_dir / "sshd.log").read_text(errors="replace").count("Accepted publickey")


async def test_ssh_checks_share_one_connection_per_host(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    credentials = ssh_credentials(git_servers)
    repos = [publish(git_servers, tmp_path, f"check-ssh-{i}") for i in range(3)]
    logins = _accepted(git_servers)

    for repo, author in repos:
        source = GitSourceSpec(url=repo.ssh_url, ref=GitRef(branch="main"))
        before = await fetcher.remote_revision("ns/s", source, credentials, timeout=TIMEOUT)
        moved = author.commit("moved", {"a.yaml": "a: ssh\n"})
        author.push()
        after = await fetcher.remote_revision("ns/s", source, credentials, timeout=TIMEOUT)
        assert before != after
        assert after[1] == moved

    # Six checks, one login: the later ones rode on the first connection.
    assert _accepted(git_servers) - logins == 1
    [master] = fetcher.ssh_masters

    await fetcher.close()
    assert not master.exists()
    assert not master.parent.exists()
    assert not [line for line in _cmdlines() if str(master.parent) in line]


def _cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
                if stat[stat.rindex(")") + 2] == "Z":
                    continue
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ValueError):
                continue
    return lines
