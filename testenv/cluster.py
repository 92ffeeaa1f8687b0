"""A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC on, admission on),
kube-controller-manager, kube-scheduler and kwok standing in for kubelets.

Used by the pytest session fixture, `make demo`, and the benchmarks. From the command line:

    python -m testenv.cluster start [--dir DIR] [--nodes N]   # prints the admin kubeconfig path
    python -m testenv.cluster stop  [--dir DIR]
    python -m testenv.cluster status [--dir DIR]

Every process it starts is recorded (pid and start time) in `DIR/state.json`; `stop` signals
exactly those processes and nothing else.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testenv import build
from testenv.pki import CertificateAuthority, KeyPair, write_rsa_key
from testenv.ports import free_port, wait_listening

HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
# The first address of the service range: the `kubernetes` Service's ClusterIP, which the serving
# certificate must name for in-cluster clients.
SERVICE_IP = "10.96.0.1"
# Components are started in this order and stopped in the reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
DEFAULT_DIR = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / "gitmoor-cluster"


class ClusterError(RuntimeError):
    """The control plane could not be started or did not become ready."""


@dataclass
class Process:
    name: str
    pid: int
    # /proc/<pid>/stat field 22: pids are reused, so a pid alone does not prove a process is ours.
    start_ticks: int
    log: str


@dataclass
class State:
    directory: str
    kubeconfig: str
    apiserver_url: str
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def save(self) -> None:
        path = Path(self.directory) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, directory: Path) -> State | None:
        path = directory / "state.json"
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        raw["processes"] = [Process(**p) for p in raw["processes"]]
        return cls(**raw)


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent's wait() is missing
        return None
    return int(fields[19])


def is_running(proc: Process) -> bool:
    return _start_ticks(proc.pid) == proc.start_ticks


def _die_with_parent() -> None:
    # Tie test-run components to the pytest process: if it is killed hard, the kernel sends
    # SIGTERM to them, so no control plane outlives its test run.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gitmoor-test",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert),
                    "client-key-data": b64(client.key),
                },
            }
        ],
        "contexts": [
            {"name": "gitmoor-test", "context": {"cluster": "gitmoor-test", "user": user}}
        ],
        "current-context": "gitmoor-test",
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML, and needs no YAML library here
    path.chmod(0o600)
    return path


class ControlPlane:
    """Start, reach and stop one local control plane living in `directory`."""

    def __init__(self, directory: Path, *, nodes: int = 3, tie_to_parent: bool = True) -> None:
        self.directory = directory.resolve()
        self.nodes = nodes
        self.tie_to_parent = tie_to_parent
        self.state: State | None = None
        self._popen: dict[str, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, list[str]] = {}

    # -- paths -------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, *, timeout: float = 120.0, attempts: int = 3) -> State:
        """Start the control plane. Ports are picked free, but another process may take one
        before our component binds it: then everything started is stopped and it starts again
        on new ports."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout=timeout)
            except ClusterError as err:
                if "address already in use" not in str(err) or attempt == attempts:
                    raise
                self.stop()
                shutil.rmtree(self.directory / "etcd-data", ignore_errors=True)
        raise AssertionError("unreachable")

    def _start_once(self, *, timeout: float) -> State:
        existing = State.load(self.directory)
        if existing and any(is_running(p) for p in existing.processes):
            raise ClusterError(
                f"a control plane already runs from {self.directory}; stop it first "
                f"(python -m testenv.cluster stop --dir {self.directory})"
            )
        bin_dir = build.ensure_built()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        ports = {
            name: free_port()
            for name in (
                "etcd",
                "etcd-peer",
                "apiserver",
                "controller-manager",
                "scheduler",
                "kwok",
            )
        }
        server = f"https://{HOST}:{ports['apiserver']}"
        self.state = State(str(self.directory), str(self.kubeconfig), server, ports)
        self.state.save()
        pki = self._pki()
        try:
            self._launch(
                "etcd",
                [
                    str(bin_dir / "etcd"),
                    "--name=gitmoor-test",
                    f"--data-dir={self.directory / 'etcd-data'}",
                    f"--listen-client-urls=http://{HOST}:{ports['etcd']}",
                    f"--advertise-client-urls=http://{HOST}:{ports['etcd']}",
                    f"--listen-peer-urls=http://{HOST}:{ports['etcd-peer']}",
                    f"--initial-advertise-peer-urls=http://{HOST}:{ports['etcd-peer']}",
                    f"--initial-cluster=gitmoor-test=http://{HOST}:{ports['etcd-peer']}",
                    "--auto-compaction-retention=1",
                    "--quota-backend-bytes=8589934592",
                    # A throwaway test store: durability across power loss buys nothing here and
                    # fsync dominates write latency on shared disks.
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
            )
            wait_listening(ports["etcd"], timeout=30)
            self._launch(
                "kube-apiserver",
                [
                    str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers=http://{HOST}:{ports['etcd']}",
                    f"--bind-address={HOST}",
                    f"--advertise-address={HOST}",
                    # The endpoint reconciler refuses loopback addresses, and no Pod here ever
                    # dials the `kubernetes` Service: clients use the kubeconfig's loopback URL.
                    "--endpoint-reconciler-type=none",
                    f"--secure-port={ports['apiserver']}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--authorization-mode=Node,RBAC",
                    f"--client-ca-file={pki['ca']}",
                    f"--tls-cert-file={pki['apiserver.crt']}",
                    f"--tls-private-key-file={pki['apiserver.key']}",
                    f"--service-account-key-file={pki['sa.key']}",
                    f"--service-account-signing-key-file={pki['sa.key']}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--allow-privileged=true",
                    "--profiling=false",
                    "--event-ttl=1h",
                ],
            )
            self._wait_ready(timeout)
            self._launch(
                "kube-controller-manager",
                [
                    str(bin_dir / "kube-controller-manager"),
                    f"--kubeconfig={pki['controller-manager.kubeconfig']}",
                    f"--authentication-kubeconfig={pki['controller-manager.kubeconfig']}",
                    f"--authorization-kubeconfig={pki['controller-manager.kubeconfig']}",
                    f"--bind-address={HOST}",
                    f"--secure-port={ports['controller-manager']}",
                    "--leader-elect=false",
                    "--use-service-account-credentials=true",
                    f"--root-ca-file={pki['ca']}",
                    f"--service-account-private-key-file={pki['sa.key']}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                ],
            )
            self._launch(
                "kube-scheduler",
                [
                    str(bin_dir / "kube-scheduler"),
                    f"--kubeconfig={pki['scheduler.kubeconfig']}",
                    f"--authentication-kubeconfig={pki['scheduler.kubeconfig']}",
                    f"--authorization-kubeconfig={pki['scheduler.kubeconfig']}",
                    f"--bind-address={HOST}",
                    f"--secure-port={ports['scheduler']}",
                    "--leader-elect=false",
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                ],
            )
            self._launch(
                "kwok",
                [
                    str(bin_dir / "kwok"),
                    f"--kubeconfig={pki['kwok.kubeconfig']}",
                    f"--config={bin_dir / build.KWOK_STAGES}",
                    "--manage-all-nodes=true",
                    "--node-lease-duration-seconds=40",
                    f"--server-address={HOST}:{ports['kwok']}",
                ],
            )
            self._register_nodes()
            self._register_volumes()
            self._wait_settled(timeout)
        except BaseException:
            self.stop()
            raise
        return self.state

    def stop(self, *, grace: float = 10.0) -> None:
        state = self.state or State.load(self.directory)
        if state is None:
            return
        for proc in reversed(state.processes):
            if is_running(proc):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(state.processes):
            while is_running(proc) and time.monotonic() < deadline:
                self._reap(proc)
                time.sleep(0.05)
            if is_running(proc):
                os.kill(proc.pid, signal.SIGKILL)
                while is_running(proc):
                    self._reap(proc)
                    time.sleep(0.02)
            self._reap(proc)

    def _reap(self, proc: Process) -> None:
        popen = self._popen.get(proc.name)
        if popen is not None and popen.pid == proc.pid:
            popen.poll()

    # -- helpers -----------------------------------------------------------------------------
    def _pki(self) -> dict[str, Path]:
        ca = CertificateAuthority(self.directory / "pki", name="gitmoor-test-cluster-ca")
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            hosts=(
                HOST,
                "localhost",
                SERVICE_IP,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
        )
        files: dict[str, Path] = {
            "ca": ca.cert_path,
            "apiserver.crt": serving.cert,
            "apiserver.key": serving.key,
            "sa.key": write_rsa_key(self.directory / "pki" / "sa.key"),
        }
        server = f"https://{HOST}:{self._port('apiserver')}"
        identities = {
            # name -> (CN, O): the built-in RBAC roles bind these exact users and groups.
            "admin": ("gitmoor-test-admin", "system:masters"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
            "kwok": ("kwok-controller", "system:masters"),
        }
        for name, (cn, org) in identities.items():
            pair = ca.issue(name, cn, organization=org, client=True)
            target = self.kubeconfig if name == "admin" else self.directory / f"{name}.kubeconfig"
            files[f"{name}.kubeconfig"] = _kubeconfig(target, server, ca.cert_path, pair, cn)
            files[f"{name}.crt"], files[f"{name}.key"] = pair.cert, pair.key
        return files

    def _port(self, name: str) -> int:
        assert self.state is not None
        return self.state.ports[name]

    def _launch(self, name: str, argv: list[str]) -> None:
        assert self.state is not None
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.tie_to_parent else None,
            )
        ticks = _start_ticks(popen.pid)
        if ticks is None:
            raise ClusterError(f"{name} exited at once:\n{self.log_tail(name)}")
        self._popen[name] = popen
        self._argv[name] = argv
        self.state.processes.append(Process(name, popen.pid, ticks, str(log_path)))
        self.state.save()

    # -- faults, for tests -------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL one component (e.g. kube-apiserver), as a crash would."""
        assert self.state is not None
        for proc in [p for p in self.state.processes if p.name == name]:
            if is_running(proc):
                os.kill(proc.pid, signal.SIGKILL)
                while is_running(proc):
                    self._reap(proc)
                    time.sleep(0.02)
            self._reap(proc)
            self.state.processes.remove(proc)
        self.state.save()

    def relaunch(self, name: str, *, timeout: float = 60.0) -> None:
        """Start a killed component again with the arguments it had; waits for the API server
        to be ready when that is the one."""
        self._launch(name, self._argv[name])
        if name == "kube-apiserver":
            self._wait_ready(timeout)

    def _check_alive(self) -> None:
        assert self.state is not None
        for proc in self.state.processes:
            if not is_running(proc):
                raise ClusterError(
                    f"{proc.name} exited during start-up:\n{self.log_tail(proc.name)}"
                )

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        if not path.is_file():
            return f"(no log for {name})"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def all_log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {n} ---\n{self.log_tail(n, lines)}" for n in COMPONENTS)

    # -- talking to the apiserver without a client library -------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        pki = self.directory / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.state is not None
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - a fixed https URL of our own apiserver
            self.state.apiserver_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as resp:  # noqa: S310
                raw = resp.read()
                status: int = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def _poll(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if check():
                    return
            except (OSError, ssl.SSLError) as err:
                last = err
            time.sleep(0.2)
        raise ClusterError(
            f"timed out after {timeout:.0f}s waiting for {what} ({last})\n" + self.all_log_tails()
        )

    def _wait_ready(self, timeout: float) -> None:
        self._poll(
            "kube-apiserver /readyz", lambda: self.request("GET", "/readyz")[0] == 200, timeout
        )

    def _register_nodes(self) -> None:
        for index in range(self.nodes):
            name = f"kwok-node-{index}"
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node-role.kubernetes.io/agent": "",
                    },
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                },
            }
            status, body = self.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ClusterError(f"could not register node {name}: HTTP {status}: {body}")

    def _register_volumes(self, count: int = 3) -> None:
        """PersistentVolumes without a class, standing in for a storage provisioner: a claim
        without a class (gitmoor's ledger claim, by default) binds to one, as it would to a
        provisioned volume, and its Pod can be scheduled."""
        for index in range(count):
            name = f"testenv-volume-{index}"
            volume = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/tmp/{name}"},  # noqa: S108 - kwok never mounts it
                },
            }
            status, body = self.request("POST", "/api/v1/persistentvolumes", volume)
            if status not in (201, 409):
                raise ClusterError(f"could not register volume {name}: HTTP {status}: {body}")

    def _wait_settled(self, timeout: float) -> None:
        def nodes_ready() -> bool:
            status, body = self.request("GET", "/api/v1/nodes")
            if status != 200:
                return False
            ready = [
                n
                for n in body["items"]
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (n.get("status") or {}).get("conditions") or []
                )
            ]
            return len(ready) >= self.nodes

        # Pods can only be created once the ServiceAccount controller made `default`.
        self._poll("kwok to make the nodes Ready", nodes_ready, timeout)
        self._poll(
            "the controller-manager to create the default ServiceAccount",
            lambda: (
                self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
            ),
            timeout,
        )
        for name in ("controller-manager", "scheduler"):
            wait_listening(self._port(name), timeout=timeout)


def pids(directory: Path) -> Iterator[Process]:
    state = State.load(directory)
    yield from (state.processes if state else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the local test control plane")
    parser.add_argument("command", choices=("start", "stop", "status", "build"))
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"run directory ({DEFAULT_DIR})"
    )
    parser.add_argument("--nodes", type=int, default=3, help="kwok nodes to register")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.dir, nodes=args.nodes, tie_to_parent=False)
    if args.command == "build":
        print(build.ensure_built())
    elif args.command == "start":
        started = time.monotonic()
        state = plane.start()
        print(
            f"control plane up in {time.monotonic() - started:.1f}s at {state.apiserver_url}",
            file=sys.stderr,
        )
        print(state.kubeconfig)
    elif args.command == "stop":
        plane.stop()
        print(f"stopped the control plane in {args.dir}", file=sys.stderr)
    else:
        running = [p for p in pids(args.dir) if is_running(p)]
        for proc in pids(args.dir):
            print(f"{proc.name:<24} pid {proc.pid:<8} {'running' if is_running(proc) else 'gone'}")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


@contextlib.contextmanager
def throwaway(directory: Path) -> Iterator[ControlPlane]:
    """A control plane of its own for tests that must not touch the shared one (cluster-wide
    installs, a killed API server); stopped without letting watches drain."""
    plane = ControlPlane(directory)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop(grace=1.0)
