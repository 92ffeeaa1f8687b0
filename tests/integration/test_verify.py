"""Signed commits and tags, verified by GitFetcher with the real git, gpg and ssh-keygen: commits
signed with real keys and pushed to the test Git servers; only those signed by a key the
verification Secret lists come back as artifacts, with the signer's fingerprint."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gitmoor.errors import SourceConfigError, SourceVerificationError
from gitmoor.model.resources import (
    GitRef,
    GitSourceSpec,
    GitVerification,
    LocalObjectReference,
    VerifyMode,
)
from gitmoor.model.signing import SigningKeys
from gitmoor.sources import GitFetcher
from testenv.gitserver import GitServers, Repo, Worktree
from testenv.signing import Signer, openpgp_signer, ssh_signer
from tests.integration.test_sources import files_of, https_credentials, ssh_credentials

pytestmark = pytest.mark.gitserver

TIMEOUT = 30.0
FILES = {"app/deploy.yaml": "replicas: 1\n"}


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    signer = openpgp_signer(tmp_path_factory.mktemp("alice"), "Alice", "alice@example.com")
    yield signer
    signer.stop()


@pytest.fixture(scope="module")
def mallory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    signer = openpgp_signer(tmp_path_factory.mktemp("mallory"), "Mallory", "m@example.com")
    yield signer
    signer.stop()


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return ssh_signer(tmp_path_factory.mktemp("bob"), "bob@example.com")


@pytest.fixture(scope="module")
def eve(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return ssh_signer(tmp_path_factory.mktemp("eve"), "eve@example.com")


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[GitFetcher]:
    fetcher = GitFetcher(tmp_path / "cache")
    yield fetcher
    await fetcher.close()


def keys(*signers: Signer) -> SigningKeys:
    """The verification Secret as a user would fill it, read the way the agent reads it."""
    data = {}
    lines = ""
    for signer in signers:
        if signer.kind == "openpgp":
            data[f"{signer.fingerprint[-8:].lower()}.asc"] = signer.public
        else:
            lines += signer.public
    if lines:
        data["allowed_signers"] = lines
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return SigningKeys.from_secret_data(encoded, origin="team/signers")


def verified(url: str, mode: VerifyMode = "head", **ref: str) -> GitSourceSpec:
    return GitSourceSpec(
        url=url,
        ref=GitRef(**ref),
        verify=GitVerification(mode=mode, secret_ref=LocalObjectReference(name="signers")),
    )


def served(servers: GitServers, tmp_path: Path, name: str) -> tuple[Repo, Worktree]:
    repo = servers.create_repo(name)
    return repo, Worktree.init(tmp_path / f"{name}-author", remote=repo.file_url)


def signed_by(signer: Signer, servers: GitServers, tmp_path: Path, name: str) -> Repo:
    """A served repository whose one commit `signer` signed."""
    repo, author = served(servers, tmp_path, name)
    author.commit(f"by {signer.kind} key", FILES, signer=signer)
    author.push()
    return repo


async def test_a_commit_signed_by_a_listed_key_is_handed_out_with_its_fingerprint(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer, bob: Signer
) -> None:
    repo, author = served(git_servers, tmp_path, "verify-good")
    first = author.commit("by alice", FILES, signer=alice)
    author.push()
    credentials = https_credentials(git_servers)

    artifact = await fetcher.fetch(
        "ns/good", verified(repo.https_url), credentials, timeout=TIMEOUT, keys=keys(alice, bob)
    )

    assert artifact.commit.sha == first
    assert artifact.signer == alice.fingerprint
    (signature,) = artifact.verified_by
    assert (signature.signed, signature.sha) == ("commit", first)
    assert signature.signer == "Alice <alice@example.com>"
    assert files_of(artifact) == FILES

    # An SSH signature over SSH transport, from the same Secret.
    second = author.commit("by bob", {"app/deploy.yaml": "replicas: 2\n"}, signer=bob)
    author.push()
    artifact = await fetcher.fetch(
        "ns/good",
        verified(repo.ssh_url),
        ssh_credentials(git_servers),
        timeout=TIMEOUT,
        keys=keys(alice, bob),
    )
    assert artifact.commit.sha == second
    assert artifact.signer == bob.fingerprint
    assert artifact.signer.startswith("SHA256:")
    assert artifact.verified_by[0].signer == "bob@example.com"


async def test_an_unsigned_commit_is_refused_and_never_unpacked(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer
) -> None:
    repo, author = served(git_servers, tmp_path, "verify-unsigned")
    sha = author.commit("nobody signed this", FILES)
    author.push()

    with pytest.raises(SourceVerificationError) as caught:
        await fetcher.fetch(
            "ns/unsigned", verified(repo.file_url), None, timeout=TIMEOUT, keys=keys(alice)
        )

    err = caught.value
    assert (err.sha, err.commit, err.signer, err.verdict) == (sha, sha, None, "Unsigned")
    assert f"commit {sha}" in str(err)
    assert "is not signed" in str(err)
    assert "team/signers" in str(err)
    assert not any((fetcher.cache_dir / "artifacts").rglob("*.json")), "it was unpacked"
    assert fetcher.git_calls.get("archive", 0) == 0


@pytest.mark.parametrize("kind", ["openpgp", "ssh"])
async def test_a_commit_signed_by_an_unlisted_key_is_refused_naming_the_key(
    git_servers: GitServers,
    tmp_path: Path,
    fetcher: GitFetcher,
    alice: Signer,
    bob: Signer,
    mallory: Signer,
    eve: Signer,
    kind: str,
) -> None:
    stranger = mallory if kind == "openpgp" else eve
    repo, author = served(git_servers, tmp_path, f"verify-stranger-{kind}")
    sha = author.commit("by a stranger", FILES, signer=stranger)
    author.push()

    with pytest.raises(SourceVerificationError) as caught:
        await fetcher.fetch(
            "ns/stranger", verified(repo.file_url), None, timeout=TIMEOUT, keys=keys(alice, bob)
        )

    err = caught.value
    assert err.commit == sha
    assert err.verdict == "UnknownKey"
    assert err.signer is not None
    # gpg knows only the key id of a key it does not hold; ssh-keygen the whole fingerprint.
    assert err.signer in stranger.fingerprint
    assert err.signer in str(err)


async def test_removing_a_key_from_the_secret_refuses_the_commits_only_it_signed(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer, bob: Signer
) -> None:
    repo, author = served(git_servers, tmp_path, "verify-rotate")
    author.commit("by alice", FILES, signer=alice)
    by_bob = author.commit("by bob", {"app/deploy.yaml": "replicas: 2\n"}, signer=bob)
    author.push()
    source = verified(repo.file_url)

    both = await fetcher.fetch("ns/rotate", source, None, timeout=TIMEOUT, keys=keys(alice, bob))
    assert both.signer == bob.fingerprint
    calls = dict(fetcher.git_calls)

    # Unchanged head, unchanged keys: not verified again.
    again = await fetcher.fetch("ns/rotate", source, None, timeout=TIMEOUT, keys=keys(alice, bob))
    assert again == both
    assert fetcher.git_calls["verify-commit"] == calls["verify-commit"]
    assert fetcher.git_calls["keyring"] == calls["keyring"]

    # bob's line is gone from the Secret: his commit no longer deploys.
    with pytest.raises(SourceVerificationError) as caught:
        await fetcher.fetch("ns/rotate", source, None, timeout=TIMEOUT, keys=keys(alice))
    assert caught.value.commit == by_bob
    assert caught.value.signer == bob.fingerprint
    assert fetcher.git_calls["keyring"] == calls["keyring"] + 1

    # ... until alice signs a new head.
    fixed = author.commit("re-signed", {"app/deploy.yaml": "replicas: 3\n"}, signer=alice)
    author.push()
    after = await fetcher.fetch("ns/rotate", source, None, timeout=TIMEOUT, keys=keys(alice))
    assert (after.commit.sha, after.signer) == (fixed, alice.fingerprint)


async def test_the_temporary_keyrings_are_private_and_gone_afterwards(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer
) -> None:
    repo = signed_by(alice, git_servers, tmp_path, "verify-private")
    seen: list[int] = []
    scratch = fetcher.cache_dir / "tmp"
    real_mkdtemp = __import__("tempfile").mkdtemp

    def spy(*args: object, **kwargs: object) -> str:
        made: str = real_mkdtemp(*args, **kwargs)
        if Path(made).name.startswith("keys-"):
            seen.append(Path(made).stat().st_mode & 0o777)
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gitmoor.sources.keyring.tempfile.mkdtemp", spy)
        await fetcher.fetch(
            "ns/private", verified(repo.file_url), None, timeout=TIMEOUT, keys=keys(alice)
        )

    assert seen == [0o700]
    assert not any(scratch.iterdir())


async def test_tag_mode_needs_a_signed_annotated_tag(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer, bob: Signer
) -> None:
    repo, author = served(git_servers, tmp_path, "verify-tags")
    released = author.commit("release", FILES)  # the commit itself is not signed
    tag = author.tag("v1.0.0", message="release 1.0.0", signer=bob)
    author.tag("v1.0.1", message="unsigned release")
    author.tag("v1.0.2")  # lightweight
    author.push(tags=True)
    credentials = https_credentials(git_servers)
    signers = keys(alice, bob)

    artifact = await fetcher.fetch(
        "ns/tags",
        verified(repo.https_url, "tag", tag="v1.0.0"),
        credentials,
        timeout=TIMEOUT,
        keys=signers,
    )
    assert artifact.revision == f"v1.0.0@sha1:{released}"
    (signature,) = artifact.verified_by
    assert (signature.signed, signature.sha, signature.fingerprint) == ("tag", tag, bob.fingerprint)

    # tagAndHead wants the commit signed as well: this one is not.
    with pytest.raises(SourceVerificationError) as caught:
        await fetcher.fetch(
            "ns/tags",
            verified(repo.https_url, "tagAndHead", tag="v1.0.0"),
            credentials,
            timeout=TIMEOUT,
            keys=signers,
        )
    assert (caught.value.signed, caught.value.verdict) == ("commit", "Unsigned")

    for name, verdict in (("v1.0.1", "Unsigned"), ("v1.0.2", "Unsigned")):
        with pytest.raises(SourceVerificationError) as caught:
            await fetcher.fetch(
                "ns/tags",
                verified(repo.https_url, "tag", tag=name),
                credentials,
                timeout=TIMEOUT,
                keys=signers,
            )
        assert (caught.value.signed, caught.value.verdict) == ("tag", verdict)
        assert caught.value.commit == released
    assert "lightweight" in str(caught.value)


async def test_tag_and_head_with_both_signed_records_both_signers(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer, bob: Signer
) -> None:
    repo, author = served(git_servers, tmp_path, "verify-both")
    commit = author.commit("release", FILES, signer=alice)
    tag = author.tag("v2.0.0", message="release 2.0.0", signer=alice)
    later = author.commit("next", {"app/deploy.yaml": "replicas: 2\n"}, signer=bob)
    author.tag("v2.1.0", message="release 2.1.0", signer=bob)
    author.push(tags=True)
    source = verified(repo.file_url, "tagAndHead", semver="~2.0")

    artifact = await fetcher.fetch("ns/both", source, None, timeout=TIMEOUT, keys=keys(alice, bob))

    assert artifact.commit.sha == commit
    assert [(s.signed, s.sha) for s in artifact.verified_by] == [("tag", tag), ("commit", commit)]
    assert artifact.signer == alice.fingerprint
    newer = verified(repo.file_url, "tagAndHead", semver="^2")
    artifact = await fetcher.fetch("ns/both", newer, None, timeout=TIMEOUT, keys=keys(bob))
    assert (artifact.commit.sha, artifact.signer) == (later, bob.fingerprint)


async def test_a_secret_key_that_is_no_openpgp_key_is_a_config_error_naming_it(
    git_servers: GitServers, tmp_path: Path, fetcher: GitFetcher, alice: Signer
) -> None:
    repo = signed_by(alice, git_servers, tmp_path, "verify-garbage")
    garbage = base64.b64encode(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nnope\n").decode()
    broken = SigningKeys.from_secret_data({"ops.asc": garbage}, origin="team/signers")

    with pytest.raises(SourceConfigError, match=r"team/signers key 'ops.asc' holds no OpenPGP"):
        await fetcher.fetch(
            "ns/garbage", verified(repo.file_url), None, timeout=TIMEOUT, keys=broken
        )
