"""The write-back on its own, against the real Git servers: a push that loses a race is planned
again on the new head (one update commit, on top of the other), SSH signing checked with the
real `git verify-commit`, nothing committed when nothing changes, and a review branch made
from the checkout branch."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from gitmoor.errors import SigningKeyError, SourceAuthError
from gitmoor.model.credentials import GitCredentials
from gitmoor.reconcile.retry import reason_of
from gitmoor.sources.images.markers import Image
from gitmoor.sources.images.writeback import Request, SigningMaterial, Writer
from testenv.gitserver import GitServers, Repo, Worktree
from testenv.signing import ssh_signer

pytestmark = [pytest.mark.gitserver]

VALUES = """\
# Helm values: formatting stays.
image:
  repository: registry.test/web  # {"$imagepolicy": "apps:web:name"}
  tag: 1.0.0 # {"$imagepolicy": "apps:web:tag"}
replicas:   2
"""

# Moves the branch once, between the client's fetch and its ref update, as a concurrent
# writer would: the push fails with "cannot lock ref", the next one succeeds.
_INTRUDER = """\
#!/bin/sh
read old new ref
if [ ! -e "$GIT_DIR/intruded" ]; then
  touch "$GIT_DIR/intruded"
  unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
  export GIT_AUTHOR_NAME=Other GIT_AUTHOR_EMAIL=other@example.test
  export GIT_COMMITTER_NAME=Other GIT_COMMITTER_EMAIL=other@example.test
  tree=$(git rev-parse "$old^{tree}")
  moved=$(git commit-tree -p "$old" -m "someone else" "$tree")
  git update-ref "$ref" "$moved" "$old"
fi
exit 0
"""


def _request(servers: GitServers, repo: Repo, **overrides: object) -> Request:
    values: dict[str, object] = {
        "url": repo.https_url,
        "credentials": GitCredentials(
            username=servers.username,
            password=servers.password,
            ca_file=servers.ca_path.read_bytes(),
        ),
        "checkout": "main",
        "push": "main",
        "path": "./",
        "images": {"apps/web": Image("registry.test/web", "1.1.0")},
        "namespace": "apps",
        "author_name": "Image Bot",
        "author_email": "bot@example.test",
        "message_template": "",
        "automation": "apps/web",
    }
    values.update(overrides)
    return Request(**values)  # type: ignore[arg-type]


def _repo(servers: GitServers, tmp_path: Path) -> tuple[Repo, Worktree, str]:
    repo = servers.create_repo(f"wb-{secrets.token_hex(4)}")
    tree = Worktree.init(tmp_path / "work", remote=repo.file_url)
    sha = tree.commit("values", {"values.yaml": VALUES})
    tree.push()
    return repo, tree, sha


def _git(repo: Repo, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo.path), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


async def test_a_push_that_lost_a_race_is_planned_again_on_the_new_head(
    git_servers: GitServers, tmp_path: Path
) -> None:
    repo, _, base = _repo(git_servers, tmp_path)
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text(_INTRUDER)
    hook.chmod(0o755)

    outcome = await Writer(tmp_path / "scratch").run(_request(git_servers, repo))

    assert outcome.commit == _git(repo, "rev-parse", "main")
    log = _git(repo, "log", "--format=%s|%an", "main").splitlines()
    # One update commit, on top of the other writer's.
    assert log[:2] == ["Update images to 1.1.0|Image Bot", "someone else|Other"]
    assert _git(repo, "rev-parse", "main~2") == base
    written = _git(repo, "show", "main:values.yaml") + "\n"
    assert written == VALUES.replace("tag: 1.0.0 #", "tag: 1.1.0 #")
    message = _git(repo, "log", "-1", "--format=%B", "main")
    assert "values.yaml:4 apps/web (tag): 1.0.0 -> 1.1.0" in message
    assert list((tmp_path / "scratch").iterdir()) == []  # the private clone is gone


async def test_ssh_signed_commits_to_a_review_branch_and_no_commit_without_a_change(
    git_servers: GitServers, tmp_path: Path
) -> None:
    repo, _, base = _repo(git_servers, tmp_path)
    signer = ssh_signer(tmp_path / "signer", "bot@example.test")
    key = (tmp_path / "signer" / "id_ed25519").read_bytes()
    request = _request(
        git_servers,
        repo,
        url=repo.ssh_url,
        credentials=GitCredentials(
            identity=git_servers.ssh_key_path.read_bytes(),
            known_hosts=git_servers.known_hosts_path.read_bytes(),
        ),
        push="image-updates",
        signing=SigningMaterial("ssh", key),
        message_template="chore: images\n\n{{ .Changes }}\nby {{ .AutomationObject }}",
    )
    writer = Writer(tmp_path / "scratch")

    outcome = await writer.run(request)

    assert outcome.commit is not None
    assert _git(repo, "rev-parse", "main") == base  # the checkout branch is untouched
    assert _git(repo, "rev-parse", "image-updates") == outcome.commit
    assert _git(repo, "log", "-1", "--format=%B", outcome.commit).startswith("chore: images\n")
    signers = tmp_path / "allowed_signers"
    signers.write_text(signer.public)
    env = {**os.environ, "GIT_CONFIG_COUNT": "1"}
    env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"] = "gpg.ssh.allowedSignersFile", str(signers)
    checked = await asyncio.to_thread(
        subprocess.run,
        ["git", "--git-dir", str(repo.path), "verify-commit", outcome.commit],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert 'Good "git" signature for bot@example.test' in checked.stderr

    # Run again: the review branch already carries the change; nothing is committed.
    again = await writer.run(request)
    assert again.commit is None
    assert again.head == outcome.commit
    assert _git(repo, "rev-parse", "image-updates") == outcome.commit


async def test_wrong_credentials_push_nothing_and_say_so_without_the_password(
    git_servers: GitServers, tmp_path: Path
) -> None:
    repo, _, base = _repo(git_servers, tmp_path)
    wrong = GitCredentials(
        username=git_servers.username,
        password="not-the-password-0123",
        ca_file=git_servers.ca_path.read_bytes(),
    )
    with pytest.raises(SourceAuthError) as refused:
        await Writer(tmp_path / "scratch").run(_request(git_servers, repo, credentials=wrong))
    assert "authentication failed" in str(refused.value)
    assert "not-the-password-0123" not in str(refused.value)
    assert _git(repo, "rev-parse", "main") == base


def _protected_keys(directory: Path) -> dict[str, bytes]:
    """An OpenSSH and an OpenPGP private key, each protected by a passphrase."""
    directory.mkdir(parents=True)
    ssh_key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass-phrase-1", "-f", str(ssh_key)],
        check=True,
    )
    home = directory / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    locked = ["--batch", "--pinentry-mode", "loopback", "--passphrase", "pass-phrase-1"]
    subprocess.run(
        ["gpg", *locked, "--quick-gen-key", "Bot <bot@example.test>", "ed25519", "sign", "never"],
        env=env,
        check=True,
        capture_output=True,
    )
    armored = subprocess.run(
        ["gpg", *locked, "--export-secret-keys", "--armor"],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False)
    return {"ssh": ssh_key.read_bytes(), "openpgp": armored}


async def test_a_signing_key_with_a_passphrase_is_refused_at_once_and_nothing_is_pushed(
    git_servers: GitServers, tmp_path: Path
) -> None:
    """gitmoor has no passphrase to give: a protected key is an InvalidSigningKey saying so
    (not a signer waiting for a prompt), and the branch keeps its head."""
    repo, _, base = _repo(git_servers, tmp_path)
    keys = _protected_keys(tmp_path / "keys")
    for kind, key in keys.items():
        request = _request(git_servers, repo, signing=SigningMaterial(kind, key), timeout=60.0)
        with pytest.raises(SigningKeyError) as refused:
            await Writer(tmp_path / f"scratch-{kind}").run(request)
        assert "protected by a passphrase" in str(refused.value), (kind, str(refused.value))
        assert "pass-phrase-1" not in str(refused.value)
        assert reason_of(refused.value) == ("InvalidSigningKey", True)
        assert _git(repo, "rev-parse", "main") == base
