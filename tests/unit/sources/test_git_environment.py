"""The environment git runs in: nothing inherited steers it, credentials travel only through
environment variables and short-lived 0600 files."""

import shlex
from pathlib import Path

import pytest

from gitmoor.errors import SourceConfigError
from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.environment import base_environment, remote_environment
from gitmoor.sources.urls import RemoteUrl, Transport, UnsupportedUrlError, parse_remote_url

INHERITED = {
    "PATH": "/usr/bin",
    "HOME": "/root",
    "GIT_SSL_CAINFO": "/etc/ssl/certs/ca-certificates.crt",
    "GIT_DIR": "/somewhere/.git",
    "GIT_SSH_COMMAND": "ssh -i /root/.ssh/id_rsa",
    "SSH_AUTH_SOCK": "/tmp/agent.sock",
    "HTTPS_PROXY": "http://proxy:3128",
}


def config_of(env: dict[str, str]) -> list[tuple[str, str]]:
    count = int(env["GIT_CONFIG_COUNT"])
    return [(env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"]) for i in range(count)]


def test_base_environment_drops_what_steers_git_and_keeps_the_rest(tmp_path: Path) -> None:
    env = base_environment(tmp_path / "home", INHERITED)
    assert env["HOME"] == str(tmp_path / "home")
    assert env["PATH"] == "/usr/bin"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"  # proxies are the user's network, kept
    assert "GIT_SSL_CAINFO" not in env
    assert "GIT_DIR" not in env
    assert "GIT_SSH_COMMAND" not in env
    assert "SSH_AUTH_SOCK" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["LC_ALL"] == "C"
    assert ("credential.helper", "") in config_of(env)


def test_https_credentials_travel_as_an_extra_header_in_the_environment(tmp_path: Path) -> None:
    base = base_environment(tmp_path / "home", INHERITED)
    remote = parse_remote_url("https://git.example.com/repo.git")
    credentials = GitCredentials(username="git", password="pw", ca_file=b"CERT")
    with remote_environment(
        remote, credentials, base=base, scratch=tmp_path / "tmp", connect_timeout=10
    ) as env:
        config = dict(config_of(env.env))
        assert config["http.extraHeader"] == "Authorization: Basic Z2l0OnB3"
        ca_path = Path(config["http.sslCAInfo"])
        assert ca_path.read_bytes() == b"CERT"
        assert ca_path.stat().st_mode & 0o777 == 0o600
        assert "pw" in env.secrets
        assert "Z2l0OnB3" in env.secrets
    assert not ca_path.exists()
    assert not any((tmp_path / "tmp").iterdir())


def test_a_bearer_token_wins_over_basic_auth(tmp_path: Path) -> None:
    remote = parse_remote_url("https://git.example.com/repo.git")
    credentials = GitCredentials(username="git", password="pw", bearer_token="tok")
    with remote_environment(
        remote, credentials, base={}, scratch=tmp_path, connect_timeout=10
    ) as env:
        assert dict(config_of(env.env))["http.extraHeader"] == "Authorization: Bearer tok"


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        (GitCredentials(username="git"), "has 'username' but no 'password'"),
        (GitCredentials(password="pw"), "has 'password' but no 'username'"),
    ],
)
def test_half_basic_auth_is_a_config_error(
    tmp_path: Path, credentials: GitCredentials, problem: str
) -> None:
    remote = parse_remote_url("https://git.example.com/repo.git")
    with (
        pytest.raises(SourceConfigError, match=problem),
        remote_environment(remote, credentials, base={}, scratch=tmp_path, connect_timeout=1),
    ):
        pass
    assert not any(tmp_path.iterdir())


def test_ssh_key_and_known_hosts_go_to_private_files_named_in_the_ssh_command(
    tmp_path: Path,
) -> None:
    remote = parse_remote_url("git@github.com:org/repo.git")
    credentials = GitCredentials(identity=b"KEY", known_hosts=b"HOSTS\n")
    with remote_environment(
        remote, credentials, base={}, scratch=tmp_path / "tmp", connect_timeout=7
    ) as env:
        argv = shlex.split(env.env["GIT_SSH_COMMAND"])
        identity = Path(argv[argv.index("-i") + 1])
        assert identity.read_bytes() == b"KEY\n"  # ssh needs the final newline
        assert identity.stat().st_mode & 0o777 == 0o600
        options = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
        known = next(o for o in options if o.startswith("UserKnownHostsFile="))
        assert Path(known.split("=", 1)[1]).read_bytes() == b"HOSTS\n"
        for option in (
            "IdentitiesOnly=yes",
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "ConnectTimeout=7",
        ):
            assert option in options
        assert "KEY" not in env.env["GIT_SSH_COMMAND"]
    assert not identity.exists()


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [
        (None, "'identity' and 'known_hosts'"),
        (GitCredentials(identity=b"KEY"), "'known_hosts'"),
        (GitCredentials(known_hosts=b"H", username="u", password="p"), "'identity'"),
    ],
)
def test_ssh_needs_identity_and_known_hosts(
    tmp_path: Path, credentials: GitCredentials | None, missing: str
) -> None:
    remote = parse_remote_url("ssh://git@host/repo.git")
    with (
        pytest.raises(SourceConfigError, match=f"has {missing}"),
        remote_environment(remote, credentials, base={}, scratch=tmp_path, connect_timeout=1),
    ):
        pass


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("https://github.com/org/repo.git", Transport.HTTPS),
        ("http://127.0.0.1:8080/repo.git", Transport.HTTP),
        ("ssh://git@github.com/org/repo.git", Transport.SSH),
        ("ssh://github.com:2222/org/repo", Transport.SSH),
        ("git@github.com:org/repo.git", Transport.SSH),
        ("file:///srv/git/repo.git", Transport.FILE),
    ],
)
def test_supported_urls(url: str, transport: Transport) -> None:
    assert parse_remote_url(url) == RemoteUrl(url, transport)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://user:hunter2@github.com/org/repo.git", "must not carry credentials"),
        ("https://token@github.com/org/repo.git", "must not carry credentials"),
        ("ssh://git:hunter2@github.com/org/repo.git", "must not carry credentials"),
        ("ext::sh", "not https://"),
        ("fd::17", "not https://"),
        ("ftp://host/repo", "unsupported url scheme 'ftp'"),
        ("-uevil@host:repo", "starts with '-'"),
        ("https:///nohost", "has no host"),
        ("file://relative/path", "absolute path"),
        ("/srv/git/repo", "not https://"),
    ],
)
def test_unsupported_urls(url: str, problem: str) -> None:
    with pytest.raises(UnsupportedUrlError) as caught:
        parse_remote_url(url)
    assert problem in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_ssh_shares_a_connection_per_host_and_key_only(tmp_path: Path) -> None:
    control = Path("/tmp/gitmoor-ssh-abcdefgh")
    remote = parse_remote_url("ssh://git@git.example.com:2222/repo.git")
    key_a = GitCredentials(identity=b"KEY-A\n", known_hosts=b"hosts\n")
    key_b = GitCredentials(identity=b"KEY-B\n", known_hosts=b"hosts\n")
    paths = []
    for credentials in (key_a, key_a, key_b):
        with remote_environment(
            remote,
            credentials,
            base={},
            scratch=tmp_path / "tmp",
            connect_timeout=10,
            control_dir=control,
        ) as running:
            argv = shlex.split(running.env["GIT_SSH_COMMAND"])
        options = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")
        assert options["ControlMaster"] == "auto"
        assert int(options["ControlPersist"]) > 0
        paths.append(options["ControlPath"])
    # %C (host, port, user) is ssh's; the key's digest ours; together short enough for a socket.
    assert paths[0] == paths[1] != paths[2]
    assert all(p.startswith(f"{control}/") and p.endswith("-%C") for p in paths)
    assert len(paths[0].replace("%C", "c" * 40)) < 104
