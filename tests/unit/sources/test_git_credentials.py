"""GitCredentials decode a Secret's data like Flux and never show their values."""

import base64

import pytest

from gitmoor.model.credentials import GitCredentials, InvalidSecretDataError


def b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def test_from_secret_data_decodes_the_flux_keys() -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    credentials = GitCredentials.from_secret_data(
        {
            "username": b64("git"),
            "password": b64("hunter2\n"),  # as `echo hunter2 | base64` makes it
            "bearerToken": b64("tok-123"),
            "identity": b64(key),
            "known_hosts": b64("github.com ssh-ed25519 AAAA\n"),
            "caFile": b64("-----BEGIN CERTIFICATE-----\n"),
            "unrelated": b64("ignored"),
        }
    )
    assert credentials == GitCredentials(
        username="git",
        password="hunter2",
        bearer_token="tok-123",
        identity=key,
        known_hosts=b"github.com ssh-ed25519 AAAA\n",
        ca_file=b"-----BEGIN CERTIFICATE-----\n",
    )


def test_missing_and_empty_keys_are_unset() -> None:
    credentials = GitCredentials.from_secret_data({"username": b64("git"), "password": ""})
    assert credentials.username == "git"
    assert credentials.password is None
    assert credentials.identity is None
    assert GitCredentials.from_secret_data({}).is_empty


def test_bad_base64_names_the_key_not_the_value() -> None:
    with pytest.raises(InvalidSecretDataError) as caught:
        GitCredentials.from_secret_data({"password": "not base64 at all: s3cret!"})
    assert caught.value.key == "password"
    assert "s3cret" not in str(caught.value)
    assert "'password'" in str(caught.value)


def test_text_fields_must_be_utf8() -> None:
    with pytest.raises(InvalidSecretDataError, match="'username': not UTF-8 text"):
        GitCredentials.from_secret_data({"username": b64(b"\xff\xfe")})


def test_repr_and_str_show_which_fields_are_set_but_no_value() -> None:
    credentials = GitCredentials(
        username="someone",
        password="p4ssw0rd",
        bearer_token="t0ken",
        identity=b"PRIVATE",
        known_hosts=b"HOSTS",
        ca_file=b"CERT",
    )
    for shown in (repr(credentials), str(credentials), f"{credentials}", f"{[credentials]}"):
        for value in ("someone", "p4ssw0rd", "t0ken", "PRIVATE", "HOSTS", "CERT"):
            assert value not in shown
    assert repr(credentials).startswith("GitCredentials(username=<set>, password=<set>")
    assert repr(GitCredentials(ca_file=b"x")) == "GitCredentials(ca_file=<set>)"


def test_secret_strings_are_what_must_be_scrubbed() -> None:
    credentials = GitCredentials(username="git", password="pw", bearer_token="tok")
    assert credentials.secret_strings() == ("pw", "tok")
