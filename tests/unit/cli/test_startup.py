"""The `gitmoor` command loads only what the command asked for: `--help` and the offline
commands never load the Kubernetes client, the ledger's database layer or the agent; a cluster
command loads the client, but neither the agent runtime nor SQLAlchemy unless it opens a ledger
database itself. Importing kubernetes_asyncio alone costs about 0.4 s of CPU (its package
imports every generated model), SQLAlchemy and the agent as much again: a start-up that pays
for them on `--help` is what this guards against.

Each case runs the real command in a fresh interpreter (imports are per process) and lists the
modules it ended with.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmoor.cli.check import _COLOUR
from gitmoor.commands.check import Outcome

# The agent's runtime and what only the cluster side needs.
CLUSTER_SIDE = (
    "kubernetes_asyncio",
    "kubernetes_validate",
    "aiohttp",
    "gitmoor.kube",
    "gitmoor.commands.cluster",
    "gitmoor.reconcile",
    "gitmoor.server",
    "gitmoor.sources",
)
LEDGER = ("sqlalchemy", "alembic", "gitmoor.ledger")
AGENT = (
    "gitmoor.commands.run",
    "gitmoor.reconcile.agent",
    "gitmoor.server",
    "gitmoor.sources",
    "structlog",
    "dulwich",
)
# What building the help of every command must not load either: gitmoor's models, the schema
# checker (jsonschema), the renderers and every use case. (Typer itself loads pydantic for a
# command's parameters, `--help` of one command included.)
HELP = (
    *CLUSTER_SIDE,
    *LEDGER,
    *AGENT,
    "jsonschema",
    "gitmoor.commands",
    "gitmoor.render",
    "gitmoor.health",
    "gitmoor.install",
    "gitmoor.migrate",
    "gitmoor.model.resources",
)

RUN = textwrap.dedent(
    """
    import sys
    from gitmoor.cli.app import app
    try:
        app(sys.argv[1:], prog_name="gitmoor")
    except SystemExit as done:
        code = done.code or 0
    else:
        code = 0
    print("\\n".join(sorted(sys.modules)), file=sys.stderr)
    print(f"exit {code}", file=sys.stderr)
    """
)


@pytest.fixture(scope="module")
def refused() -> Iterator[str]:
    """A kubeconfig whose API server refuses connections: a port bound here, never listened
    on, so the command fails at once (exit 3) after loading all it needs."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        yield textwrap.dedent(
            f"""\
            apiVersion: v1
            kind: Config
            clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}"}}}}]
            users: [{{name: u, user: {{token: not-a-token}}}}]
            contexts: [{{name: c, context: {{cluster: c, user: u, namespace: apps}}}}]
            current-context: c
            """
        )


def loaded(*args: str, tmp_path: Path, expect: int) -> set[str]:
    """The modules `gitmoor ARGS` ended with."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    *modules, last = done.stderr.strip().splitlines()
    assert last == f"exit {expect}", done.stderr[-2000:]
    return set(modules)


def under(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f"{f}.") for f in forbidden))


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\n"
        "data: {colour: blue}\n"
    )
    return app


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["ledger", "verify", "--help"]],
    ids=" ".join,
)
def test_help_loads_none_of_the_library(args: list[str], tmp_path: Path) -> None:
    modules = loaded(*args, tmp_path=tmp_path, expect=0)
    assert under(modules, HELP) == []
    assert "gitmoor.cli.agent" in modules  # the app was built: every command registered
    if args == ["--help"]:
        assert "pydantic" not in modules


@pytest.mark.parametrize(
    ("args", "did_it", "expect"),
    [
        (["version"], "gitmoor.cli.app", 0),
        (["render", "MANIFESTS"], "gitmoor.render.renderer", 0),
        (["validate", "MANIFESTS"], "gitmoor.validate.validator", 0),
        (["install", "--export"], "gitmoor.install.manifests", 0),
        # Files with no Flux or Argo CD resources in them: exit 1, after reading them.
        (["import", "-f", "MANIFESTS"], "gitmoor.migrate", 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_offline_commands_never_load_the_cluster_side(
    args: list[str], did_it: str, expect: int, manifests: Path, tmp_path: Path
) -> None:
    args = [str(manifests) if a == "MANIFESTS" else a for a in args]
    modules = loaded(*args, tmp_path=tmp_path, expect=expect)
    assert did_it in modules  # the command did its work
    assert under(modules, CLUSTER_SIDE + LEDGER + AGENT) == []


def test_a_cluster_command_loads_the_client_but_not_the_agent(refused: str, tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text(refused)
    kubeconfig = ["--kubeconfig", str(tmp_path / "kubeconfig")]
    status = loaded("status", *kubeconfig, tmp_path=tmp_path, expect=3)
    assert "kubernetes_asyncio" in status  # it did get as far as the cluster
    assert under(status, LEDGER + AGENT) == []
    assert "gitmoor.model.resources" not in status  # it names the API group, builds no models
    # `history` without --ledger asks the agent's ledger API: no database layer of its own.
    history = loaded("history", *kubeconfig, tmp_path=tmp_path, expect=3)
    assert "gitmoor.commands.agent_ledger" in history
    assert under(history, AGENT) == []
    assert under(history, ("sqlalchemy", "alembic", "gitmoor.ledger.store")) == []


def test_every_check_outcome_has_its_colour() -> None:
    # `check` colours outcomes by value so that the checks load only when `check` runs.
    assert set(_COLOUR) == {o.value for o in Outcome}
