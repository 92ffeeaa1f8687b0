"""Namespaces the kubectl way: `-n`, else the kubeconfig context's namespace, else `default`;
`-A` for all. Hints name the namespace, so pasting them works.

The commands run without a cluster: what they would ask of it is recorded instead.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gitmoor.cli.app import app
from gitmoor.cli.common import cluster_flags, namespace_for, pasteable
from gitmoor.commands.operations import OperationError, StatusListing, sync_now
from gitmoor.kube.kubeconfig import context_namespace


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """Two contexts: the current one sets namespace team-a, `plain` sets none."""
    path = tmp_path / "kubeconfig"
    cluster = {"name": "local", "cluster": {"server": "https://127.0.0.1:1"}}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "me", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": "team",
                        "context": {"cluster": "local", "user": "me", "namespace": "team-a"},
                    },
                    {"name": "other", "context": {"cluster": "local", "namespace": "team-b"}},
                    {"name": "plain", "context": {"cluster": "local", "user": "me"}},
                ],
                "current-context": "team",
            }
        )
    )
    return path


def test_the_namespace_comes_from_the_flag_then_the_context_then_default(
    kubeconfig: Path, tmp_path: Path
) -> None:
    config = str(kubeconfig)
    assert namespace_for("web-ns", config, None) == "web-ns"
    assert namespace_for(None, config, None) == "team-a"
    assert namespace_for(None, config, "other") == "team-b"
    assert namespace_for(None, config, "plain") == "default"
    assert namespace_for(None, config, "no-such-context") == "default"
    assert context_namespace(tmp_path / "missing", None) == "default"
    # KUBECONFIG may list several files: the first is read.
    assert namespace_for(None, f"{config}:{tmp_path / 'other'}", None) == "team-a"


def test_in_a_pod_the_namespace_is_the_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    # No service account file here: `default`, and no error.
    assert context_namespace(None, None) == "default"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """What each command asked of the cluster: (operation, name, namespace)."""
    calls: list[tuple[str, ...]] = []

    @asynccontextmanager
    async def fake_kube() -> AsyncIterator[object]:
        yield object()

    async def connect(*_: object) -> Any:
        return fake_kube()

    async def status_listing(_: object, namespace: str) -> StatusListing:
        calls.append(("status", "", namespace))
        return StatusListing([], [], "1", {})

    async def sync_now(_: object, name: str, namespace: str, **__: Any) -> dict[str, Any]:
        calls.append(("sync", name, namespace))
        return {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}

    async def set_suspended(_: object, kind: str, name: str, namespace: str, __: bool) -> None:
        calls.append((f"suspend {kind}", name, namespace))

    async def unpin(_: object, name: str, namespace: str) -> None:
        calls.append(("unpin", name, namespace))

    # The commands import what they call when they run (the CLI starts without the cluster
    # side), so the fakes replace it where it is defined.
    for home, name, fake in (
        ("gitmoor.commands.cluster", "connect", connect),
        ("gitmoor.commands.operations", "status_listing", status_listing),
        ("gitmoor.commands.operations", "sync_now", sync_now),
        ("gitmoor.commands.operations", "set_suspended", set_suspended),
        ("gitmoor.commands.operations", "unpin", unpin),
    ):
        monkeypatch.setattr(f"{home}.{name}", fake)
    return calls


def run(*args: str, kubeconfig: Path) -> str:
    result = CliRunner().invoke(app, list(args), env={"KUBECONFIG": str(kubeconfig)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_uses_the_contexts_namespace(
    asked: list[tuple[str, ...]], kubeconfig: Path
) -> None:
    assert "Sync team-a/web ready" in run("sync", "web", kubeconfig=kubeconfig)
    run("suspend", "web", kubeconfig=kubeconfig)
    run("resume", "web", kubeconfig=kubeconfig)
    run("status", kubeconfig=kubeconfig)
    run("status", "-A", kubeconfig=kubeconfig)
    run("sync", "web", "-n", "team-c", kubeconfig=kubeconfig)
    run("sync", "web", "--context", "other", kubeconfig=kubeconfig)
    assert asked == [
        ("sync", "web", "team-a"),
        ("suspend Sync", "web", "team-a"),
        ("suspend Sync", "web", "team-a"),
        ("unpin", "web", "team-a"),
        ("status", "", "team-a"),
        ("status", "", ""),
        ("sync", "web", "team-c"),
        ("sync", "web", "team-b"),
    ]


class SuspendedSync:
    """Just enough of a cluster for `sync_now` to find a suspended Sync."""

    async def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": {"suspend": True}}


def test_the_suspended_hint_works_when_pasted() -> None:
    with pytest.raises(OperationError) as raised:
        asyncio.run(sync_now(SuspendedSync(), "web", "team-a", timeout=1))  # type: ignore[arg-type]
    assert "`gitmoor resume web -n team-a` first" in str(raised.value)


# -- hints that work when pasted: -n, and the cluster flags the user needed -----------------------


def test_cluster_flags_name_what_the_defaults_would_not_reach(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(kubeconfig)
    monkeypatch.setenv("KUBECONFIG", config)
    cases = {
        (config, None): "",
        (config, "team"): "",  # the current context: pasting reaches it anyway
        (config, "other"): " --context other",
    }
    for (path, context), flags in cases.items():
        assert cluster_flags(path, context) == flags
    monkeypatch.delenv("KUBECONFIG")  # the file came from --kubeconfig: the hint repeats it
    assert cluster_flags(config, "other") == f" --kubeconfig {config} --context other"
    assert pasteable("kubectl -n ns logs deployment/gitmoor", config, None).endswith(
        f"deployment/gitmoor --kubeconfig {config}"
    )
    assert pasteable("ask a cluster admin", config, "other") == "ask a cluster admin"


def test_the_suspended_hint_pasted_reaches_the_same_sync(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gitmoor sync web --context other` refuses a suspended Sync; the command it prints,
    pasted as it is, resumes that very Sync (namespace team-b of context other)."""
    reached: list[tuple[str | None, str, str]] = []

    async def connect(_: object, context: str | None) -> Any:
        @asynccontextmanager
        async def cluster() -> AsyncIterator[object]:
            yield SuspendedSync()

        reached.append((context, "connect", ""))
        return cluster()

    async def set_suspended(_: object, kind: str, name: str, namespace: str, __: bool) -> None:
        reached.append((None, f"resume {name}", namespace))

    async def unpin(_: object, name: str, namespace: str) -> None:
        pass

    monkeypatch.setattr("gitmoor.commands.cluster.connect", connect)
    monkeypatch.setattr("gitmoor.commands.operations.set_suspended", set_suspended)
    monkeypatch.setattr("gitmoor.commands.operations.unpin", unpin)
    env = {"KUBECONFIG": str(kubeconfig), "COLUMNS": "300"}
    refused = CliRunner().invoke(app, ["sync", "web", "--context", "other"], env=env)
    assert refused.exit_code == 3
    hint = refused.stderr.split("`")[1]
    assert hint == "gitmoor resume web -n team-b --context other"
    reached.clear()
    command = shlex.split(hint)
    assert command[0] == "gitmoor"
    pasted = CliRunner().invoke(app, command[1:], env=env)
    assert pasted.exit_code == 0, pasted.output
    assert reached[:2] == [("other", "connect", ""), (None, "resume web", "team-b")]
    assert {context for context, what, _ in reached if what == "connect"} == {"other"}
