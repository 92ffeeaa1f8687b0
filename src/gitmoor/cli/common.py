"""What the commands share: cluster connection options, namespaces, exit codes, output formats,
and the one-line error every failure ends in."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import re
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
import yaml
from rich.console import Console
from rich.text import Text

from gitmoor.cli.table import one_line, shorten, terminal_width
from gitmoor.errors import (
    ConnectionFailedError,
    GitmoorError,
    OperationError,
    UnknownKindError,
    UnknownRevisionError,
)
from gitmoor.model.durations import parse_duration
from gitmoor.model.names import name_problem

# Every command module imports this one when the CLI starts, for `--help` too: what only some
# commands need (the Kubernetes client, the renderers, the chart fetcher) is imported where
# it is used, so that offline commands never load the cluster side.
if TYPE_CHECKING:
    from gitmoor.health import ExprRule
    from gitmoor.health.exprs import Key
    from gitmoor.render.options import DependencyFetcher

T = TypeVar("T")

# Exit codes, documented in the README.
OK = 0
FAILED = 1  # the operation ran and failed (not Ready, render errors, nothing found)
USAGE = 2  # wrong arguments (Typer's own code)
ENVIRONMENT = 3  # cannot reach the cluster, CRDs missing, object not found or suspended

out = Console()
err = Console(stderr=True)


class Output(enum.StrEnum):
    table = "table"  # the default, as when -o is left out; kept for scripts that pass it
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


def duration(text: str | float) -> float:
    """`30s`, `5m`, `1h30m` as seconds; anything else is a usage error naming the flag."""
    if isinstance(text, float | int):
        return float(text)
    try:
        return parse_duration(text)
    except ValueError as problem:
        raise typer.BadParameter(str(problem)) from None


def object_name(text: str) -> str:
    """A Kubernetes object name, checked before anything is asked of a cluster, so a typo is a
    usage error rather than `not found`."""
    problem = name_problem(text)
    if problem:
        raise typer.BadParameter(problem)
    return text


def namespace_name(text: str) -> str:
    problem = name_problem(text, namespace=True)
    if problem:
        raise typer.BadParameter(problem)
    return text


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def ledger_volume_size(text: str) -> str:
    """A storage size such as 1Gi, or `none` (returned as ""): no claim, an emptyDir."""
    if text.strip().lower() in ("none", "emptydir"):
        return ""
    if not _QUANTITY.match(text.strip()):
        raise typer.BadParameter(f"{text!r} is not a size such as 1Gi or 500Mi (or none)")
    return text.strip()


KUBECONFIG = typer.Option(
    None, "--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file (default: ~/.kube/config)."
)
CONTEXT = typer.Option(None, "--context", help="Kubeconfig context to use.")
NAMESPACE = typer.Option(
    None,
    "--namespace",
    "-n",
    parser=namespace_name,
    help="Namespace (default: the kubeconfig context's, else default).",
    show_default=False,
)
ALL_NAMESPACES = typer.Option(False, "--all-namespaces", "-A", help="Every namespace.")
OUTPUT = typer.Option(
    Output.table, "--output", "-o", help="table (default), wide, json, yaml or name."
)
NO_HEADERS = typer.Option(False, "--no-headers", help="Leave out the header line of tables.")


def kubeconfig_path(value: str | None) -> Path | None:
    # KUBECONFIG may list several files; the first is the one we read.
    if not value:
        return None
    return Path(value.split(os.pathsep)[0])


def namespace_for(namespace: str | None, kubeconfig: str | None, context: str | None) -> str:
    """kubectl's rule: `-n`, else the kubeconfig context's namespace, else `default`."""
    if namespace:
        return namespace
    from gitmoor.kube.kubeconfig import context_namespace

    return context_namespace(kubeconfig_path(kubeconfig), context)


def cluster_flags(kubeconfig: str | None, context: str | None) -> str:
    """What a printed command needs to reach the same cluster when pasted: ` --context CTX`
    when the user chose a context other than the kubeconfig's current one, and
    ` --kubeconfig FILE` when the file came from the flag rather than KUBECONFIG (which the
    shell keeps for the pasted command). "" when the defaults reach it."""
    from gitmoor.kube.kubeconfig import current_context

    flags = ""
    if kubeconfig and kubeconfig != os.environ.get("KUBECONFIG"):
        flags += f" --kubeconfig {shlex.quote(kubeconfig)}"
    if context and context != current_context(kubeconfig_path(kubeconfig)):
        flags += f" --context {shlex.quote(context)}"
    return flags


def pasteable(hint: str, kubeconfig: str | None, context: str | None) -> str:
    """A printed `gitmoor ...` or `kubectl ...` command with the cluster flags it needs
    (both commands take --kubeconfig and --context); other hints (prose) as they are."""
    if hint.startswith(("gitmoor ", "kubectl ")):
        return hint + cluster_flags(kubeconfig, context)
    return hint


def read_values(files: list[Path], option: str) -> dict[str, Any]:
    """Helm values files merged in order, as Helm merges them; a broken one is a usage error."""
    from gitmoor.render import merge_values

    merged: dict[str, Any] = {}
    for file in files:
        try:
            loaded = yaml.safe_load(file.read_bytes())
        except (OSError, yaml.YAMLError) as problem:
            raise typer.BadParameter(
                f"{file}: {one_line(str(problem))}", param_hint=option
            ) from None
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"{file}: must hold a mapping", param_hint=option)
        merged = merge_values(merged, loaded)
    return merged


def emit(data: Any, output: Output) -> None:
    """`-o json` or `-o yaml`: the data as it is, for scripts."""
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, never wrapped (so it can be grepped and pasted), then exit."""
    text = Text("error: ", style="red")
    text.append(message)
    err.print(text, soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def run_async(main: Callable[[], Awaitable[T]], *, interrupted: int = 130) -> T:
    """Run a coroutine; turn gitmoor errors into a message and an exit code. Ctrl-C exits
    with `interrupted`: 130 by convention, 0 for a watch, which only ends that way."""
    try:
        return asyncio.run(_call(main))
    except UnknownRevisionError as problem:
        fail(str(problem), USAGE)
    except (ConnectionFailedError, UnknownKindError, OperationError) as problem:
        fail(str(problem), ENVIRONMENT)
    except GitmoorError as problem:
        fail(str(problem), FAILED)
    except KeyboardInterrupt:
        raise typer.Exit(interrupted) from None


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


_FULL_SHA = re.compile(r"\bsha1:([0-9a-f]{12})[0-9a-f]{28}\b")


def progress_line(line: str) -> str:
    """A progress line of `sync`, `rollback` or `bootstrap`, indented; on a terminal (or with
    COLUMNS) it fits one line: commits shown by 12 hex digits, the rest shortened with `…`.
    Into a pipe it stays whole, as tables do."""
    text = f"  {line}"
    width = terminal_width()
    if width is None:
        return text
    return shorten(_FULL_SHA.sub(r"sha1:\1", text), width, at_word=True)


def result_line(line: str) -> str:
    """The last line of `sync` or `rollback`: whole, but on a terminal too narrow for it, its
    commits by 12 hex digits (`status -o wide` has them in full)."""
    width = terminal_width()
    if width is None or len(line) <= width:
        return line
    return _FULL_SHA.sub(r"sha1:\1", line)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def read_rules(path: Path | None, option: str, *, code: int = FAILED) -> dict[Key, ExprRule]:
    """The health rules of a rules file given as `option`; exits with the reason when the file
    cannot be read or a rule does not compile (the agent must not start half-configured)."""
    if path is None:
        return {}
    from gitmoor.health import RuleError, load_rules

    try:
        return load_rules(path.read_text(), f"{option} {path}")
    except (OSError, RuleError) as problem:
        fail(one_line(str(problem)), code)


def local_dependencies() -> DependencyFetcher:
    """What `render` and `diff` fetch a chart's unvendored dependencies with: anonymously (a
    laptop has no ChartSource Secrets), cached under the user's cache directory. The chart
    fetcher (an HTTP and OCI client) is made when a chart first lacks a dependency: most
    renders need none, and should not load it."""
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "gitmoor" / "cli"
    )
    made: list[DependencyFetcher] = []

    async def anonymous(_url: str) -> None:
        return None

    async def fetch(
        root: Path, chart: Path, vendored: frozenset[str]
    ) -> Sequence[tuple[str, Path]]:
        if not made:
            from gitmoor.sources.chartdeps import DependencyFetcher as ChartDependencies
            from gitmoor.sources.charts import ChartFetcher

            made.append(ChartDependencies(ChartFetcher(cache), anonymous, timeout=60.0))
        return await made[0](root, chart, vendored)

    return fetch
