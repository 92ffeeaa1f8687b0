"""Real Git servers on loopback for the tests: smart HTTP over TLS and SSH, plus push helpers.

- HTTPS: nginx terminates TLS (certificate from a throwaway CA) and checks basic auth, then hands
  the request over FastCGI to fcgiwrap, which runs `git http-backend` on the repositories.
- SSH: a private sshd with a fresh host key that accepts one generated user key.

Every file (configs, keys, sockets, pids, logs, repositories) lives in the work directory and
every listener binds 127.0.0.1 only. Nothing is installed or changed outside the work directory
except sshd's privilege-separation directory `/run/sshd`, which sshd insists on.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Literal

from testenv.pki import CertificateAuthority
from testenv.ports import free_port, wait_listening
from testenv.signing import Signer

LOOPBACK = "127.0.0.1"
HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")
NGINX = Path("/usr/sbin/nginx")
FCGIWRAP = Path("/usr/sbin/fcgiwrap")
# sshd re-executes itself for every connection and refuses to start from a relative path.
SSHD = Path("/usr/sbin/sshd")
SSHD_PRIVSEP_DIR = Path("/run/sshd")

DEFAULT_BRANCH = "main"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0
# A fixed clock keeps commit shas reproducible; each commit steps it so no two commits collide.
_EPOCH = 1_700_000_000


def git_base_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment in which git never prompts and ignores the machine's and user's config.

    Without this a developer's ~/.gitconfig (credential helpers, url rewrites, signing) or an
    ssh-agent could make a test pass or fail for reasons that are not under test.
    """
    env = dict(os.environ if base is None else base)
    # Any inherited GIT_* (GIT_SSL_CAINFO overrides http.sslCAInfo, GIT_DIR, GIT_ASKPASS, ...)
    # or proxy would change what is under test; loopback traffic must never go via a proxy.
    dropped = {"SSH_ASKPASS", "SSH_AUTH_SOCK", "ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"}
    for name in list(env):
        if name.startswith("GIT_") or name.upper() in dropped:
            del env[name]
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        # Tests match git's and ssh's error messages, which are translated otherwise.
        LC_ALL="C",
        LANG="C",
    )
    return env


def _with_config(env: dict[str, str], config: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Pass config through GIT_CONFIG_COUNT/KEY/VALUE: unlike `-c`, it never shows up in argv."""
    index = int(env.get("GIT_CONFIG_COUNT", "0"))
    for key, value in config:
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
        index += 1
    env["GIT_CONFIG_COUNT"] = str(index)
    return env


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Authorization: Basic {token}"


# Used by the "helper" flavour: the password reaches git's credential helper through the
# environment, so the helper's command line (visible in GIT_TRACE and ps) holds no secret.
HTTPS_USERNAME_VAR = "GITMOOR_TEST_GIT_USERNAME"
HTTPS_PASSWORD_VAR = "GITMOOR_TEST_GIT_PASSWORD"  # noqa: S105 - a variable name, not a secret
_ENV_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    f'printf "username=%s\\npassword=%s\\n" "${HTTPS_USERNAME_VAR}" "${HTTPS_PASSWORD_VAR}"; }}; f'
)


def git_env_for_https(
    ca_path: Path,
    username: str,
    password: str,
    *,
    auth: Literal["header", "helper"] = "header",
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Env for plain `git` against the HTTPS server: trusts `ca_path`, sends basic auth.

    Neither flavour puts the credentials in the URL (and thus .git/config) or in any argv:
    - "header": a preemptive `Authorization` header from environment config. On a wrong password
      git cannot tell it was rejected: it asks for credentials and fails with "could not read
      Username ... terminal prompts disabled", exactly as when none were given.
    - "helper": a credential helper answering from the environment. git learns the credentials
      were refused and fails with "Authentication failed for '<url>'".
    """
    env = git_base_env(base)
    config = [("http.sslCAInfo", str(ca_path))]
    if auth == "header":
        config.append(("http.extraHeader", basic_auth_header(username, password)))
    else:
        env[HTTPS_USERNAME_VAR] = username
        env[HTTPS_PASSWORD_VAR] = password
        # The empty value first drops any helper configured elsewhere.
        config += [("credential.helper", ""), ("credential.helper", _ENV_CREDENTIAL_HELPER)]
    return _with_config(env, config)


def ssh_command(key_path: Path, known_hosts_path: Path) -> str:
    # GIT_SSH_COMMAND goes through a shell, hence the quoting. -F /dev/null and
    # GlobalKnownHostsFile keep the machine's ssh config and known hosts out of the test.
    options = [
        "ssh",
        "-F",
        os.devnull,
        "-i",
        str(key_path),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts_path}",
        "-o",
        f"GlobalKnownHostsFile={os.devnull}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
    ]
    return shlex.join(options)


def git_env_for_ssh(
    key_path: Path, known_hosts_path: Path, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Env for plain `git` against the SSH server: this key only, this known_hosts only."""
    env = git_base_env(base)
    env["GIT_SSH_COMMAND"] = ssh_command(key_path, known_hosts_path)
    return env


def run_git(
    args: Iterable[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run `git` with an argument list (never a shell); raises with stderr when `check` fails."""
    argv = ["git", *args]
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else git_base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise GitError(result.returncode, argv, result.stdout, result.stderr)
    return result


class GitError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr:\n{self.stderr}"


@dataclass(frozen=True)
class Repo:
    """A bare repository served by both servers."""

    name: str
    path: Path
    https_url: str
    ssh_url: str

    @property
    def file_url(self) -> str:
        return self.path.as_uri()


class Worktree:
    """A working copy that writes files, commits with a deterministic identity and clock, tags
    and pushes, all with the real `git`."""

    def __init__(
        self,
        path: Path,
        *,
        env: Mapping[str, str] | None = None,
        author_name: str = "Gitmoor Test",
        author_email: str = "test@gitmoor.invalid",
    ) -> None:
        self.path = path
        self.env = dict(env) if env is not None else git_base_env()
        self.author_name = author_name
        self.author_email = author_email
        self._ticks = 0

    @classmethod
    def clone(cls, url: str, path: Path, *, env: Mapping[str, str] | None = None) -> Worktree:
        tree = cls(path, env=env)
        run_git(["clone", "--quiet", url, str(path)], env=tree.env)
        return tree

    @classmethod
    def init(
        cls,
        path: Path,
        *,
        remote: str | None = None,
        branch: str = DEFAULT_BRANCH,
        env: Mapping[str, str] | None = None,
    ) -> Worktree:
        tree = cls(path, env=env)
        run_git(["init", "--quiet", f"--initial-branch={branch}", str(path)], env=tree.env)
        if remote is not None:
            tree.git("remote", "add", "origin", remote)
        return tree

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_git(args, cwd=self.path, env=self.env, check=check)

    def write(self, files: Mapping[str, str]) -> None:
        for relative, text in files.items():
            target = self._inside(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def remove(self, *relatives: str) -> None:
        if relatives:
            self.git("rm", "--quiet", "-r", "--", *relatives)

    def commit(
        self,
        message: str,
        files: Mapping[str, str] | None = None,
        *,
        remove: Iterable[str] = (),
        author: tuple[str, str] | None = None,
        allow_empty: bool = False,
        signer: Signer | None = None,
    ) -> str:
        """Write and delete files, commit everything (signed by `signer`, if given), and return
        the new commit's sha."""
        if files:
            self.write(files)
        self.remove(*remove)
        self.git("add", "--all")
        sign = "--gpg-sign" if signer else "--no-gpg-sign"
        args = ["commit", "--quiet", "--no-verify", sign, "-m", message]
        if allow_empty:
            args.append("--allow-empty")
        self._run_dated(args, author, signer)
        return self.head()

    def tag(
        self,
        name: str,
        *,
        message: str | None = None,
        ref: str = "HEAD",
        signer: Signer | None = None,
    ) -> str:
        """A lightweight tag, or an annotated one when `message` is given (signed by `signer`,
        if given); returns what it names."""
        if message is None:
            self.git("tag", name, ref)
        else:
            sign = "--sign" if signer else "--no-sign"
            self._run_dated(["tag", sign, "-a", "-m", message, name, ref], None, signer)
        return self.rev_parse(f"refs/tags/{name}")

    def push(
        self,
        branch: str = DEFAULT_BRANCH,
        *,
        tags: bool = False,
        force: bool = False,
        remote: str = "origin",
    ) -> str:
        """Push `branch` (and all tags if asked); returns the pushed commit's sha."""
        args = ["push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}"]
        if tags:
            args.insert(2, "--tags")
        if force:
            args.insert(2, "--force")
        self.git(*args)
        return self.rev_parse(f"refs/heads/{branch}")

    def fetch(self, remote: str = "origin") -> None:
        self.git("fetch", "--quiet", "--tags", remote)

    def head(self) -> str:
        return self.rev_parse("HEAD")

    def rev_parse(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "--quiet", ref).stdout.strip()

    def _inside(self, relative: str) -> Path:
        target = (self.path / relative).resolve()
        if not target.is_relative_to(self.path.resolve()) or target == self.path.resolve():
            raise ValueError(f"{relative!r} is not a file inside the worktree")
        return target

    def _run_dated(
        self, args: list[str], author: tuple[str, str] | None, signer: Signer | None = None
    ) -> None:
        self._ticks += 1
        stamp = f"@{_EPOCH + self._ticks} +0000"
        name, email = author or (self.author_name, self.author_email)
        env = dict(self.env)
        env.update(
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_AUTHOR_DATE=stamp,
            GIT_COMMITTER_NAME=self.author_name,
            GIT_COMMITTER_EMAIL=self.author_email,
            GIT_COMMITTER_DATE=stamp,
        )
        if signer is not None:
            env.update(signer.env)
            env = _with_config(env, signer.config)
        run_git(args, cwd=self.path, env=env)


def _htpasswd_line(username: str, password: str) -> str:
    # nginx 1.22 verifies {SSHA} itself; crypt(3) schemes would depend on the libc. The password
    # is random and thrown away with the work directory, so salted SHA-1 is strong enough here.
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324
    return f"{username}:{{SSHA}}{base64.b64encode(digest + salt).decode('ascii')}\n"


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


class GitServers:
    """nginx + fcgiwrap + git http-backend over TLS, and sshd, on loopback; see the module doc."""

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "gitmoor",
        password: str | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.repos_dir = self.workdir / "repos"
        self.logs_dir = self.workdir / "logs"
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(18)
        # sshd runs as us and only lets us in; ssh URLs name this account.
        self.ssh_user = getpass.getuser()
        self.https_port = 0
        self.ssh_port = 0
        self.ca_path = self.workdir / "pki" / "ca.crt"
        self.ssh_dir = self.workdir / "ssh"
        self.ssh_key_path = self.ssh_dir / "id_ed25519"
        self.known_hosts_path = self.ssh_dir / "known_hosts"
        self.known_hosts_line = ""
        self._processes: list[_Process] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GitServers:
        if self._processes:
            raise RuntimeError("GitServers already started")
        for directory in (self.repos_dir, self.logs_dir, self.ssh_dir):
            directory.mkdir(parents=True, exist_ok=True)
        try:
            self._start_https()
            self._start_ssh()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what start() started, newest first; safe to call twice or after a failed start."""
        while self._processes:
            _terminate(self._processes.pop())

    def __enter__(self) -> GitServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(process.popen.pid for process in self._processes)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every server log, for a failing test's message."""
        parts = []
        for log in sorted(self.logs_dir.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"==> {log.name} <==\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # -- repositories and client environments -------------------------------------------------

    def create_repo(self, name: str) -> Repo:
        if not name or name.startswith((".", "-")) or "/" in name or ".." in name:
            raise ValueError(f"bad repository name {name!r}")
        path = self.repos_dir / f"{name}.git"
        run_git(["init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(path)])
        return Repo(
            name=name,
            path=path,
            https_url=f"https://{LOOPBACK}:{self.https_port}/{name}.git",
            ssh_url=f"ssh://{self.ssh_user}@{LOOPBACK}:{self.ssh_port}{path}",
        )

    def https_env(
        self,
        *,
        password: str | None = None,
        ca_path: Path | None = None,
        auth: Literal["header", "helper"] = "header",
    ) -> dict[str, str]:
        return git_env_for_https(
            ca_path or self.ca_path,
            self.username,
            self.password if password is None else password,
            auth=auth,
        )

    def ssh_env(self, *, known_hosts_path: Path | None = None) -> dict[str, str]:
        return git_env_for_ssh(self.ssh_key_path, known_hosts_path or self.known_hosts_path)

    # -- HTTPS ---------------------------------------------------------------------------------

    def _start_https(self) -> None:
        ca = CertificateAuthority(self.ca_path.parent)
        assert ca.cert_path == self.ca_path
        server = ca.issue("git-server", "localhost", hosts=(LOOPBACK, "localhost"), server=True)

        nginx_dir = self.workdir / "nginx"
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (nginx_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        htpasswd = nginx_dir / "htpasswd"
        htpasswd.write_text(_htpasswd_line(self.username, self.password), encoding="utf-8")
        htpasswd.chmod(0o600)

        # fcgiwrap runs one CGI at a time per process; a few let a fetch overlap a push.
        socket_path = self.workdir / "fcgiwrap.sock"
        fcgiwrap = self._spawn(
            "fcgiwrap",
            [str(FCGIWRAP), "-c", "4", "-p", str(HTTP_BACKEND), "-s", f"unix:{socket_path}"],
        )
        _wait_for(lambda: socket_path.is_socket(), fcgiwrap, "fcgiwrap socket", self.log_tail)

        def launch(port: int) -> _Process:
            config = nginx_dir / "nginx.conf"
            config.write_text(
                self._nginx_config(port, nginx_dir, socket_path, server.cert, server.key),
                encoding="utf-8",
            )
            # -e: nginx opens its error log before reading the config, by default under /var/log.
            return self._spawn(
                "nginx",
                [
                    str(NGINX),
                    "-p",
                    f"{nginx_dir}/",
                    "-c",
                    str(config),
                    "-e",
                    str(self.logs_dir / "nginx-error.log"),
                ],
            )

        self.https_port = self._start_listening("nginx", launch)

    def _nginx_config(
        self, port: int, prefix: Path, socket_path: Path, cert: Path, key: Path
    ) -> str:
        # Only as root does nginx switch users; workers must stay root to reach the socket.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        tmp = prefix / "tmp"
        logs = self.logs_dir
        return f"""\
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {logs}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {logs}/nginx-access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # Packs of any size may be pushed.
    client_max_body_size 0;
    server {{
        listen {LOOPBACK}:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            auth_basic "gitmoor test";
            auth_basic_user_file {prefix}/htpasswd;
            fastcgi_pass unix:{socket_path};
            # Request headers (Git-Protocol, Content-Encoding) reach the backend as HTTP_* too.
            fastcgi_param SCRIPT_FILENAME {HTTP_BACKEND};
            fastcgi_param PATH_INFO $uri;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param GIT_PROJECT_ROOT {self.repos_dir};
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;
            # Push is allowed explicitly, not only implied by REMOTE_USER being set.
            fastcgi_param GIT_CONFIG_COUNT 1;
            fastcgi_param GIT_CONFIG_KEY_0 http.receivepack;
            fastcgi_param GIT_CONFIG_VALUE_0 true;
        }}
    }}
}}
"""

    # -- SSH -----------------------------------------------------------------------------------

    def _start_ssh(self) -> None:
        host_key = self.ssh_dir / "ssh_host_ed25519_key"
        for key in (host_key, self.ssh_key_path):
            # ssh-keygen would ask before overwriting keys left by an earlier start().
            key.unlink(missing_ok=True)
            Path(f"{key}.pub").unlink(missing_ok=True)
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "gitmoor-test",
                    "-f",
                    str(key),
                ],
                check=True,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
            )
        authorized_keys = self.ssh_dir / "authorized_keys"
        authorized_keys.write_text(
            Path(f"{self.ssh_key_path}.pub").read_text(encoding="utf-8"), encoding="utf-8"
        )
        host_pub = " ".join(Path(f"{host_key}.pub").read_text(encoding="utf-8").split()[:2])
        if os.geteuid() == 0:
            # As root sshd chroots its pre-auth child here and refuses to start without it.
            SSHD_PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)

        def launch(port: int) -> _Process:
            config = self.ssh_dir / "sshd_config"
            config.write_text(
                f"""\
Port {port}
ListenAddress {LOOPBACK}
HostKey {host_key}
PidFile {self.ssh_dir}/sshd.pid
AuthorizedKeysFile {authorized_keys}
AllowUsers {self.ssh_user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
# The work directory is a temp dir whose modes sshd would otherwise reject.
StrictModes no
UsePAM no
PrintMotd no
LogLevel VERBOSE
""",
                encoding="utf-8",
            )
            return self._spawn("sshd", [str(SSHD), "-D", "-e", "-f", str(config)])

        self.ssh_port = self._start_listening("sshd", launch)
        self.known_hosts_line = f"[{LOOPBACK}]:{self.ssh_port} {host_pub}"
        self.known_hosts_path.write_text(self.known_hosts_line + "\n", encoding="utf-8")

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self.logs_dir / f"{name}.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own process group, so stop() can also reap what the server forked (nginx's
                # workers, fcgiwrap's children) without touching anything else.
                start_new_session=True,
            )
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _start_listening(self, name: str, launch: Callable[[int], _Process]) -> int:
        """Start a server on a free port, retrying when another process grabbed the port first."""
        for _attempt in range(3):
            port = free_port(LOOPBACK)
            process = launch(port)
            try:
                _wait_for(
                    partial(_listening, port), process, f"{name} on port {port}", self.log_tail
                )
            except _ExitedEarly:
                self._processes.remove(process)
                _terminate(process)
                if "in use" not in self.log_tail():
                    raise
                continue
            return port
        raise RuntimeError(f"{name} could not bind a free port\n{self.log_tail()}")


class _ExitedEarly(RuntimeError):
    pass


def _listening(port: int) -> bool:
    try:
        wait_listening(port, host=LOOPBACK, timeout=0.0)
    except TimeoutError:
        return False
    return True


def _wait_for(
    ready: Callable[[], bool], process: _Process, what: str, logs: Callable[[], str]
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not ready():
        code = process.popen.poll()
        if code is not None:
            raise _ExitedEarly(f"{process.name} exited with {code} before {what}\n{logs()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {_START_TIMEOUT:.0f}s\n{logs()}")
        time.sleep(0.02)


def _terminate(process: _Process) -> None:
    """SIGTERM the process group we created, SIGKILL it if it lingers, then reap the leader."""
    popen = process.popen
    group = popen.pid  # start_new_session made the child leader of a group with its own pid
    if popen.poll() is None:
        _signal_group(group, signal.SIGTERM)
        try:
            popen.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            popen.wait(timeout=_STOP_TIMEOUT)
    # Children that outlived their leader (say, a worker of a killed nginx) are ours to end too.
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)
