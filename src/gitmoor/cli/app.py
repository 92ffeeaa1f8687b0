"""The root Typer application and the exit codes every command shares."""

from __future__ import annotations

import typer

from gitmoor import __version__
from gitmoor.cli import agent, bootstrap, diff, health, ledger, local, resources, validate

app = typer.Typer(
    name="gitmoor",
    help="A GitOps agent that keeps Kubernetes clusters moored to Git.",
    no_args_is_help=True,
    add_completion=False,
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


@app.command("version")
def version_command() -> None:
    """Print the version of gitmoor."""
    typer.echo(f"gitmoor {__version__}")


app.command("run")(agent.run)
app.command("status")(resources.status)
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
app.command("history")(ledger.history)
app.command("where")(ledger.where)
app.command("at")(ledger.at)
app.command("dora")(ledger.dora)


def main() -> None:
    app()
