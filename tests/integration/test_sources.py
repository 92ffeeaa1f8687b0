"""GitFetcher against real Git servers: HTTPS with basic auth and a private CA, SSH with a key
and known_hosts, and file:// URLs. What a user would check: which commit an artifact holds, what
files are in it, that an unchanged head costs nothing but a remote check, and that failures say
what is wrong without ever showing a secret."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gitmoor.errors import (
    RefNotFoundError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    SourceUnavailableError,
)
from gitmoor.model import Artifact
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.resources import GitRef, GitSourceSpec
from gitmoor.sources import GitFetcher
from testenv.gitserver import GitServers, Repo, Worktree
from testenv.pki import CertificateAuthority
from testenv.ports import free_port

pytestmark = pytest.mark.gitserver

TIMEOUT = 30.0
FILES = {"app/deploy.yaml": "replicas: 1\n", "README.md": "hello\n"}


# --- helpers ------------------------------------------------------------------------------------


def publish(
    servers: GitServers, tmp_path: Path, name: str, files: dict[str, str] | None = None
) -> tuple[Repo, Worktree, str]:
    """A served repository with one commit on main, pushed from a file:// working copy."""
    repo = servers.create_repo(name)
    author = Worktree.init(tmp_path / f"{name}-author", remote=repo.file_url)
    sha = author.commit("first commit", files or FILES)
    author.push()
    return repo, author, sha


def https_credentials(
    servers: GitServers, *, password: str | None = None, ca: bool = True
) -> GitCredentials:
    return GitCredentials(
        username=servers.username,
        password=servers.password if password is None else password,
        ca_file=servers.ca_path.read_bytes() if ca else None,
    )


def ssh_credentials(servers: GitServers, *, known_hosts: bytes | None = None) -> GitCredentials:
    return GitCredentials(
        identity=servers.ssh_key_path.read_bytes(),
        known_hosts=servers.known_hosts_path.read_bytes() if known_hosts is None else known_hosts,
    )


def spec(url: str, ignore: str | None = None, **ref: str) -> GitSourceSpec:
    return GitSourceSpec(url=url, ref=GitRef(**ref), ignore=ignore)


def files_of(artifact: Artifact) -> dict[str, str]:
    root = Path(artifact.path)
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def on_disk(artifact: Artifact) -> bool:
    return Path(artifact.path).is_dir()


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every path below `directory` with its size and modification time, to see any write."""
    found = {}
    for path in directory.rglob("*"):
        info = path.lstat()
        found[path.relative_to(directory).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def secrets_of(credentials: GitCredentials) -> list[bytes]:
    found = [s.encode() for s in credentials.secret_strings()]
    if credentials.username and credentials.password:
        token = f"{credentials.username}:{credentials.password}".encode()
        found.append(base64.b64encode(token))
    if credentials.identity:
        # The key's base64 body, line by line: any of it on disk would be a leak.
        body = [
            line
            for line in credentials.identity.splitlines()
            if line and not line.startswith(b"-----")
        ]
        found += body
    return found


def assert_no_secret_under(directory: Path, credentials: GitCredentials) -> None:
    secrets = secrets_of(credentials)
    assert secrets
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            for secret in secrets:
                assert secret not in content, f"a secret is in {path}"


def assert_no_secret_in(error: BaseException, credentials: GitCredentials) -> None:
    text = f"{error} {error!r} {error.args!r} {getattr(error, 'url', '')}"
    for secret in secrets_of(credentials):
        assert secret.decode() not in text


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[GitFetcher]:
    fetcher = GitFetcher(tmp_path / "cache")
    yield fetcher
    await fetcher.close()


# --- HTTPS ----------------------------------------------------------------------------------------


async def test_https_fetch_with_basic_auth_and_ca(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, "src-https")
    credentials = https_credentials(git_servers)
    source = spec(repo.https_url)

    revision = await fetcher.remote_revision("ns/https", source, credentials, timeout=TIMEOUT)
    assert revision == (f"main@sha1:{sha}", sha)

    artifact = await fetcher.fetch("ns/https", source, credentials, timeout=TIMEOUT)
    assert artifact.revision == f"main@sha1:{sha}"
    assert artifact.url == repo.https_url
    assert artifact.digest.startswith("sha256:")
    assert files_of(artifact) == FILES
    assert artifact.commit.sha == sha
    assert artifact.commit.author == "Gitmoor Test"
    assert artifact.commit.author_email == "test@gitmoor.invalid"
    assert artifact.commit.message == "first commit"
    assert artifact.commit.time.tzinfo is not None
    assert Path(artifact.path).is_relative_to(fetcher.cache_dir / "artifacts")
    assert not (Path(artifact.path) / ".git").exists()
    assert_no_secret_under(fetcher.cache_dir, credentials)


async def test_https_wrong_password_is_an_auth_error_that_hides_the_password(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-wrong-password")
    credentials = https_credentials(git_servers, password="s3cret-but-wrong-Pa55")

    with pytest.raises(SourceAuthError) as caught:
        await fetcher.fetch("ns/wrong", spec(repo.https_url), credentials, timeout=TIMEOUT)

    assert f"authentication failed for {repo.https_url}" in str(caught.value)
    assert caught.value.url == repo.https_url
    assert_no_secret_in(caught.value, credentials)
    assert_no_secret_under(fetcher.cache_dir, credentials)


async def test_https_without_credentials_says_the_source_has_none(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-no-credentials")
    ca_only = GitCredentials(ca_file=git_servers.ca_path.read_bytes())

    with pytest.raises(SourceAuthError, match="asks for credentials and none were given"):
        await fetcher.fetch("ns/none", spec(repo.https_url), ca_only, timeout=TIMEOUT)


async def test_https_with_an_untrusted_certificate_is_a_tls_auth_error(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-no-ca")
    no_ca = https_credentials(git_servers, ca=False)
    other_ca = GitCredentials(
        username=git_servers.username,
        password=git_servers.password,
        ca_file=CertificateAuthority(tmp_path / "other-ca").cert_path.read_bytes(),
    )

    for credentials in (no_ca, other_ca):
        with pytest.raises(SourceAuthError) as caught:
            await fetcher.fetch("ns/tls", spec(repo.https_url), credentials, timeout=TIMEOUT)
        message = str(caught.value)
        assert message.startswith(f"TLS certificate verification failed for {repo.https_url}")
        assert "caFile" in message
        assert_no_secret_in(caught.value, credentials)


async def test_basic_auth_needs_both_username_and_password(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-half-secret")
    half = GitCredentials(username="gitmoor", ca_file=git_servers.ca_path.read_bytes())

    with pytest.raises(SourceConfigError, match="'username' but no 'password'"):
        await fetcher.fetch("ns/half", spec(repo.https_url), half, timeout=TIMEOUT)
    assert fetcher.git_calls == {}


# --- SSH ------------------------------------------------------------------------------------------


async def test_ssh_fetch_with_key_and_known_hosts(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, "src-ssh")
    credentials = ssh_credentials(git_servers)

    artifact = await fetcher.fetch("ns/ssh", spec(repo.ssh_url), credentials, timeout=TIMEOUT)

    assert artifact.revision == f"main@sha1:{sha}"
    assert files_of(artifact) == FILES
    assert_no_secret_under(fetcher.cache_dir, credentials)
    # The key files lived only as long as the git commands that needed them.
    assert not any((fetcher.cache_dir / "tmp").rglob("*"))


async def test_ssh_with_wrong_known_hosts_is_a_host_key_error(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-ssh-host-key")
    wrong_line = git_servers.known_hosts_line.rsplit(" ", 1)[0] + " " + _other_ed25519_key()
    credentials = ssh_credentials(git_servers, known_hosts=wrong_line.encode() + b"\n")

    with pytest.raises(SourceAuthError) as caught:
        await fetcher.fetch("ns/hostkey", spec(repo.ssh_url), credentials, timeout=TIMEOUT)

    assert str(caught.value).startswith(f"host key verification failed for {repo.ssh_url}")
    assert_no_secret_in(caught.value, credentials)


async def test_ssh_needs_identity_and_known_hosts(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-ssh-missing")
    no_hosts = GitCredentials(identity=git_servers.ssh_key_path.read_bytes())

    with pytest.raises(SourceConfigError, match="'known_hosts'"):
        await fetcher.fetch("ns/ssh-missing", spec(repo.ssh_url), no_hosts, timeout=TIMEOUT)
    with pytest.raises(SourceConfigError, match="'identity' and 'known_hosts'"):
        await fetcher.fetch("ns/ssh-missing", spec(repo.ssh_url), None, timeout=TIMEOUT)


def _other_ed25519_key() -> str:
    """The public half of a fresh ed25519 key: a host key the server does not have."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


# --- refs -----------------------------------------------------------------------------------------


async def test_file_url_follows_the_default_branch(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, "src-file")

    artifact = await fetcher.fetch("ns/file", spec(repo.file_url), None, timeout=TIMEOUT)

    assert artifact.revision == f"main@sha1:{sha}"
    assert files_of(artifact) == FILES


async def test_a_new_commit_on_the_branch_gives_a_new_revision(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author, first = publish(git_servers, tmp_path, "src-follow")
    author.git("checkout", "--quiet", "-b", "release")
    author.push("release")
    credentials = https_credentials(git_servers)
    source = spec(repo.https_url, branch="release")

    before = await fetcher.fetch("ns/follow", source, credentials, timeout=TIMEOUT)
    second = author.commit("scale up", {"app/deploy.yaml": "replicas: 3\n"}, remove=["README.md"])
    author.push("release")
    after = await fetcher.fetch("ns/follow", source, credentials, timeout=TIMEOUT)

    assert before.revision == f"release@sha1:{first}"
    assert after.revision == f"release@sha1:{second}"
    assert files_of(after) == {"app/deploy.yaml": "replicas: 3\n"}
    assert after.digest != before.digest
    assert after.commit.message == "scale up"
    # The previous artifact is kept, untouched, for whoever still reads it.
    assert files_of(before) == FILES


async def test_tags_lightweight_and_annotated_resolve_to_their_commit(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author, first = publish(git_servers, tmp_path, "src-tags")
    author.tag("v1.0.0")
    second = author.commit("second", {"app/deploy.yaml": "replicas: 2\n"})
    annotated = author.tag("v1.1.0", message="release 1.1")
    author.commit("unreleased", {"app/deploy.yaml": "replicas: 9\n"})
    author.push(tags=True)
    credentials = https_credentials(git_servers)

    light = await fetcher.fetch(
        "ns/tags", spec(repo.https_url, tag="v1.0.0"), credentials, timeout=TIMEOUT
    )
    heavy = await fetcher.fetch(
        "ns/tags", spec(repo.https_url, tag="v1.1.0"), credentials, timeout=TIMEOUT
    )

    assert light.revision == f"v1.0.0@sha1:{first}"
    assert heavy.revision == f"v1.1.0@sha1:{second}"
    assert annotated != second  # the tag object is not the commit; the revision names the commit
    assert files_of(heavy)["app/deploy.yaml"] == "replicas: 2\n"
    with pytest.raises(RefNotFoundError, match=re.escape("tag 'v9.9.9' not found")):
        await fetcher.fetch(
            "ns/tags", spec(repo.https_url, tag="v9.9.9"), credentials, timeout=TIMEOUT
        )


async def test_semver_picks_the_highest_tag_in_range(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author, _ = publish(git_servers, tmp_path, "src-semver")
    shas = {}
    for index, tag in enumerate(["v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v2.0.0"]):
        shas[tag] = author.commit(f"release {tag}", {"version.txt": f"{tag}\n", "n": f"{index}\n"})
        if tag == "v1.1.0":
            author.tag(tag, message=f"release {tag}")
        else:
            author.tag(tag)
    author.push(tags=True)
    credentials = https_credentials(git_servers)

    async def pick(semver: str) -> Artifact:
        source = spec(repo.https_url, semver=semver)
        return await fetcher.fetch("ns/semver", source, credentials, timeout=TIMEOUT)

    in_range = await pick(">=1.0.0 <2.0.0")
    assert in_range.revision == f"v1.1.0@sha1:{shas['v1.1.0']}"  # v2.0.0 newer but outside
    assert files_of(in_range)["version.txt"] == "v1.1.0\n"
    assert (await pick("~1.0")).revision == f"v1.0.0@sha1:{shas['v1.0.0']}"
    assert (await pick(">=1.2.0-0 <2.0.0")).revision == f"v1.2.0-rc.1@sha1:{shas['v1.2.0-rc.1']}"
    assert (await pick("^1 || ^2")).revision == f"v2.0.0@sha1:{shas['v2.0.0']}"

    with pytest.raises(RefNotFoundError) as caught:
        await pick("~3.0")
    assert "no tag matches semver range '~3.0'" in str(caught.value)
    assert "v1.0.0, v1.1.0, v1.2.0-rc.1, v2.0.0" in str(caught.value)
    with pytest.raises(SourceConfigError, match=re.escape("invalid semver range 'one.two'")):
        await pick("one.two")


async def test_exact_commit_is_fetched_by_its_sha(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author, first = publish(git_servers, tmp_path, "src-commit")
    author.commit("later", {"app/deploy.yaml": "replicas: 5\n"})
    author.push()
    credentials = https_credentials(git_servers)

    pinned = await fetcher.fetch(
        "ns/commit", spec(repo.https_url, commit=first), credentials, timeout=TIMEOUT
    )
    assert pinned.revision == f"sha1:{first}"
    assert files_of(pinned) == FILES
    # A pinned commit needs no remote check once it is cached.
    calls = dict(fetcher.git_calls)
    again = await fetcher.fetch(
        "ns/commit", spec(repo.https_url, commit=first), credentials, timeout=TIMEOUT
    )
    assert again == pinned
    assert fetcher.git_calls == calls

    other = GitFetcher(tmp_path / "other-cache")
    short = await other.fetch(
        "ns/commit", spec(repo.https_url, commit=first[:10]), credentials, timeout=TIMEOUT
    )
    assert short.revision == f"sha1:{first}"
    assert short.digest == pinned.digest

    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(RefNotFoundError, match=f"commit {missing} not found"):
        await fetcher.fetch(
            "ns/commit", spec(repo.https_url, commit=missing), credentials, timeout=TIMEOUT
        )


async def test_missing_branch_is_ref_not_found(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-no-branch")
    with pytest.raises(RefNotFoundError, match=f"branch 'nope' not found in {repo.file_url}"):
        await fetcher.fetch("ns/nb", spec(repo.file_url, branch="nope"), None, timeout=TIMEOUT)


# --- the cache ------------------------------------------------------------------------------------


async def test_an_unchanged_head_costs_one_remote_check_and_nothing_else(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-unchanged")
    credentials = https_credentials(git_servers)
    source = spec(repo.https_url)
    first = await fetcher.fetch("ns/same", source, credentials, timeout=TIMEOUT)
    calls = dict(fetcher.git_calls)
    before = snapshot(fetcher.cache_dir)

    second = await fetcher.fetch("ns/same", source, credentials, timeout=TIMEOUT)

    assert second == first
    after = dict(fetcher.git_calls)
    # One in-process check over HTTPS (no git process), and no file written: the CA bundle
    # stays in memory.
    assert {k: after[k] - calls.get(k, 0) for k in after if after[k] != calls.get(k, 0)} == {
        "ls-refs": 1
    }
    assert snapshot(fetcher.cache_dir) == before

    # A restarted agent finds the artifact on disk: still no fetch.
    restarted = GitFetcher(fetcher.cache_dir)
    third = await restarted.fetch("ns/same", source, credentials, timeout=TIMEOUT)
    assert third.path == first.path
    assert third.digest == first.digest
    assert restarted.git_calls == {"ls-refs": 1}


async def test_concurrent_fetches_of_one_source_fetch_once(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, "src-concurrent")
    credentials = https_credentials(git_servers)
    source = spec(repo.https_url)

    results = await asyncio.gather(
        *(fetcher.fetch("ns/conc", source, credentials, timeout=TIMEOUT) for _ in range(4))
    )

    assert {a.revision for a in results} == {f"main@sha1:{sha}"}
    assert len({a.path for a in results}) == 1
    assert fetcher.fetch_count == 1


async def test_keeps_the_newest_three_artifacts(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, author, _ = publish(git_servers, tmp_path, "src-keep")
    source = spec(repo.file_url)
    artifacts = []
    for index in range(5):
        author.commit(f"change {index}", {"n.txt": f"{index}\n"})
        author.push()
        artifacts.append(await fetcher.fetch("ns/keep", source, None, timeout=TIMEOUT))

    present = [on_disk(a) for a in artifacts]
    assert present == [False, False, True, True, True]
    key_dir = Path(artifacts[-1].path).parent
    assert sorted(p.name for p in key_dir.iterdir() if p.is_dir()) == sorted(
        a.commit.sha for a in artifacts[2:]
    )


async def test_a_half_written_artifact_is_never_used(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "src-half")
    source = spec(repo.file_url)
    artifact = await fetcher.fetch("ns/half", source, None, timeout=TIMEOUT)
    root = Path(artifact.path)
    # What a crash between unpacking and describing the artifact would leave, plus debris.
    (root.parent / f"{artifact.commit.sha}.json").unlink()
    (root / "stray.txt").write_text("half-written\n")
    (root.parent / ".tmp-crashed").mkdir()

    restarted = GitFetcher(fetcher.cache_dir)
    again = await restarted.fetch("ns/half", source, None, timeout=TIMEOUT)

    assert files_of(again) == FILES
    assert again.digest == artifact.digest
    assert not (root.parent / ".tmp-crashed").exists()


async def test_ignore_rules_drop_files_and_the_digest_follows_kept_content(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    files = {
        "app/deploy.yaml": "replicas: 1\n",
        "app/notes.md": "notes\n",
        "docs/guide.md": "guide\n",
        "docs/keep.md": "under an ignored directory\n",
        "keep.md": "kept by negation\n",
    }
    repo, author, _ = publish(git_servers, tmp_path, "src-ignore", files)
    source = spec(repo.file_url, ignore="docs/\n*.md\n!keep.md\n!docs/keep.md\n")

    first = await fetcher.fetch("ns/ignore", source, None, timeout=TIMEOUT)
    assert files_of(first) == {"app/deploy.yaml": "replicas: 1\n", "keep.md": "kept by negation\n"}

    author.commit("docs only", {"docs/guide.md": "better guide\n", "app/notes.md": "more\n"})
    author.push()
    docs_only = await fetcher.fetch("ns/ignore", source, None, timeout=TIMEOUT)
    assert docs_only.commit.sha != first.commit.sha
    assert docs_only.digest == first.digest

    author.commit("real change", {"app/deploy.yaml": "replicas: 2\n"})
    author.push()
    changed = await fetcher.fetch("ns/ignore", source, None, timeout=TIMEOUT)
    assert changed.digest != first.digest

    # Other ignore rules on the same commit make another artifact, not the cached one.
    everything = await fetcher.fetch("ns/ignore", spec(repo.file_url), None, timeout=TIMEOUT)
    assert everything.commit.sha == changed.commit.sha
    assert "docs/guide.md" in files_of(everything)
    assert everything.digest != changed.digest


async def test_export_attributes_of_the_repository_do_not_change_the_artifact(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    files = {".gitattributes": "secret.yaml export-ignore\n", "secret.yaml": "kept: true\n"}
    repo, _, _ = publish(git_servers, tmp_path, "src-attributes", files)

    artifact = await fetcher.fetch("ns/attrs", spec(repo.file_url), None, timeout=TIMEOUT)

    assert files_of(artifact) == files


# --- failures -------------------------------------------------------------------------------------


async def test_a_closed_port_is_unavailable(fetcher: GitFetcher) -> None:
    port = free_port()
    for url in (f"https://127.0.0.1:{port}/x.git", f"http://127.0.0.1:{port}/x.git"):
        with pytest.raises(SourceUnavailableError, match=f"127.0.0.1:{port}"):
            await fetcher.fetch("ns/closed", spec(url), None, timeout=TIMEOUT)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_a_server_that_never_answers_times_out_and_git_is_killed(
    silent_server: int, fetcher: GitFetcher
) -> None:
    url = f"https://127.0.0.1:{silent_server}/hang.git"

    with pytest.raises(SourceUnavailableError, match=re.escape("timed out after 1.5s")):
        await fetcher.fetch("ns/hang", spec(url), None, timeout=1.5)

    # git-remote-https carries the URL in its argv: none may be left running.
    assert not [line for line in _cmdlines() if url in line]


def _cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                stat = (proc / "stat").read_text()
                if stat[stat.rindex(")") + 2] == "Z":
                    continue
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ValueError):
                continue
    return lines


async def test_errors_are_source_errors_with_the_url(fetcher: GitFetcher, tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.git").as_uri()
    with pytest.raises(SourceError) as caught:
        await fetcher.fetch("ns/missing", spec(missing), None, timeout=TIMEOUT)
    assert isinstance(caught.value, SourceUnavailableError)
    assert caught.value.url == missing
    assert missing in str(caught.value)


# --- file:// is the agent's own disk ----------------------------------------------------------


async def test_file_sources_read_only_below_an_allowed_root(
    git_servers: GitServers, tmp_path: Path
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, "src-file-roots")
    url = repo.file_url
    where = Path(url.removeprefix("file://"))

    in_cluster = GitFetcher(tmp_path / "cache-a", file_roots=())
    with pytest.raises(SourceConfigError, match="allowed only below --allow-file-sources"):
        await in_cluster.fetch("ns/a", spec(url), None, timeout=TIMEOUT)

    allowed = GitFetcher(tmp_path / "cache-b", file_roots=(where.parent,))
    artifact = await allowed.fetch("ns/b", spec(url), None, timeout=TIMEOUT)
    assert artifact.commit.sha == sha

    elsewhere = GitFetcher(tmp_path / "cache-c", file_roots=(tmp_path / "nothing-here",))
    with pytest.raises(SourceConfigError, match="allowed only below"):
        await elsewhere.fetch("ns/c", spec(url), None, timeout=TIMEOUT)


async def test_a_file_source_never_reads_another_sources_cached_checkout(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher
) -> None:
    # One tenant's source is fetched; another points file:// at where its checkout lives.
    repo, _, _ = publish(git_servers, tmp_path, "src-private-cache")
    victim = await fetcher.fetch("tenant-a/app", spec(repo.file_url), None, timeout=TIMEOUT)
    stolen = f"file://{fetcher.cache_dir}/repos"

    with pytest.raises(SourceConfigError, match="may not read the agent's cache"):
        await fetcher.fetch("tenant-b/thief", spec(stolen), None, timeout=TIMEOUT)
    assert on_disk(victim)
