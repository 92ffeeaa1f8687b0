"""A real OCI registry on loopback for the tests: Debian's `docker-registry` (the reference
distribution server) with TLS from a throwaway CA and htpasswd (bcrypt, written by
apache2-utils' `htpasswd -B`) basic auth, storage in the work directory.

Charts are pushed with the Helm SDK (`helm_python`) in a process of its own, as
`helm push` would: the SDK's Go runtime never enters the test process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path
from types import TracebackType

from testenv.gitserver import LOOPBACK, _ExitedEarly, _listening, _Process, _terminate, _wait_for
from testenv.ociartifact import Pusher
from testenv.pki import CertificateAuthority
from testenv.ports import free_port
from testenv.tokenauth import ISSUER, SERVICE, TokenService

REGISTRY = Path("/usr/bin/docker-registry")
HTPASSWD = Path("/usr/bin/htpasswd")

_PUSH = """
import json, os, sys, tempfile
import helm_python
from helm_python import registry
request = json.loads(sys.stdin.read())
with helm_python.Chart.load(request["chart"]) as chart:
    archive = chart.save(request["into"])
client = registry.RegistryClient(credentials_file=os.path.join(request["into"], "creds.json"))
client.login(request["host"], request["username"], request["password"])
print(json.dumps(client.push(archive, request["remote"])))
"""


class Registry:
    """docker-registry with TLS and htpasswd; see the module doc."""

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "charts",
        token_auth: bool = False,
        notify: tuple[str, str] | None = None,
    ) -> None:
        """`notify`: (url, bearer token) of an endpoint the registry sends its event
        notifications to, as a registry configured to call gitmoor's webhook does."""
        self.workdir = workdir.resolve()
        self.notify = notify
        self.logs_dir = self.workdir / "logs"
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.ca_path = self.workdir / "pki" / "ca.crt"
        self.port = 0
        self._processes: list[_Process] = []
        # With token_auth, the registry sends clients to a token service (bearer flow)
        # instead of asking for Basic credentials itself.
        self.token_auth = token_auth
        self.tokens: TokenService | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> Registry:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority(self.ca_path.parent)
        server = ca.issue("registry", "localhost", hosts=(LOOPBACK, "localhost"), server=True)
        htpasswd = self.workdir / "htpasswd"
        line = subprocess.run(
            [str(HTPASSWD), "-Bbn", self.username, self.password],
            check=True,
            capture_output=True,
        ).stdout
        htpasswd.write_bytes(line)
        htpasswd.chmod(0o600)
        if self.token_auth:
            self.tokens = TokenService(ca, self.username, self.password).start()
            auth = (
                f"token: {{realm: '{self.tokens.realm}', service: {SERVICE}, "
                f"issuer: {ISSUER}, rootcertbundle: {self.tokens.root_bundle}}}"
            )
        else:
            auth = f"htpasswd: {{realm: gitmoor-test, path: {htpasswd}}}"
        try:
            for _attempt in range(3):
                port = free_port(LOOPBACK)
                config = self.workdir / "config.yml"
                config.write_text(
                    textwrap.dedent(
                        f"""\
                        version: 0.1
                        log: {{level: info}}
                        storage:
                          filesystem: {{rootdirectory: {self.workdir / "storage"}}}
                          delete: {{enabled: true}}
                        http:
                          addr: {LOOPBACK}:{port}
                          tls: {{certificate: {server.cert}, key: {server.key}}}
                        auth:
                          {auth}
                        """
                    )
                    + self._notifications()
                )
                process = self._spawn([str(REGISTRY), "serve", str(config)])
                try:
                    _wait_for(
                        partial(_listening, port),
                        process,
                        f"docker-registry on port {port}",
                        self.log_tail,
                    )
                except _ExitedEarly:
                    self._processes.remove(process)
                    _terminate(process)
                    if "in use" not in self.log_tail():
                        raise
                    continue
                self.port = port
                return self
            raise RuntimeError(f"docker-registry could not bind a free port\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _notifications(self) -> str:
        if self.notify is None:
            return ""
        url, token = self.notify
        return textwrap.dedent(
            f"""\
            notifications:
              endpoints:
                - name: gitmoor
                  url: {url}
                  headers: {{Authorization: [Bearer {token}]}}
                  timeout: 2s
                  threshold: 5
                  backoff: 1s
            """
        )

    def stop(self) -> None:
        while self._processes:
            _terminate(self._processes.pop())
        if self.tokens is not None:
            self.tokens.stop()

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for log in sorted(self.logs_dir.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"==> {log.name} <==\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def requests(self) -> list[str]:
        """`METHOD PATH` of the requests the registry served (from its log)."""
        out = []
        log = self.logs_dir / "registry.log"
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "response completed" not in line:
                continue
            method = _field(line, "http.request.method")
            uri = _field(line, "http.request.uri")
            status = _field(line, "http.response.status")
            out.append(f"{method} {uri} {status}")
        return out

    def push(
        self, name: str, version: str, *, repo: str, templates: dict[str, str], values: str = ""
    ) -> dict[str, object]:
        """Package chart `name` at `version` and push it to `oci://<host>/<repo>`."""
        source = self.workdir / "sources" / f"{repo}-{name}-{version}" / name
        (source / "templates").mkdir(parents=True, exist_ok=True)
        (source / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"
        )
        (source / "values.yaml").write_text(textwrap.dedent(values))
        for file, text in templates.items():
            (source / "templates" / file).write_text(textwrap.dedent(text))
        into = source.parent / "out"
        into.mkdir(exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", _PUSH],
            input=json.dumps(
                {
                    "chart": str(source),
                    "into": str(into),
                    "host": self.host,
                    "username": self.username,
                    "password": self.password,
                    "remote": f"oci://{self.host}/{repo}",
                }
            ),
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HOME": str(self.workdir), "SSL_CERT_FILE": str(self.ca_path)},
        )
        if done.returncode != 0:
            raise RuntimeError(f"pushing {name} {version} failed:\n{done.stderr}\n{done.stdout}")
        answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return answer

    def artifacts(self) -> Pusher:
        """A pusher of manifests artifacts (`flux push artifact`'s layout) to this registry."""
        tokens = self.tokens
        return Pusher(
            self.host,
            self.username,
            self.password,
            self.ca_path,
            authorization=tokens.push_authorization if tokens is not None else None,
        )

    def tamper_blob(self, digest: str) -> None:
        """Change the stored bytes of a blob behind the registry's back (a corrupt disk, a
        compromised mirror): it is then served under its digest with other content."""
        hexdigest = digest.removeprefix("sha256:")
        data = (
            self.workdir
            / "storage"
            / "docker"
            / "registry"
            / "v2"
            / "blobs"
            / "sha256"
            / hexdigest[:2]
            / hexdigest
            / "data"
        )
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))

    def _spawn(self, argv: list[str]) -> _Process:
        log = self.logs_dir / "registry.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        process = _Process("docker-registry", popen, log)
        self._processes.append(process)
        return process


def _field(line: str, name: str) -> str:
    marker = f'{name}="'
    start = line.find(marker)
    if start < 0:
        marker = f"{name}="
        start = line.find(marker)
        if start < 0:
            return ""
        rest = line[start + len(marker) :]
        return rest.split(" ", 1)[0]
    rest = line[start + len(marker) :]
    return rest.split('"', 1)[0]
