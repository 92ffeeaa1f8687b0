"""The environment every git process runs in, and how credentials reach it.

Credentials never appear in a URL, an argument list or a config file: HTTPS auth travels as an
`http.extraHeader` passed through `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` environment variables,
and key material (SSH identity, known_hosts, CA bundle) is written to 0600 files in a private
directory that is removed as soon as the git command is done.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitmoor.errors import SourceConfigError
from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.urls import RemoteUrl, Transport

# Inherited variables that would change what git does: GIT_* (GIT_SSL_CAINFO overrides our CA,
# GIT_DIR, GIT_ASKPASS, GIT_SSH_COMMAND, ...), and ssh's ways to find keys or ask for them.
_DROPPED = frozenset({"SSH_ASKPASS", "SSH_AUTH_SOCK", "DISPLAY"})

# Settings for every git process: no background maintenance that could outlive a killed fetch
# or touch the cache behind our back, and no credential helper or askpass from anywhere.
_BASE_CONFIG: tuple[tuple[str, str], ...] = (
    ("credential.helper", ""),
    ("core.askPass", ""),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("fetch.writeCommitGraph", "false"),
    ("advice.detachedHead", "false"),
)


def base_environment(home: Path, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """`inherited` (default: this process's) minus anything that steers git, plus a private HOME
    so no user's or machine's gitconfig, ssh config or credential store is read."""
    env = {
        name: value
        for name, value in (os.environ if inherited is None else inherited).items()
        if not name.startswith("GIT_") and name not in _DROPPED
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",
        # Never climb from the cache into some enclosing repository and read its config.
        GIT_CEILING_DIRECTORIES=str(home.parent),
        # ext:: and friends run commands; a GitSource never needs them.
        GIT_ALLOW_PROTOCOL="https:http:ssh:file",
        # Errors are classified by git's and ssh's words, which are translated otherwise.
        LC_ALL="C",
        LANG="C",
    )
    return with_config(env, _BASE_CONFIG)


def with_config(env: dict[str, str], config: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Add git config through the environment: unlike `-c`, it never shows up in argv."""
    index = int(env.get("GIT_CONFIG_COUNT", "0"))
    for key, value in config:
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
        index += 1
    env["GIT_CONFIG_COUNT"] = str(index)
    return env


@dataclass(frozen=True)
class RemoteEnvironment:
    """The environment for one command that talks to a remote, and the strings to scrub from
    whatever that command prints."""

    env: dict[str, str]
    secrets: tuple[str, ...]


@contextlib.contextmanager
def remote_environment(
    remote: RemoteUrl,
    credentials: GitCredentials | None,
    *,
    base: Mapping[str, str],
    scratch: Path,
    connect_timeout: float,
    control_dir: Path | None = None,
) -> Iterator[RemoteEnvironment]:
    """Yield the environment for talking to `remote` with `credentials`; key files written for
    it live only inside the `with` block. With `control_dir`, ssh shares one connection per
    host and credentials through a control master whose socket lives there (see `ssh_control`).
    """
    env = dict(base)
    secrets = _secrets(credentials)
    if remote.transport is Transport.FILE:
        yield RemoteEnvironment(env, secrets)
        return
    # Checked before anything is written, so a bad Secret leaves no files behind.
    ssh = _ssh_material(remote, credentials) if remote.transport is Transport.SSH else None
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="auth-", dir=scratch))
    try:
        if ssh is not None:
            env["GIT_SSH_COMMAND"] = _ssh_command(
                write_private(private / "identity", ssh[0]),
                write_private(private / "known_hosts", ssh[1]),
                connect_timeout,
                control_options(control_dir, *ssh) if control_dir is not None else [],
            )
            env["GIT_SSH_VARIANT"] = "ssh"
        else:
            env = with_config(env, _http_config(remote, credentials, private))
        yield RemoteEnvironment(env, secrets)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _secrets(credentials: GitCredentials | None) -> tuple[str, ...]:
    if credentials is None:
        return ()
    found = list(credentials.secret_strings())
    if credentials.username and credentials.password:
        found.append(_basic_token(credentials.username, credentials.password))
    return tuple(found)


def _basic_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _ssh_material(remote: RemoteUrl, credentials: GitCredentials | None) -> tuple[bytes, bytes]:
    missing = [
        key
        for key, value in (
            ("identity", credentials.identity if credentials else None),
            ("known_hosts", credentials.known_hosts if credentials else None),
        )
        if not value
    ]
    if missing:
        raise SourceConfigError(
            f"ssh url {remote.display} needs a secretRef whose Secret has "
            f"{' and '.join(repr(m) for m in missing)} (a private key and the server's host keys)",
            url=remote.display,
        )
    assert credentials is not None
    assert credentials.identity is not None
    assert credentials.known_hosts is not None
    identity = credentials.identity
    # ssh refuses a key file whose last line has no newline ("invalid format").
    if not identity.endswith(b"\n"):
        identity += b"\n"
    return identity, credentials.known_hosts


def authorization(remote: RemoteUrl, credentials: GitCredentials | None) -> str | None:
    """The value of the Authorization header for `remote` (`Bearer ...` or `Basic ...`), None
    without credentials; SourceConfigError for basic auth with half of its pair."""
    if credentials is None:
        return None
    if credentials.bearer_token:
        return f"Bearer {credentials.bearer_token}"
    if credentials.username or credentials.password:
        if not (credentials.username and credentials.password):
            have, lack = (
                ("username", "password") if credentials.username else ("password", "username")
            )
            raise SourceConfigError(
                f"the Secret for {remote.display} has {have!r} but no {lack!r}: "
                "basic auth needs both (or use 'bearerToken')",
                url=remote.display,
            )
        return f"Basic {_basic_token(credentials.username, credentials.password)}"
    return None


def _http_config(
    remote: RemoteUrl, credentials: GitCredentials | None, private: Path
) -> tuple[tuple[str, str], ...]:
    if credentials is None:
        return ()
    config: list[tuple[str, str]] = []
    header = authorization(remote, credentials)
    if header is not None:
        config.append(("http.extraHeader", f"Authorization: {header}"))
    if credentials.ca_file:
        config.append(
            ("http.sslCAInfo", str(write_private(private / "ca.crt", credentials.ca_file)))
        )
    return tuple(config)


def write_private(path: Path, content: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return path


# How long an idle shared ssh connection is kept: past the usual check intervals (1 to 5 min).
CONTROL_PERSIST = 600


def control_options(control_dir: Path, identity: bytes, known_hosts: bytes) -> list[str]:
    """ssh options that share one connection per host, port, user and credentials.

    The socket's name starts with a digest of the key and known_hosts: a source never rides on
    a connection another source's key opened (the server would see that key's rights), and a
    rotated key or host key opens a connection of its own. `%C` hashes host, port and user;
    the path stays short of the 104 bytes a unix socket's name may have when `control_dir` is.
    """
    digest = hashlib.sha256(b"%d:%b%b" % (len(identity), identity, known_hosts)).hexdigest()
    return [
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={control_dir}/{digest[:16]}-%C",
        "-o",
        f"ControlPersist={CONTROL_PERSIST}",
    ]


def _ssh_command(
    identity: Path, known_hosts: Path, connect_timeout: float, extra: list[str]
) -> str:
    # git runs GIT_SSH_COMMAND through a shell, hence shlex. -F /dev/null keeps any ssh_config
    # out; GlobalKnownHostsFile keeps the machine's known hosts from vouching for a server.
    return shlex.join(
        [
            "ssh",
            "-F",
            os.devnull,
            "-i",
            str(identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            f"GlobalKnownHostsFile={os.devnull}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, round(connect_timeout))}",
            *extra,
        ]
    )
