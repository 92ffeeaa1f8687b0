"""`gitmoor run`'s HTTP flags: defaults, where it listens, and wrong values refused before
anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from gitmoor.cli.http import http_settings

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what is checked here
DEFAULTS = {
    "header_timeout": "10s",
    "body_timeout": "30s",
    "replay_window": "10m",
    "max_connections": 256,
    "metrics_token_file": None,
}


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    settings = http_settings(None, **DEFAULTS)
    assert settings.host == ALL_INTERFACES  # the kubelet and the Service reach the pod's IP
    assert (settings.header_timeout, settings.body_timeout) == (10.0, 30.0)
    assert settings.replay_window == 600.0
    assert settings.max_connections == 256
    assert settings.metrics_auth is None


def test_out_of_a_cluster_it_listens_on_loopback_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert http_settings(None, **DEFAULTS).host == "127.0.0.1"
    assert http_settings(ALL_INTERFACES, **DEFAULTS).host == ALL_INTERFACES


@pytest.mark.parametrize(
    ("change", "flag", "message"),
    [
        ({"header_timeout": "soon"}, "--http-header-timeout", "invalid duration"),
        ({"body_timeout": "0s"}, "--http-body-timeout", "longer than 0s"),
        ({"replay_window": "5m"}, "--webhook-replay-window", "shorter than 10m"),
    ],
)
def test_wrong_values_name_their_flag(change: dict[str, str], flag: str, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message) as refused:
        http_settings(None, **{**DEFAULTS, **change})
    assert refused.value.param_hint == flag


def test_a_token_file_that_is_missing_or_empty_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path / "empty"):
        if path.name == "empty":
            path.write_text("\n \n")
        with pytest.raises(typer.BadParameter) as refused:
            http_settings(None, **{**DEFAULTS, "metrics_token_file": path})
        assert str(path) in refused.value.message
    path.write_text("t0ken\n")
    settings = http_settings(None, **{**DEFAULTS, "metrics_token_file": path})
    assert settings.metrics_auth is not None
    assert settings.metrics_auth.allows("Bearer t0ken")


def test_the_command_exits_2_on_a_wrong_value_before_starting(tmp_path: Path) -> None:
    # A process of its own: `gitmoor run` configures logging for the whole process.
    result = subprocess.run(
        [sys.executable, "-m", "gitmoor", "run", "--webhook-replay-window", "1m"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "--webhook-replay-window" in result.stderr
