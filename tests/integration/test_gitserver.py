"""The test Git servers behave like real ones: clone, fetch and push over HTTPS and SSH work, and
wrong credentials, host keys and CAs fail the way a user would see them fail."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import pytest

from testenv.gitserver import (
    GitServers,
    Repo,
    Worktree,
    git_base_env,
    run_git,
)
from testenv.pki import CertificateAuthority
from testenv.ports import wait_listening

pytestmark = pytest.mark.gitserver


# --- helpers ------------------------------------------------------------------------------------

AUTH_FAILED = "Authentication failed for"
NO_CREDENTIALS = "could not read Username"
HOST_KEY_FAILED = "Host key verification failed"
# libcurl built with GnuTLS (Debian's git) and with OpenSSL word it differently.
TLS_MARKERS = ("server certificate verification failed", "SSL certificate problem")


def publish(servers: GitServers, tmp_path: Path, name: str) -> tuple[Repo, Worktree, str]:
    """A served repository with one commit on main, pushed from a file:// working copy."""
    repo = servers.create_repo(name)
    author = Worktree.init(tmp_path / f"{name}-author", remote=repo.file_url)
    sha = author.commit("first", {"app/config.yaml": "replicas: 1\n", "README": "hi\n"})
    assert author.push() == sha
    return repo, author, sha


def failing(args: list[str], env: dict[str, str], servers: GitServers) -> str:
    result = run_git(args, env=env, check=False)
    assert result.returncode != 0, f"expected failure of {args}\n{servers.log_tail()}"
    return result.stderr


def remote_head(repo: Repo, ref: str = "refs/heads/main") -> str:
    return run_git(["--git-dir", str(repo.path), "rev-parse", ref]).stdout.strip()


# --- HTTPS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["header", "helper"])
def test_https_clone_gets_the_pushed_commit_and_fetch_the_next(
    git_servers: GitServers, tmp_path: Path, auth: str
) -> None:
    repo, author, first = publish(git_servers, tmp_path, f"https-clone-{auth}")
    env = git_servers.https_env(auth="header" if auth == "header" else "helper")

    clone = Worktree.clone(repo.https_url, tmp_path / "clone", env=env)
    assert clone.head() == first, git_servers.log_tail()
    assert (clone.path / "app/config.yaml").read_text() == "replicas: 1\n"

    second = author.commit("scale", {"app/config.yaml": "replicas: 3\n"}, remove=["README"])
    author.push()
    clone.fetch()
    assert clone.rev_parse("refs/remotes/origin/main") == second != first
    clone.git("merge", "--ff-only", "--quiet", "origin/main")
    assert not (clone.path / "README").exists()


def test_push_over_https_branch_and_tags(git_servers: GitServers, tmp_path: Path) -> None:
    repo, _, first = publish(git_servers, tmp_path, "https-push")
    pusher = Worktree.clone(repo.https_url, tmp_path / "pusher", env=git_servers.https_env())

    second = pusher.commit("over https", {"new.txt": "pushed\n"})
    pusher.tag("v1.0.0")
    annotated = pusher.tag("v1.1.0", message="release 1.1")
    assert pusher.push(tags=True) == second

    assert remote_head(repo) == second != first
    assert remote_head(repo, "refs/tags/v1.0.0") == second
    assert remote_head(repo, "refs/tags/v1.1.0") == annotated != second
    assert remote_head(repo, "refs/tags/v1.1.0^{commit}") == second
    assert "gitmoor" in (git_servers.logs_dir / "nginx-access.log").read_text()


# --- SSH ------------------------------------------------------------------------------------------


def test_ssh_clone_fetch_and_push(git_servers: GitServers, tmp_path: Path) -> None:
    repo, author, first = publish(git_servers, tmp_path, "ssh-clone")
    env = git_servers.ssh_env()

    clone = Worktree.clone(repo.ssh_url, tmp_path / "clone", env=env)
    assert clone.head() == first, git_servers.log_tail()

    second = author.commit("second", {"b.txt": "b\n"})
    author.push()
    clone.fetch()
    assert clone.rev_parse("refs/remotes/origin/main") == second

    clone.git("merge", "--ff-only", "--quiet", "origin/main")
    third = clone.commit("over ssh", {"c.txt": "c\n"})
    assert clone.push() == third
    assert remote_head(repo) == third


# --- failures -------------------------------------------------------------------------------------


def test_wrong_password_is_rejected(git_servers: GitServers, tmp_path: Path) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "wrong-password")
    ls_remote = ["ls-remote", repo.https_url]

    helper = failing(ls_remote, git_servers.https_env(password="nope", auth="helper"), git_servers)
    assert AUTH_FAILED in helper

    # With a preemptive header git only sees a 401 and asks for credentials it may not prompt
    # for: the message is the same as when no credentials were configured at all.
    header = failing(ls_remote, git_servers.https_env(password="nope"), git_servers)
    assert NO_CREDENTIALS in header
    assert "terminal prompts disabled" in header
    bare_env = git_base_env()
    bare_env.update(
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="http.sslCAInfo",
        GIT_CONFIG_VALUE_0=str(git_servers.ca_path),
    )
    assert NO_CREDENTIALS in failing(ls_remote, bare_env, git_servers)

    # The server did see and refuse the password (not, say, a missing repository).
    error_log = (git_servers.logs_dir / "nginx-error.log").read_text()
    assert f'user "{git_servers.username}": password mismatch' in error_log


def test_unknown_or_changed_host_key_is_rejected(git_servers: GitServers, tmp_path: Path) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "host-key")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    other_key = tmp_path / "other_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
        check=True,
        capture_output=True,
    )
    wrong = tmp_path / "wrong_known_hosts"
    other_pub = " ".join(Path(f"{other_key}.pub").read_text().split()[:2])
    wrong.write_text(f"[127.0.0.1]:{git_servers.ssh_port} {other_pub}\n")

    unknown = failing(
        ["ls-remote", repo.ssh_url], git_servers.ssh_env(known_hosts_path=empty), git_servers
    )
    assert HOST_KEY_FAILED in unknown
    assert "No ED25519 host key is known" in unknown

    changed = failing(
        ["ls-remote", repo.ssh_url], git_servers.ssh_env(known_hosts_path=wrong), git_servers
    )
    assert HOST_KEY_FAILED in changed
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in changed
    # Strict checking must not have "fixed" the file.
    assert empty.read_text() == ""


def test_untrusted_ca_is_rejected(git_servers: GitServers, tmp_path: Path) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "wrong-ca")
    other_ca = CertificateAuthority(tmp_path / "other-ca")
    stderr = failing(
        ["ls-remote", repo.https_url],
        git_servers.https_env(ca_path=other_ca.cert_path),
        git_servers,
    )
    assert any(marker in stderr for marker in TLS_MARKERS), stderr


def test_the_three_failures_are_told_apart(git_servers: GitServers, tmp_path: Path) -> None:
    repo, _, _ = publish(git_servers, tmp_path, "three-failures")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    stderrs = {
        "auth": failing(
            ["ls-remote", repo.https_url],
            git_servers.https_env(password="nope", auth="helper"),
            git_servers,
        ),
        "host": failing(
            ["ls-remote", repo.ssh_url], git_servers.ssh_env(known_hosts_path=empty), git_servers
        ),
        "tls": failing(
            ["ls-remote", repo.https_url],
            git_servers.https_env(ca_path=CertificateAuthority(tmp_path / "ca2").cert_path),
            git_servers,
        ),
    }
    markers = {
        "auth": (AUTH_FAILED, NO_CREDENTIALS),
        "host": (HOST_KEY_FAILED,),
        "tls": TLS_MARKERS,
    }
    for kind, stderr in stderrs.items():
        matched = {other for other, found in markers.items() if any(m in stderr for m in found)}
        assert matched == {kind}, f"{kind}: {stderr}"
    assert len(set(stderrs.values())) == 3


# --- secrets --------------------------------------------------------------------------------------


def _cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


@pytest.mark.parametrize("auth", ["header", "helper"])
def test_password_stays_out_of_argv_and_config(
    git_servers: GitServers, tmp_path: Path, auth: str
) -> None:
    repo, _, sha = publish(git_servers, tmp_path, f"secrets-{auth}")
    secrets = {
        git_servers.password,
        base64.b64encode(f"{git_servers.username}:{git_servers.password}".encode()).decode(),
    }
    trace = tmp_path / "trace"
    env = git_servers.https_env(auth="header" if auth == "header" else "helper")
    # GIT_TRACE records the argv of every command git runs, remote helpers and credential
    # helpers included; sampling /proc meanwhile also covers anything git does not trace.
    env["GIT_TRACE"] = str(trace)
    argv = ["git", "clone", "--quiet", repo.https_url, str(tmp_path / "clone")]
    seen: list[str] = []
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as clone:
        while clone.poll() is None:
            seen += _cmdlines()
            time.sleep(0.005)
        _, stderr = clone.communicate()
    assert clone.returncode == 0, stderr.decode() + git_servers.log_tail()
    assert run_git(["rev-parse", "HEAD"], cwd=tmp_path / "clone").stdout.strip() == sha

    config = (tmp_path / "clone" / ".git" / "config").read_text()
    assert f"url = {repo.https_url}\n" in config
    traced = trace.read_text()
    assert "git-remote-https" in traced  # the trace did capture the child processes
    for secret in secrets:
        assert not any(secret in arg for arg in argv)
        assert secret not in config
        assert secret not in traced
        assert not any(secret in line for line in seen)
    assert git_servers.password not in repo.https_url
    assert "@" not in repo.https_url


# --- lifecycle ------------------------------------------------------------------------------------


def _live_group_members(groups: set[int]) -> list[str]:
    """Non-zombie processes in the given process groups (zombies only await init's reaping)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgid = fields[0], int(fields[2])
        if pgid in groups and state != "Z":
            found.append(f"{proc.name}: {stat}")
    return found


def test_stop_ends_every_started_process(tmp_path: Path) -> None:
    servers = GitServers(tmp_path / "servers")
    with servers:
        pids = servers.pids
        assert len(pids) == 3
        assert _live_group_members(set(pids))
        ports = (servers.https_port, servers.ssh_port)
    servers.stop()  # idempotent

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert _live_group_members(set(pids)) == []
    for port in ports:
        with pytest.raises(TimeoutError):
            wait_listening(port, timeout=0)
