"""git's failures become errors a user can act on, and no secret survives into a message."""

import pytest

from gitmoor.errors import (
    RefNotFoundError,
    SourceAuthError,
    SourceError,
    SourceUnavailableError,
)
from gitmoor.sources.diagnose import classify, detail, scrub

URL = "https://git.example.com/org/repo.git"


@pytest.mark.parametrize(
    ("stderr", "kind", "start"),
    [
        (
            "fatal: could not read Username for 'https://git.example.com': "
            "terminal prompts disabled\n",
            SourceAuthError,
            f"authentication failed for {URL}",
        ),
        (
            "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'x'\n",
            SourceAuthError,
            f"authentication failed for {URL}",
        ),
        (
            "git@host: Permission denied (publickey).\n"
            "fatal: Could not read from remote repository.\n",
            SourceAuthError,
            f"authentication failed for {URL}",
        ),
        (
            "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
            "checking.\nHost key verification failed.\n"
            "fatal: Could not read from remote repository.\n",
            SourceAuthError,
            f"host key verification failed for {URL}",
        ),
        (
            "fatal: unable to access 'x': server certificate verification failed. "
            "CAfile: none CRLfile: none\n",
            SourceAuthError,
            f"TLS certificate verification failed for {URL}",
        ),
        (
            "fatal: unable to access 'x': SSL certificate problem: self-signed certificate\n",
            SourceAuthError,
            "TLS certificate verification failed",
        ),
        (
            'Load key "/tmp/x/identity": invalid format\ngit@h: Permission denied (publickey).\n',
            SourceAuthError,
            f"authentication failed for {URL}: the Secret's identity is not a usable private key",
        ),
        (
            "fatal: unable to access 'x': Failed to connect to 127.0.0.1 port 1: "
            "Couldn't connect to server\n",
            SourceUnavailableError,
            f"cannot reach {URL}",
        ),
        (
            "fatal: unable to access 'x': Could not resolve host: git.example.com\n",
            SourceUnavailableError,
            f"cannot reach {URL}",
        ),
        (
            "fatal: repository 'https://git.example.com/org/repo.git/' not found\n",
            SourceUnavailableError,
            f"no repository found at {URL}",
        ),
        (
            "fatal: remote error: upload-pack: not our ref 0123456789\n",
            RefNotFoundError,
            f"the requested revision is not in {URL}",
        ),
        ("fatal: something nobody expected\n", SourceUnavailableError, f"cannot fetch from {URL}"),
    ],
)
def test_classify(stderr: str, kind: type[SourceError], start: str) -> None:
    error = classify(stderr, url=URL, has_credentials=True)
    assert type(error) is kind
    assert str(error).startswith(start)
    assert error.url == URL


def test_auth_failure_without_credentials_says_none_were_given() -> None:
    stderr = "fatal: could not read Username for 'https://h': terminal prompts disabled\n"
    assert "none were given" in str(classify(stderr, url=URL, has_credentials=False))
    assert "refused the credentials" in str(classify(stderr, url=URL, has_credentials=True))


def test_scrub_removes_known_secrets_and_anything_shaped_like_one() -> None:
    text = (
        "password hunter2-xyz was wrong\n"
        "> Authorization: Basic Z2l0Omh1bnRlcjI=\n"
        "header: Bearer abcdef123456789\n"
        "fatal: unable to access 'https://user:pa55word@host/repo.git/'\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    cleaned = scrub(text, ["hunter2-xyz"])
    for secret in ("hunter2-xyz", "Z2l0Omh1bnRlcjI=", "abcdef123456789", "pa55word", "b3Blbn"):
        assert secret not in cleaned
    assert "https://user:<redacted>@host/repo.git/" in cleaned
    assert "<private key>" in cleaned


def test_detail_is_one_short_scrubbed_line() -> None:
    stderr = (
        "hint: some advice\n\n"
        "fatal: token s3cr3t-t0k3n rejected\n"
        "Please make sure you have the correct access rights\n"
        "and the repository exists.\n"
    )
    assert detail(stderr, ["s3cr3t-t0k3n"]) == "fatal: token <redacted> rejected"
    assert len(detail("x" * 5000)) <= 403


def test_messages_never_carry_the_secrets_git_printed() -> None:
    stderr = (
        "fatal: Authentication failed for 'https://git.example.com/'\n"
        "trace: Authorization: Basic dXNlcjpzZWNyZXQ=\n"
        "echo: my-password-123\n"
    )
    error = classify(stderr, url=URL, secrets=["my-password-123"], has_credentials=True)
    assert "dXNlcjpzZWNyZXQ=" not in str(error)
    assert "my-password-123" not in str(error)
