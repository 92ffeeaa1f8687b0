"""Never a traceback for a user error: every command, fed bad values, ends in one `error:` line
on stderr and the documented exit code (2 wrong usage, 3 the environment: here, no cluster,
because there is no kubeconfig).

The commands run in this process (one real process checks the same at the end), with a home
directory that holds no kubeconfig.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitmoor.cli.app import app

USAGE, ENVIRONMENT = 2, 3


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    (root / "home").mkdir()
    (root / "repo" / ".git").mkdir(parents=True)
    (root / "repo" / "app").mkdir()
    (root / "repo" / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
    )
    (root / "broken.yaml").write_text("a: [\n")
    (root / "list.yaml").write_text("- 1\n")
    (root / "kubeconfig-garbage").write_text("garbage: [\n")
    (root / "kubeconfig-empty").write_text("apiVersion: v1\nkind: Config\n")
    return root


def _environment(workdir: Path, env: dict[str, str] | None) -> dict[str, str | None]:
    return {
        "KUBECONFIG": None,
        "KUBERNETES_SERVICE_HOST": None,
        "GITMOOR_LEDGER": None,
        "HOME": str(workdir / "home"),
        "XDG_STATE_HOME": str(workdir / "state"),
        "COLUMNS": "80",
        **(env or {}),
    }


def gitmoor(workdir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        result = CliRunner().invoke(app, list(args), env=_environment(workdir, env))
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


REPO, APP = "repo", "repo/app"

BAD_USAGE = [
    # durations
    ("sync", "web", "--timeout", "5x"),
    ("rollback", "web", "--timeout", "abc"),
    ("uninstall", "--timeout", "soon"),
    ("bootstrap", "--url", "https://git.example/a.git", "--path", "p", "--timeout", "5x"),
    ("run", "--http-header-timeout", "5x"),
    ("run", "--ledger-retention", "forever"),
    # names and namespaces
    ("sync", "Bad_Name"),
    ("suspend", "web.", "-n", "team"),
    ("resume", "-web"),
    ("rollback", "UPPER"),
    ("sync", "web", "-n", "Team"),
    ("status", "-n", "team_a"),
    ("history", "-n", "team.a"),
    ("diff", APP, "--sync", "No_Such"),
    ("render", APP, "--sync", "Bad_Name"),
    ("bootstrap", "--url", "https://git.example/a.git", "--path", "p", "--name", "Bad"),
    ("install", "-n", "Bad"),
    # paths
    ("render", "no/such/dir"),
    ("render", APP, "-f", "no-such.yaml"),
    ("render", APP, "-f", "broken.yaml"),
    ("render", APP, "-f", "list.yaml"),
    ("render", APP, "--sync", "nosuch"),
    ("validate", "no/such/dir"),
    ("validate", APP, "--helm-values", "broken.yaml"),
    ("diff", "no/such/dir"),
    ("run", "--config", "no-such.yaml"),
    # outputs and other values
    ("status", "-o", "bogus"),
    ("render", APP, "-o", "table"),
    ("history", "-o", "table2"),
    ("dora", "-o", "name"),
    ("validate", APP, "-o", "table"),
    ("validate", APP, "--kubernetes-version", "0.1"),
    ("where", "web"),
    ("at", "yesterday"),
    ("history", "--since", "last week"),
    ("history", "--limit", "0"),
    ("history", "--agent-namespace", "Gitmoor_System"),
    ("dora", "--since", "a while"),
    ("install", "--tenancy", "anarchy"),
    ("install", "--replicas", "3"),  # no --ledger-secret: one SQLite file cannot be shared
    ("install", "--replicas", "0"),
    ("install", "--replicas", "2", "--ledger-secret", "Bad_Name"),
    ("run", "--lease-duration", "3s", "--lease-renew", "2s"),
    ("run", "--concurrency", "0"),
    # tree, trace, events, check, install --wait
    ("tree", "Bad_Name"),
    ("tree", "web", "-o", "bogus"),
    ("trace", "web"),
    ("trace", "deployment/Bad_Name"),
    ("trace", "apps/one/Deployment/web"),
    ("trace", "deploy/web", "-o", "wide"),
    ("events", "Bad_Name"),
    ("events", "-o", "name"),
    ("events", "web", "-A"),
    ("check", "-n", "Bad"),
    ("check", "-o", "table"),
    ("install", "--wait", "--timeout", "5x"),
    # the command line itself
    ("nosuch",),
    ("sync",),
    ("status", "--bogus"),
]

NO_CLUSTER = [
    ("status",),
    ("status", "-A"),
    ("sync", "web"),
    ("suspend", "web"),
    ("resume", "web", "--source"),
    ("rollback", "web"),
    ("diff", APP),
    ("install",),
    ("uninstall",),
    ("bootstrap", "--url", "https://git.example/a.git", "--path", "clusters/dev"),
    ("history", "--ledger", "sqlite:///no/such/ledger.db"),
    # Without --ledger the agent is asked, through the kubeconfig's cluster.
    ("where", "web:1"),
    ("dora",),
    ("tree", "web"),
    ("trace", "deploy/web"),
    ("events",),
    ("events", "-A", "--watch"),
    ("check",),
    ("install", "--wait"),
]


def _one_clear_line(code: int, out: str, err: str) -> str:
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert not any(box in err for box in "│╭╰─"), err
    return lines[0]


@pytest.mark.parametrize("args", BAD_USAGE, ids=" ".join)
def test_a_bad_value_is_a_usage_error(workdir: Path, args: tuple[str, ...]) -> None:
    code, out, err = gitmoor(workdir, *args)
    line = _one_clear_line(code, out, err)
    assert code == USAGE, err
    assert "--help" in line  # says where to read how it is used


@pytest.mark.parametrize("args", NO_CLUSTER, ids=" ".join)
def test_no_kubeconfig_is_an_environment_error(workdir: Path, args: tuple[str, ...]) -> None:
    code, out, err = gitmoor(workdir, *args)
    line = _one_clear_line(code, out, err)
    assert code == ENVIRONMENT, err
    if args[0] != "history":
        assert "no kubeconfig at ~/.kube/config" in line
        assert "KUBECONFIG" in line  # and how to name one
    assert "Config not found" not in err


@pytest.mark.parametrize(
    ("kubeconfig", "expected"),
    [
        ("no-such-kubeconfig", "no kubeconfig at"),
        ("kubeconfig-garbage", "cannot use kubeconfig"),
        ("kubeconfig-empty", "current-context"),
    ],
)
def test_a_missing_or_invalid_kubeconfig_is_one_line(
    workdir: Path, kubeconfig: str, expected: str
) -> None:
    for how in ("env", "flag"):
        args = ("--kubeconfig", str(workdir / kubeconfig)) if how == "flag" else ()
        env = {"KUBECONFIG": str(workdir / kubeconfig)} if how == "env" else None
        code, out, err = gitmoor(workdir, "sync", "web", *args, env=env)
        line = _one_clear_line(code, out, err)
        assert code == ENVIRONMENT
        assert expected in line


def test_a_real_process_prints_no_traceback_and_no_library_warning(workdir: Path) -> None:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    environment["HOME"] = str(workdir / "home")
    for args, expected in ((("sync", "web", "--timeout", "5x"), USAGE), (("status",), ENVIRONMENT)):
        done = subprocess.run(
            [sys.executable, "-m", "gitmoor", *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=workdir,
            timeout=60,
            check=False,
        )
        _one_clear_line(done.returncode, done.stdout, done.stderr)
        assert done.returncode == expected


def test_a_ledger_record_reference_is_read_strictly() -> None:
    from gitmoor.cli.ledger import record_reference

    assert record_reference("record:42") == 42
    assert record_reference("#7") == 7
    assert record_reference("42") is None  # could be a commit: only the prefix names a record
    assert record_reference("record:") is None
    assert record_reference("main@sha1:abc") is None
