"""`gitmoor run`: the agent."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitmoor.cli.common import (
    CONTEXT,
    FAILED,
    KUBECONFIG,
    duration,
    fail,
    kubeconfig_path,
    read_rules,
    run_async,
)
from gitmoor.cli.http import http_settings
from gitmoor.cli.table import one_line
from gitmoor.model.defaults import GROUPS_HEADER, IN_CLUSTER_URL, USER_HEADER
from gitmoor.model.limits import DEFAULT_LIMITS, MAX_DEPTH_CEILING, MIB, Limits

# The agent runtime (the reconcilers, the HTTP server, the ledger) is imported by `run` when it
# runs: `gitmoor --help` and every other command build this command's flags without it.
if TYPE_CHECKING:
    from gitmoor.commands.run import Readiness
    from gitmoor.model.config import Resource
    from gitmoor.model.notifications import ImagePushEvent, Provider, PushEvent
    from gitmoor.server.ledger_api import LedgerBackend


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitmoor" / "agent"


def run(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        exists=True,
        dir_okay=False,
        help="GitSource/Sync documents to run out-of-cluster.",
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    watch_namespace: str = typer.Option(
        "",
        "--watch-namespace",
        help="Only reconcile resources in these namespaces, comma-separated (default: all).",
    ),
    concurrency: int = typer.Option(4, min=1, help="Syncs reconciled at once."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Where Git checkouts are kept."),
    leader_election: bool = typer.Option(
        True, "--leader-election/--no-leader-election", help="Hold a Lease while active."
    ),
    lease_namespace: str = typer.Option(
        None, "--lease-namespace", help="Namespace of the Lease (default: the agent's own)."
    ),
    sharded: bool = typer.Option(
        False,
        "--sharded",
        help="Share the Syncs with the other replicas started so: each holds a Lease of its "
        "own and reconciles the Syncs rendezvous hashing gives it (instead of one leader "
        "doing all).",
    ),
    lease_duration: float = typer.Option(
        "15s",
        "--lease-duration",
        parser=duration,
        help="How long a Lease lasts unrenewed, e.g. 15s: a leader or replica gone this long "
        "loses its Syncs.",
    ),
    lease_renew: float = typer.Option(
        "2s", "--lease-renew", parser=duration, help="How often the Lease is renewed, e.g. 2s."
    ),
    http_port: int = typer.Option(
        8080,
        "--http-port",
        envvar="GITMOOR_HTTP_PORT",
        help="Port of /healthz, /readyz, /metrics, /hooks, the ledger API and the UI; 0: off.",
    ),
    http_host: str = typer.Option(
        None,
        "--http-host",
        help="Address to listen on (default: 0.0.0.0 in a cluster, where the kubelet's probes "
        "and the Service reach the pod's IP; 127.0.0.1 elsewhere).",
    ),
    http_header_timeout: str = typer.Option(
        "10s",
        "--http-header-timeout",
        help="Close a connection whose request headers are not complete this long after it "
        "opened or after its previous answer.",
    ),
    http_body_timeout: str = typer.Option(
        "30s", "--http-body-timeout", help="Answer 408 to a webhook whose body takes longer."
    ),
    http_max_connections: int = typer.Option(
        256,
        "--http-max-connections",
        min=1,
        help="Open connections at most; one more closes the oldest.",
    ),
    metrics_token_file: Path = typer.Option(
        None,
        "--metrics-token-file",
        help="Require 'Authorization: Bearer <token>' on /metrics, the tokens (one a line) read "
        "from this file, e.g. a mounted Secret key (default: /metrics is open).",
    ),
    webhook_secret: str = typer.Option(
        "gitmoor-webhooks",
        "--webhook-secret",
        help="Secret (in the lease namespace) holding the webhook keys: github, gitlab, gitea, "
        "generic.",
    ),
    webhook_replay_window: str = typer.Option(
        "10m",
        "--webhook-replay-window",
        help="How long delivery ids and signed bodies are remembered to refuse replays "
        "(at least 10m).",
    ),
    ledger: str = typer.Option(
        None,
        "--ledger",
        envvar="GITMOOR_LEDGER",
        help="Ledger URL: sqlite:///PATH or postgresql://...; 'none' turns it off. Default: "
        f"{IN_CLUSTER_URL} in a cluster, else ~/.local/state/gitmoor/ledger.db.",
    ),
    ledger_retention: str = typer.Option(
        "365d",
        "--ledger-retention",
        help="Prune ledger records older than this (e.g. 90d); 0: keep all.",
    ),
    cluster_name: str = typer.Option(
        None, "--cluster-name", envvar="GITMOOR_CLUSTER", help="This cluster's name in the ledger."
    ),
    environment: str = typer.Option(
        "", "--environment", help="Default environment of Syncs in the ledger (default: cluster)."
    ),
    max_file_size: int = typer.Option(
        DEFAULT_LIMITS.max_file_bytes // MIB,
        "--max-file-size",
        min=1,
        help="MiB a manifest or values file may have; larger ones are refused.",
    ),
    max_yaml_depth: int = typer.Option(
        DEFAULT_LIMITS.max_depth,
        "--max-yaml-depth",
        min=1,
        max=MAX_DEPTH_CEILING,
        help="How deeply a manifest may nest.",
    ),
    max_alias_nodes: int = typer.Option(
        DEFAULT_LIMITS.max_alias_nodes,
        "--max-alias-nodes",
        min=1,
        help="Nodes YAML aliases may add to one file once expanded (alias bombs).",
    ),
    max_objects: int = typer.Option(
        DEFAULT_LIMITS.max_objects, "--max-objects", min=1, help="Objects in one render."
    ),
    max_render_size: int = typer.Option(
        DEFAULT_LIMITS.max_render_bytes // MIB,
        "--max-render-size",
        min=1,
        help="MiB all the manifest files of one plain path may add up to; also bounds the text "
        "YAML aliases add to one file and what one render hands the agent.",
    ),
    max_tool_memory: int = typer.Option(
        DEFAULT_LIMITS.max_tool_memory // MIB,
        "--max-tool-memory",
        min=256,
        help="MiB of address space one kustomize or Helm run, or the render worker reading "
        "a repository, may use.",
    ),
    cache_keep: str = typer.Option(
        "24h",
        "--cache-keep",
        help="Remove chart archives and OCI artifacts from --cache-dir once no source has "
        "used them for this long (e.g. 24h, 7d).",
    ),
    allow_file_sources: list[Path] = typer.Option(
        [],
        "--allow-file-sources",
        help="Directories file:// GitSources may read below (repeatable). In a cluster none "
        "by default; out of a cluster any, unless this is given.",
    ),
    default_service_account: str = typer.Option(
        None,
        "--default-service-account",
        help="Syncs that set no serviceAccountName act as this ServiceAccount of their own "
        "namespace (default: as the agent).",
    ),
    no_cross_namespace_refs: bool = typer.Option(
        False,
        "--no-cross-namespace-refs",
        help="Refuse a Sync that names a GitSource of another namespace, unless that GitSource "
        "lists the Sync's namespace in spec.accessFrom.",
    ),
    health_rules_file: Path | None = typer.Option(
        None,
        "--health-rules",
        help="A YAML list of health rules (Flux's healthCheckExprs shape: apiVersion, kind, "
        "current, inProgress, failed as CEL, and optionally unknown; kind '*' and apiVersion "
        "'*.example.com/v1' name every kind or a group family) for every Sync; they override "
        "gitmoor's built-in rules for those kinds, and a Sync's own spec.healthCheckExprs "
        "override them.",
    ),
    ui_auth: str = typer.Option(
        "token",
        "--ui-auth",
        help="The web UI under /ui: 'token' (people sign in with a Kubernetes bearer token), "
        "'proxy' (an authenticating proxy in front names them in --ui-user-header and "
        "--ui-groups-header: only when nothing else reaches the port), or 'off'.",
    ),
    ui_origin: str = typer.Option(
        None,
        "--ui-origin",
        help="The UI's public origin (https://gitmoor.example) when a proxy or ingress serves "
        "it: actions must come from there (default: the request's own scheme and Host).",
    ),
    ui_user_header: str = typer.Option(
        USER_HEADER, "--ui-user-header", help="With --ui-auth proxy: the header naming the user."
    ),
    ui_groups_header: str = typer.Option(
        GROUPS_HEADER,
        "--ui-groups-header",
        help="With --ui-auth proxy: the header naming the user's groups, comma-separated.",
    ),
    log_level: str = typer.Option("info", "--log-level"),
    log_format: str = typer.Option("auto", "--log-format", help="json, console or auto."),
) -> None:
    """Run the agent: reconcile GitSources and Syncs until stopped (SIGTERM/SIGINT)."""
    from gitmoor import logs, memory

    memory.limit_arenas()  # before the first helper thread
    from gitmoor.commands.run import Readiness, RunOptions, run_agent
    from gitmoor.model.config import ConfigError, load_documents
    from gitmoor.reconcile.tenancy import Tenancy
    from gitmoor.server.app import serve
    from gitmoor.server.hooks import CachedSecrets, HookReceiver
    from gitmoor.server.ledger_api import LedgerApi
    from gitmoor.server.replay import ReplayGuard
    from gitmoor.server.ui import AUTH_MODES, for_agent
    from gitmoor.sources.sweep import DEFAULT_KEEP

    if lease_renew <= 0 or lease_duration < 2 * lease_renew:
        raise typer.BadParameter(
            f"{lease_duration:g}s: must be at least twice --lease-renew ({lease_renew:g}s)",
            param_hint="--lease-duration",
        )
    health_rules = read_rules(health_rules_file, "--health-rules")
    if ui_auth not in (*AUTH_MODES, "off"):
        raise typer.BadParameter(
            f"one of {', '.join(AUTH_MODES)}, off; not {ui_auth!r}", param_hint="--ui-auth"
        )
    resources: tuple[Resource, ...] = ()
    if config is not None:
        try:
            resources = tuple(load_documents(config.read_text(), source=str(config)))
        except (OSError, ConfigError) as problem:
            fail(one_line(str(problem)), FAILED)
    http = http_settings(
        http_host,
        header_timeout=http_header_timeout,
        body_timeout=http_body_timeout,
        replay_window=webhook_replay_window,
        max_connections=http_max_connections,
        metrics_token_file=metrics_token_file,
    )
    options = RunOptions(
        cache_dir=cache_dir or _default_cache(),
        kubeconfig=kubeconfig_path(kubeconfig),
        context=context,
        resources=resources,
        namespace=watch_namespace,
        concurrency=concurrency,
        leader_election=leader_election,
        sharded=sharded,
        lease_duration=lease_duration,
        lease_renew=lease_renew,
        lease_namespace=lease_namespace or os.environ.get("GITMOOR_NAMESPACE") or "gitmoor-system",
        identity=os.environ.get("GITMOOR_POD_NAME", ""),
        ledger_url=_ledger_url(ledger),
        ledger_retention=_age(ledger_retention),
        cluster=cluster_name or context or "default",
        environment=environment,
        tenancy=Tenancy(
            default_service_account=default_service_account or None,
            cross_namespace_refs=not no_cross_namespace_refs,
        ),
        file_roots=_file_roots(allow_file_sources),
        spool_dir=_state_dir() / "ledger-spool",
        cache_keep=_age(cache_keep, "--cache-keep") or DEFAULT_KEEP,
        health_rules=health_rules,
        render_limits=Limits(
            max_file_bytes=max_file_size * MIB,
            max_depth=max_yaml_depth,
            max_alias_nodes=max_alias_nodes,
            max_objects=max_objects,
            max_tool_memory=max_tool_memory * MIB,
            max_render_bytes=max_render_size * MIB,
        ),
    )
    # Only once every flag is known good: a refused flag leaves the process's logging as it was.
    logs.configure(log_level, json=None if log_format == "auto" else log_format == "json")

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        readiness = Readiness()
        hooks = HookReceiver(
            CachedSecrets(webhook_secrets(readiness, webhook_secret, options.lease_namespace)),
            forward_push(readiness),
            body_timeout=http.body_timeout,
            replay=ReplayGuard(http.replay_window),
            on_image_push=forward_image_push(readiness),
        )
        server = (
            await serve(
                http.host,
                http_port,
                readiness,
                hooks=hooks,
                metrics_auth=http.metrics_auth,
                ledger_api=LedgerApi(ledger_backend(readiness)),
                ui=None
                if ui_auth == "off"
                else for_agent(
                    readiness,
                    auth=ui_auth,
                    origin=ui_origin,
                    user_header=ui_user_header,
                    groups_header=ui_groups_header,
                ),
                header_timeout=http.header_timeout,
                max_connections=http.max_connections,
            )
            if http_port
            else None
        )
        try:
            return await run_agent(options, stop, readiness)
        finally:
            if server is not None:
                await server.cleanup()

    raise typer.Exit(run_async(main))


def webhook_secrets(
    readiness: Readiness, name: str, namespace: str
) -> Callable[[Provider], Awaitable[Sequence[bytes]]]:
    """The keys of the webhook Secret `namespace/name`, read with the running agent's client."""
    from gitmoor.server.hooks import secret_values

    async def secrets_for(provider: Provider) -> Sequence[bytes]:
        if readiness.agent is None:
            # Not leading (yet): the sender gets a 503 and retries, against the leader.
            raise RuntimeError("this agent is not the active one")
        secret = await readiness.agent.kube.get("v1", "Secret", name, namespace)
        if secret is None:
            return []  # no keys: every delivery is refused with 401
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        return secret_values(data, provider)

    return secrets_for


def ledger_backend(readiness: Readiness) -> Callable[[], LedgerBackend | None]:
    """What answers the ledger API: the active agent's client, ledger and cluster name."""
    from gitmoor.server.ledger_api import LedgerBackend

    def backend() -> LedgerBackend | None:
        agent = readiness.agent
        if agent is None:
            return None
        return LedgerBackend(agent.kube, agent.ledger, agent.options.cluster)

    return backend


def forward_image_push(readiness: Readiness) -> Callable[[ImagePushEvent], int]:
    def on_image_push(event: ImagePushEvent) -> int:
        if readiness.agent is None:
            raise RuntimeError("this agent is not the active one")
        return readiness.agent.on_image_push(event)

    return on_image_push


def forward_push(readiness: Readiness) -> Callable[[PushEvent], int]:
    def on_push(event: PushEvent) -> int:
        if readiness.agent is None:
            # Not leading (yet): the sender gets a 5xx and retries against the leader.
            raise RuntimeError("this agent is not the active one")
        return readiness.agent.on_push(event)

    return on_push


def _ledger_url(value: str | None) -> str | None:
    from gitmoor.ledger import local_default

    if value == "none":
        return None
    if value:
        return value
    return IN_CLUSTER_URL if os.environ.get("KUBERNETES_SERVICE_HOST") else local_default()


def _state_dir() -> Path:
    """Where the agent keeps what must outlive it (in a cluster: the ledger's volume)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gitmoor"


def _file_roots(allowed: list[Path]) -> tuple[Path, ...] | None:
    """In a cluster a file:// source would read the agent's own disk: none unless allowed."""
    if allowed:
        return tuple(allowed)
    return () if os.environ.get("KUBERNETES_SERVICE_HOST") else None


def _age(text: str, flag: str = "--ledger-retention") -> float | None:
    from gitmoor.ledger.times import parse_age

    if text.strip() in ("0", ""):
        return None
    try:
        return parse_age(text).total_seconds()
    except ValueError as problem:
        raise typer.BadParameter(str(problem), param_hint=flag) from None
