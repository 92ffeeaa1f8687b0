"""`gitmoor completion bash|zsh|fish`: scripts that complete commands and options, as a shell
sources them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitmoor.cli.app import app


def complete(shell: str, words: str) -> str:
    env = {"_GITMOOR_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": words}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return CliRunner().invoke(app, [], env=env, prog_name="gitmoor").stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_names_gitmoor_and_its_variable(shell: str) -> None:
    shown = CliRunner().invoke(app, ["completion", shell])
    assert shown.exit_code == 0
    assert "_GITMOOR_COMPLETE=complete_" + shell in shown.stdout


def test_commands_and_options_complete() -> None:
    assert "sync" in complete("fish", "gitmoor sy")
    assert "--output" in complete("zsh", "gitmoor status --ou")


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_with_the_sourced_script(tmp_path: Path) -> None:
    script = tmp_path / "complete.sh"
    script.write_text(
        "source <(gitmoor completion bash)\n"
        "COMP_WORDS=(gitmoor sta); COMP_CWORD=1; _gitmoor_completion gitmoor\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
        check=False,
    )
    assert done.stdout.split() == ["status"], done.stderr


def test_an_unknown_shell_is_a_usage_error() -> None:
    assert CliRunner().invoke(app, ["completion", "tcsh"]).exit_code == 2
