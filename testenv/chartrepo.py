"""A real Helm chart repository on loopback for the tests: nginx serving a directory of chart
archives and its `index.yaml` over TLS (a throwaway CA) with basic auth.

Charts are packaged and indexed with the Helm SDK the project renders with (`helm_python`:
`Chart.save` as `helm package`, `repo_index_generate` as `helm repo index`), in a process of its
own: the SDK's Go runtime never enters the test process. nginx answers conditional requests
(ETag, Last-Modified) itself, as static hosting of chart repositories does, and logs every
request, so a test can see what the agent downloaded.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType

import yaml

from testenv.gitserver import (
    LOOPBACK,
    NGINX,
    _ExitedEarly,
    _htpasswd_line,
    _listening,
    _Process,
    _terminate,
    _wait_for,
)
from testenv.pki import CertificateAuthority
from testenv.ports import free_port

_PACKAGE = """
import json, sys
import helm_python
from helm_python import registry
request = json.loads(sys.stdin.read())
with helm_python.Chart.load(request["chart"]) as chart:
    print(chart.save(request["into"]))
registry.repo_index_generate(request["into"])
"""


class ChartRepository:
    """nginx with TLS and basic auth serving `charts_dir`; see the module doc."""

    def __init__(self, workdir: Path, *, username: str = "charts") -> None:
        self.workdir = workdir.resolve()
        self.charts_dir = self.workdir / "www"
        self.logs_dir = self.workdir / "logs"
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.ca_path = self.workdir / "pki" / "ca.crt"
        self.port = 0
        self._processes: list[_Process] = []

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.logs_dir / "nginx-access.log"

    def requests(self) -> list[str]:
        """`METHOD PATH STATUS` of every request served so far."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text(encoding="utf-8").splitlines():
            # log_format: $request_method $uri $status
            out.append(line.strip())
        return out

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ChartRepository:
        for directory in (self.charts_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority(self.ca_path.parent)
        server = ca.issue("chart-server", "localhost", hosts=(LOOPBACK, "localhost"), server=True)
        nginx_dir = self.workdir / "nginx"
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (nginx_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        htpasswd = nginx_dir / "htpasswd"
        htpasswd.write_text(_htpasswd_line(self.username, self.password), encoding="utf-8")
        htpasswd.chmod(0o600)
        try:
            for _attempt in range(3):
                port = free_port(LOOPBACK)
                config = nginx_dir / "nginx.conf"
                config.write_text(self._config(port, nginx_dir, server.cert, server.key))
                process = self._spawn(
                    [
                        str(NGINX),
                        "-p",
                        f"{nginx_dir}/",
                        "-c",
                        str(config),
                        "-e",
                        str(self.logs_dir / "nginx-error.log"),
                    ]
                )
                try:
                    _wait_for(
                        partial(_listening, port),
                        process,
                        f"nginx on port {port}",
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
            raise RuntimeError(f"nginx could not bind a free port\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._processes:
            _terminate(self._processes.pop())

    def __enter__(self) -> ChartRepository:
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
        return tuple(p.popen.pid for p in self._processes)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for log in sorted(self.logs_dir.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"==> {log.name} <==\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # -- charts ------------------------------------------------------------------------------
    def publish(
        self,
        name: str,
        version: str,
        *,
        templates: Mapping[str, str] | None = None,
        values: str = "",
        repo: str = "",
        dependencies: Sequence[Mapping[str, str]] = (),
    ) -> Path:
        """Package chart `name` at `version` into the repository (`repo`: a sub-directory, a
        repository of its own) and index it again; returns the archive. `dependencies` are
        listed in its Chart.yaml and not packaged with it (as `helm package` without
        `--dependency-update` leaves them)."""
        source = self.workdir / "sources" / f"{name}-{version}" / name
        source.mkdir(parents=True, exist_ok=True)
        chart: dict[str, object] = {
            "apiVersion": "v2",
            "name": name,
            "version": version,
            "type": "application",
        }
        if dependencies:
            chart["dependencies"] = [dict(d) for d in dependencies]
        (source / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
        (source / "values.yaml").write_text(textwrap.dedent(values))
        (source / "templates").mkdir(exist_ok=True)
        for file, text in (templates or {}).items():
            (source / "templates" / file).write_text(textwrap.dedent(text))
        into = self.charts_dir / repo if repo else self.charts_dir
        into.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", _PACKAGE],
            input=json.dumps({"chart": str(source), "into": str(into)}),
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HOME": str(self.workdir)},
        )
        if done.returncode != 0:
            raise RuntimeError(f"packaging {name} {version} failed:\n{done.stderr}")
        return Path(done.stdout.strip().splitlines()[-1])

    # -- internals ---------------------------------------------------------------------------
    def _config(self, port: int, prefix: Path, cert: Path, key: str | Path) -> str:
        user = "user root root;\n" if os.geteuid() == 0 else ""
        tmp = prefix / "tmp"
        return f"""\
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {self.logs_dir}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    log_format requests '$request_method $uri $status';
    access_log {self.access_log} requests;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/x-yaml yaml; application/gzip tgz; }}
    server {{
        listen {LOOPBACK}:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        # Authenticated, then denied: as a repository manager answers a user without read
        # access to one repository.
        location /forbidden/ {{
            auth_basic "gitmoor charts";
            auth_basic_user_file {prefix}/htpasswd;
            return 403;
        }}
        location / {{
            auth_basic "gitmoor charts";
            auth_basic_user_file {prefix}/htpasswd;
            root {self.charts_dir};
        }}
    }}
}}
"""

    def _spawn(self, argv: list[str]) -> _Process:
        log = self.logs_dir / "nginx.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        process = _Process("nginx", popen, log)
        self._processes.append(process)
        return process
