"""`gitmoor bootstrap`: install gitmoor and have it manage the cluster from a repository path.

Exit codes: 0 everything Ready, 1 not Ready in time or stalled, 2 wrong arguments, 3 the cluster
cannot be reached.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    cluster_flags,
    duration,
    err,
    kubeconfig_path,
    ledger_volume_size,
    namespace_name,
    object_name,
    out,
    progress_line,
    run_async,
)
from gitmoor.model import Action, defaults
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.defaults import AgentMode

if TYPE_CHECKING:
    from gitmoor.commands.bootstrap import BootstrapResult, BootstrapSpec


def bootstrap(
    url: str = typer.Option(..., "--url", help="The repository: https://, ssh:// or git@host:"),
    path: str = typer.Option(..., "--path", help="Directory in the repository for this cluster."),
    branch: str = typer.Option("main", "--branch", help="Branch to follow."),
    name: str = typer.Option(
        defaults.BOOTSTRAP_NAME,
        "--name",
        parser=object_name,
        help="Name of the GitSource and the Sync.",
    ),
    namespace: str = typer.Option(
        defaults.DEFAULT_NAMESPACE, "--namespace", "-n", parser=namespace_name
    ),
    secret_name: str | None = typer.Option(
        None,
        "--secret-name",
        help="Secret for the credentials (default: NAME-git-auth); alone, an existing Secret.",
    ),
    username: str | None = typer.Option(None, "--username", help="HTTPS user name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the HTTPS password or token from standard input."
    ),
    ca_file: Path | None = typer.Option(
        None, "--ca-file", exists=True, dir_okay=False, help="CA bundle of the HTTPS server."
    ),
    ssh_key: Path | None = typer.Option(
        None, "--ssh-key", exists=True, dir_okay=False, help="SSH private key file."
    ),
    known_hosts: Path | None = typer.Option(
        None, "--known-hosts", exists=True, dir_okay=False, help="known_hosts for the SSH host."
    ),
    interval: str = typer.Option("1m", "--interval", help="How often the source is checked."),
    sync_interval: str = typer.Option("10m", "--sync-interval", help="The Sync's interval."),
    image: str = typer.Option(defaults.DEFAULT_IMAGE, "--image", help="The agent's image."),
    ledger_volume: str = typer.Option(
        defaults.DEFAULT_LEDGER_VOLUME,
        "--ledger-volume",
        parser=ledger_volume_size,
        help="Size of the ledger's PersistentVolumeClaim; `none` keeps it on an emptyDir "
        "(lost with the agent's Pod).",
    ),
    agent_mode: AgentMode = typer.Option(
        AgentMode.IN_CLUSTER,
        "--agent-mode",
        help="in-cluster: wait for the agent Deployment; none: the agent runs elsewhere "
        "(gitmoor run with this cluster's kubeconfig).",
    ),
    timeout: float = typer.Option(
        "5m", "--timeout", parser=duration, help="How long to wait for Ready."
    ),
    export: bool = typer.Option(
        False,
        "--export",
        help="Print what to commit at PATH (install manifests, GitSource, Sync; no Secret).",
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Install gitmoor, create a GitSource and a Sync for PATH, and wait until all is Ready.

    Idempotent: a second run changes nothing. On a new cluster it restores what Git declares."""
    from gitmoor import install as installer
    from gitmoor.commands.bootstrap import BootstrapError, BootstrapSpec, BootstrapSpecError
    from gitmoor.commands.bootstrap import bootstrap as run_bootstrap
    from gitmoor.commands.cluster import connect

    credentials = _credentials(
        username, password_stdin, ca_file, ssh_key, known_hosts, read_password=not export
    )
    spec = BootstrapSpec(
        url=url,
        path=path,
        branch=branch or None,
        name=name,
        namespace=namespace,
        secret_name=secret_name,
        credentials=credentials,
        interval=interval,
        sync_interval=sync_interval,
        image=image,
        ledger_volume=ledger_volume,
        agent_mode=agent_mode,
    )
    try:
        spec.source()
        spec.sync()
    except BootstrapSpecError as problem:
        raise typer.BadParameter(str(problem)) from None
    if export:
        typer.echo(installer.render_yaml(spec.repository_manifests()), nl=False)
        return

    async def main() -> BootstrapResult | BootstrapError:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            with err.status("bootstrapping") as spinner:

                def progress(line: str) -> None:
                    spinner.update(line)
                    _say(progress_line(line), to_stderr=True)

                try:
                    return await run_bootstrap(kube, spec, timeout=timeout, progress=progress)
                except BootstrapError as problem:
                    return problem

    result = run_async(main)
    if isinstance(result, BootstrapError):
        _say(f"error: {result}", style="red", to_stderr=True)
        _print_changes_hint(spec, cluster_flags(kubeconfig, context))
        raise typer.Exit(FAILED)
    _report(result, spec)


def _credentials(
    username: str | None,
    password_stdin: bool,
    ca_file: Path | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
    *,
    read_password: bool,
) -> GitCredentials | None:
    """The credentials the flags name; the password only when it is needed (not for --export,
    which prints no Secret)."""
    if password_stdin and not username:
        raise typer.BadParameter("--password-stdin needs --username", param_hint="--username")
    if (ssh_key is None) != (known_hosts is None):
        raise typer.BadParameter(
            "--ssh-key and --known-hosts go together (the host key is always checked)",
            param_hint="--known-hosts",
        )
    if ssh_key is not None and (username or password_stdin):
        raise typer.BadParameter(
            "HTTPS credentials (--username, --password-stdin) and SSH ones (--ssh-key) exclude "
            "each other",
            param_hint="--ssh-key",
        )
    password = None
    if password_stdin and read_password:
        # Trailing newlines come from `echo` and would break the HTTP header.
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise typer.BadParameter(
                "standard input held no password", param_hint="--password-stdin"
            )
    credentials = GitCredentials(
        username=username,
        password=password,
        identity=ssh_key.read_bytes() if ssh_key else None,
        known_hosts=known_hosts.read_bytes() if known_hosts else None,
        ca_file=ca_file.read_bytes() if ca_file else None,
    )
    return None if credentials.is_empty else credentials


def _say(text: str, *, style: str = "", to_stderr: bool = False) -> None:
    # No wrapping: CI logs are read whole, and a wrapped revision cannot be copied.
    (err if to_stderr else out).print(Text(text, style=style), soft_wrap=True)


def _print_changes_hint(spec: BootstrapSpec, flags: str) -> None:
    _say(
        f"what was applied stays; `gitmoor status -n {spec.namespace}{flags}` shows where it "
        "stands, "
        "and running bootstrap again resumes",
        to_stderr=True,
    )


def _report(result: BootstrapResult, spec: BootstrapSpec) -> None:
    changes = result.changes
    written = changes.written
    if written:
        _say("Applied:", style="bold")
        for change in written:
            verb = "created" if change.action is Action.CREATED else "configured"
            detail = f" ({change.message})" if change.message else ""
            _say(f"  {verb} {change.ref.subject}{detail}")
        unchanged = changes.count(Action.UNCHANGED)
        if unchanged:
            _say(f"  {unchanged} other object(s) were already in place")
    else:
        _say(f"Nothing changed: all {len(changes.changes)} objects were already in place.")
    _say("Ready:", style="bold")
    for state in result.states:
        _say(f"  {state.line()}")
    _say(
        f"✔ Sync {spec.namespace}/{spec.name} manages the cluster from {spec.url} "
        f"path {spec.path} at {result.revision}",
        style="green",
    )
