"""Reading git's answer about a signature, which objects a verify mode checks, and the Secret
that lists the keys: pure, from a case table of what git, gpg and ssh-keygen really print."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.model.credentials import InvalidSecretDataError
from gitmoor.model.resources import GitRef, GitSourceSpec, GitVerification, LocalObjectReference
from gitmoor.model.signing import NoSigningKeysError, SigningKeys
from gitmoor.sources.remote import Target
from gitmoor.sources.signatures import (
    Check,
    objects_to_check,
    parse_commit_check,
    parse_tag_check,
    refusal,
)

CASES = Path(__file__).parent / "cases" / "signatures.yaml"
URL = "https://git.example.com/apps.git"
C = "c" * 40
T = "7" * 40


def load() -> list[Any]:
    return [pytest.param(case, id=case["case"]) for case in yaml.safe_load(CASES.read_text())]


@pytest.mark.parametrize("case", load())
def test_gits_answer_is_read_as_a_verdict(case: dict[str, Any]) -> None:
    if "commit" in case:
        check = parse_commit_check(case["commit"].replace("|", "\x00") + "\n")
    else:
        check = parse_tag_check(case["tag"]["returncode"], case["tag"]["stderr"])
    assert check.grade == case["grade"]
    assert check.ok is case["ok"]
    if "verdict" in case:
        assert check.verdict == case["verdict"]
    for name in ("fingerprint", "key", "signer"):
        if name in case:
            assert getattr(check, name) == case[name], name


@pytest.mark.parametrize(
    ("mode", "target", "objects"),
    [
        ("head", Target("main@sha1:c", C, "refs/heads/main"), (("commit", C),)),
        ("head", Target("v1@sha1:c", C, "refs/tags/v1", T), (("commit", C),)),
        ("tag", Target("v1@sha1:c", C, "refs/tags/v1", T), (("tag", T),)),
        ("tagAndHead", Target("v1@sha1:c", C, "refs/tags/v1", T), (("tag", T), ("commit", C))),
        # A lightweight tag has no tag object: there is nothing signed to check.
        ("tag", Target("v1@sha1:c", C, "refs/tags/v1"), (("tag", ""),)),
    ],
)
def test_which_objects_a_mode_checks(
    mode: Any, target: Target, objects: tuple[tuple[str, str], ...]
) -> None:
    assert objects_to_check(mode, target) == objects


def test_a_refusal_names_the_commit_the_key_and_the_secret() -> None:
    target = Target(f"main@sha1:{C}", C, "refs/heads/main")
    check = Check("U", "SHA256:abc", "SHA256:abc", "")
    err = refusal(check, kind="commit", sha=C, target=target, url=URL, origin="team/signers")
    assert str(err) == (
        f"commit {C} of {URL} is signed by a key the Secret does not list (key SHA256:abc): "
        "refused by spec.verify (keys from Secret team/signers); sign it with a key in the "
        "Secret, or add its public key there"
    )
    assert (err.signed, err.sha, err.commit, err.signer, err.verdict) == (
        "commit",
        C,
        C,
        "SHA256:abc",
        "UnknownKey",
    )
    assert err.url == URL


def test_a_lightweight_tag_is_refused_as_unsigned() -> None:
    target = Target(f"v1@sha1:{C}", C, "refs/tags/v1")
    err = refusal(Check("N"), kind="tag", sha="", target=target, url=URL, origin="team/signers")
    assert (err.signed, err.sha, err.commit, err.signer, err.verdict) == (
        "tag",
        C,
        C,
        None,
        "Unsigned",
    )
    assert str(err).startswith(f"tag v1 of {URL}, at commit {C}, is a lightweight tag")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_secret_lists_openpgp_keys_and_allowed_signers_and_ignores_the_rest() -> None:
    keys = SigningKeys.from_secret_data(
        {
            "alice.asc": b64("-----BEGIN PGP PUBLIC KEY BLOCK-----\nA\n"),
            "ops.asc": b64("-----BEGIN PGP PUBLIC KEY BLOCK-----\nO\n"),
            "allowed_signers": b64("bob@x ssh-ed25519 AAAAB"),
            "team.allowed_signers": b64("carol@x ssh-ed25519 AAAAC\n"),
            "empty.asc": "",
            "README": b64("not a key"),
        },
        origin="team/signers",
    )
    assert [name for name, _ in keys.openpgp] == ["alice.asc", "ops.asc"]
    assert keys.allowed_signers == b"bob@x ssh-ed25519 AAAAB\ncarol@x ssh-ed25519 AAAAC\n"
    assert keys.origin == "team/signers"


def test_the_keys_digest_follows_every_change_of_a_key() -> None:
    def digest(data: dict[str, str]) -> str:
        return SigningKeys.from_secret_data(data, origin="a/b").digest

    base = {"a.asc": b64("A"), "allowed_signers": b64("bob k1")}
    assert digest(base) == digest(dict(reversed(base.items())))
    assert digest(base) != digest({**base, "a.asc": b64("B")})
    assert digest(base) != digest({**base, "allowed_signers": b64("bob k2")})
    assert digest(base) != digest({"a.asc": b64("A")})
    assert digest(base) != digest({**base, "b.asc": b64("A")})
    assert digest(base) == digest({**base, "unrelated": b64("x")})


def test_a_secret_without_keys_or_with_broken_base64_is_refused_naming_the_key() -> None:
    with pytest.raises(NoSigningKeysError, match=r"Secret a/b has no key ending in \.asc"):
        SigningKeys.from_secret_data({"identity": b64("x")}, origin="a/b")
    with pytest.raises(InvalidSecretDataError, match=r"'alice\.asc': not valid base64"):
        SigningKeys.from_secret_data({"alice.asc": "***"}, origin="a/b")


def verify(mode: str, **ref: str) -> GitSourceSpec:
    return GitSourceSpec.model_validate(
        {"url": URL, "ref": ref, "verify": {"mode": mode, "secretRef": {"name": "signers"}}}
    )


@pytest.mark.parametrize(
    ("mode", "ref", "accepted"),
    [
        ("head", {}, True),
        ("head", {"branch": "main"}, True),
        ("head", {"tag": "v1"}, True),
        ("tag", {"tag": "v1"}, True),
        ("tag", {"semver": "^1"}, True),
        ("tagAndHead", {"semver": "^1"}, True),
        ("tag", {"branch": "main"}, False),
        ("tag", {}, False),
        ("tagAndHead", {"commit": C}, False),
    ],
)
def test_tag_modes_need_a_ref_that_names_a_tag(
    mode: str, ref: dict[str, str], accepted: bool
) -> None:
    if accepted:
        spec = verify(mode, **ref)
        assert spec.verify == GitVerification(
            mode=mode,  # type: ignore[arg-type]
            secret_ref=LocalObjectReference(name="signers"),
        )
        assert spec.ref == GitRef(**ref)
    else:
        with pytest.raises(ValueError, match=f"verify.mode {mode} checks a tag's signature"):
            verify(mode, **ref)
