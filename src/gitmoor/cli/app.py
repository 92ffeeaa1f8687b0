"""The root Typer application and the exit codes every command shares."""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script
from typer.core import TyperGroup

from gitmoor import __version__
from gitmoor.cli import (
    agent,
    bootstrap,
    check,
    diff,
    events,
    health,
    images,
    ledger,
    local,
    migration,
    resources,
    trace,
    tree,
    ui,
    validate,
)
from gitmoor.cli.common import USAGE, fail


class Gitmoor(TyperGroup):
    """The root command: a usage error is one `error:` line naming the help to read, like
    kubectl's, instead of Typer's boxed panel (which also went into pipes)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as problem:
            if not standalone_mode:
                raise
            if type(problem).__name__ == "NoArgsIsHelpError":
                sys.exit(USAGE)  # the help is printed already: no arguments asked for it
            try:
                fail(_usage_line(problem), problem.exit_code or USAGE)
            except typer.Exit as done:
                sys.exit(done.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            sys.exit(130)
        if not standalone_mode:
            return result
        # Without standalone mode Typer returns the code of a `typer.Exit` instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)


def _usage_line(problem: typer.TyperException) -> str:
    # Pydantic's prefix on what a parser refused says nothing to a user.
    message = problem.format_message().replace("Value error, ", "")
    context = getattr(problem, "ctx", None)
    if problem.exit_code == USAGE and context is not None:
        return f"{message} (see `{context.command_path} --help`)"
    return message


COMPLETE_VAR = "_GITMOOR_COMPLETE"  # what the scripts set to ask for completions
# Typer registers its bash/zsh/fish completers only along with its own completion flags.
completion_init()

app = typer.Typer(
    name="gitmoor",
    cls=Gitmoor,
    help="A GitOps agent that keeps Kubernetes clusters moored to Git.",
    no_args_is_help=True,
    # `gitmoor completion SHELL` instead of --install-completion/--show-completion flags.
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Plain help, wrapped to the terminal: the boxed help cut flag names at 80 columns.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gitmoor {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """gitmoor: pull-based GitOps for Kubernetes."""


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@app.command("completion")
def completion(shell: Shell = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the shell completion script for gitmoor.

    bash: `source <(gitmoor completion bash)` (in ~/.bashrc to keep it);
    zsh: `source <(gitmoor completion zsh)`; fish: `gitmoor completion fish | source`."""
    # Typer writes these scripts for its --install-completion, which edits the user's shell
    # files; printing them lets the user decide where they go, as kubectl and flux do.
    typer.echo(
        get_completion_script(prog_name="gitmoor", complete_var=COMPLETE_VAR, shell=shell.value)
    )


@app.command("version")
def version_command() -> None:
    """Print the version of gitmoor."""
    typer.echo(f"gitmoor {__version__}")


app.command("run")(agent.run)
app.command("status")(resources.status)
app.command("images")(images.images)
app.command("sync")(resources.sync)
app.command("suspend")(resources.suspend)
app.command("resume")(resources.resume)
app.command("rollback")(resources.rollback)
app.command("render")(local.render)
app.command("install")(local.install)
app.command("uninstall")(local.uninstall)
app.command("validate")(validate.validate)
app.command("diff")(diff.diff)
app.command("health")(health.health)
app.command("bootstrap")(bootstrap.bootstrap)
app.command("import")(migration.import_)
app.command("history")(ledger.history)
app.command("where")(ledger.where)
app.command("at")(ledger.at)
app.command("dora")(ledger.dora)
app.add_typer(ledger.ledger_app, name="ledger")
app.command("tree")(tree.tree)
app.command("trace")(trace.trace)
app.command("events")(events.events)
app.command("check")(check.check)
app.command("ui")(ui.ui)


def main() -> None:
    app()
