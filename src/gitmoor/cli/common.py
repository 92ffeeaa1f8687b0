"""What the commands share: cluster connection options, exit codes, output formats."""

from __future__ import annotations

import asyncio
import enum
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from gitmoor.commands.operations import OperationError, UnknownRevisionError
from gitmoor.errors import ConnectionFailedError, GitmoorError, UnknownKindError
from gitmoor.health import ExprRule, RuleError, load_rules
from gitmoor.health.exprs import Key

T = TypeVar("T")

# Exit codes, documented in the README.
OK = 0
FAILED = 1  # the operation ran and failed (not Ready, render errors)
USAGE = 2  # wrong arguments (Typer's own code)
ENVIRONMENT = 3  # cannot reach the cluster, CRDs missing, object not found or suspended

out = Console()
err = Console(stderr=True)


class Output(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


KUBECONFIG = typer.Option(
    None, "--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file (default: ~/.kube/config)."
)
CONTEXT = typer.Option(None, "--context", help="Kubeconfig context to use.")
NAMESPACE = typer.Option("default", "--namespace", "-n", help="Namespace of the resource.")


def kubeconfig_path(value: str | None) -> Path | None:
    # KUBECONFIG may list several files; the first is the one we read.
    if not value:
        return None
    return Path(value.split(":")[0])


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn gitmoor errors into a message and an exit code."""
    try:
        return asyncio.run(_call(main))
    except UnknownRevisionError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(USAGE) from None
    except (ConnectionFailedError, UnknownKindError, OperationError) as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(ENVIRONMENT) from None
    except GitmoorError as problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(FAILED) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


def is_terminal() -> bool:
    return sys.stdout.isatty()


def read_rules(path: Path | None, option: str, *, code: int = FAILED) -> dict[Key, ExprRule]:
    """The health rules of a rules file given as `option`; exits with the reason when the file
    cannot be read or a rule does not compile (the agent must not start half-configured)."""
    if path is None:
        return {}
    try:
        return load_rules(path.read_text(), f"{option} {path}")
    except (OSError, RuleError) as problem:
        err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
        raise typer.Exit(code) from None
