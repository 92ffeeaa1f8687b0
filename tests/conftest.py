"""Shared fixtures: one real control plane per test run, a fresh namespace per test."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gitmoor.kube import Kube
from testenv.chartrepo import ChartRepository
from testenv.cluster import ControlPlane, is_running
from testenv.gitserver import GitServers
from testenv.postgres import Postgres
from testenv.registry import Registry

_PLANE_KEY = pytest.StashKey[ControlPlane]()


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing a test runs (agents as processes, CLI commands) may write into the user's own
    state, such as the default local ledger: it goes to this run's temporary directory."""
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "GITMOOR_LEDGER")}
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    os.environ.pop("GITMOOR_LEDGER", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane | None]:
    """The local control plane, or None when GITMOOR_TEST_KUBECONFIG names a cluster to use."""
    if os.environ.get("GITMOOR_TEST_KUBECONFIG"):
        yield None
        return
    plane = ControlPlane(tmp_path_factory.mktemp("cluster"))
    plane.start()
    pytestconfig.stash[_PLANE_KEY] = plane
    try:
        yield plane
    finally:
        plane.stop()
        assert plane.state is not None
        survivors = [p for p in plane.state.processes if is_running(p)]
        assert not survivors, f"control-plane processes outlived the test run: {survivors}"


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane | None) -> Path:
    if control_plane is None:
        return Path(os.environ["GITMOOR_TEST_KUBECONFIG"])
    return control_plane.kubeconfig


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[Kube]:
    async with await Kube.from_kubeconfig(kubeconfig) as client:
        yield client


def _unique_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"{base}-{secrets.token_hex(3)}"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A DNS-1123 name no other test uses, for objects a test creates."""
    return _unique_name(request)


@pytest.fixture
async def namespace(kube: Kube, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    name = _unique_name(request)
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        field_manager="gitmoor-tests",
    )
    yield name
    await kube.delete("v1", "Namespace", name)


@pytest.fixture(scope="session")
def git_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServers]:
    """HTTPS (TLS + basic auth) and SSH Git servers on loopback, shared by the whole run."""
    servers = GitServers(tmp_path_factory.mktemp("git-servers"))
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def chart_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepository]:
    """A Helm chart repository (nginx, TLS + basic auth) on loopback, shared by the whole run;
    each test publishes into a sub-directory of its own (a repository of its own)."""
    repository = ChartRepository(tmp_path_factory.mktemp("chart-repository"))
    repository.start()
    try:
        yield repository
    finally:
        repository.stop()


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An OCI registry (Debian's docker-registry, TLS + htpasswd) on loopback, shared by the
    whole run; each test pushes to repositories of its own."""
    registry = Registry(tmp_path_factory.mktemp("oci-registry"))
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on loopback (Debian's binaries), shared by the whole run."""
    server = Postgres().start()
    pid = server.pid
    try:
        yield server
    finally:
        server.stop()
        assert not server.running, f"PostgreSQL (pid {pid}) outlived the test run"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    plane = item.config.stash.get(_PLANE_KEY, None)
    if report.failed and plane is not None and "control_plane" in getattr(item, "fixturenames", ()):
        report.sections.append(("control-plane logs (tails)", plane.all_log_tails(30)))


@pytest.fixture(scope="session")
def oci_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The OCI registry again, but sending clients to a token service (`auth: token`, the
    bearer flow real registries use), shared by the whole run."""
    registry = Registry(tmp_path_factory.mktemp("oci-token-registry"), token_auth=True)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()
