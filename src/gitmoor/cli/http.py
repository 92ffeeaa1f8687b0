"""The flags of `gitmoor run` that shape its HTTP port, checked and resolved."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitmoor.model.durations import parse_duration

if TYPE_CHECKING:
    from gitmoor.server.auth import BearerTokens


@dataclass(frozen=True)
class HttpSettings:
    host: str
    header_timeout: float
    body_timeout: float
    replay_window: float
    max_connections: int
    metrics_auth: BearerTokens | None


def http_settings(
    host: str | None,
    *,
    header_timeout: str,
    body_timeout: str,
    replay_window: str,
    max_connections: int,
    metrics_token_file: Path | None,
) -> HttpSettings:
    """The HTTP port's flags, checked; a wrong one is a usage error (exit 2) naming it."""
    from gitmoor.server.auth import BearerTokens, TokenFileError
    from gitmoor.server.replay import REPLAY_WINDOW

    durations: dict[str, float] = {}
    for flag, text in (
        ("--http-header-timeout", header_timeout),
        ("--http-body-timeout", body_timeout),
        ("--webhook-replay-window", replay_window),
    ):
        try:
            durations[flag] = parse_duration(text)
        except ValueError as problem:
            raise typer.BadParameter(str(problem), param_hint=flag) from None
        if durations[flag] <= 0:
            raise typer.BadParameter(f"{text!r} must be longer than 0s", param_hint=flag)
    if durations["--webhook-replay-window"] < REPLAY_WINDOW:
        # Shorter, a generic request could be replayed while its timestamp is still accepted.
        raise typer.BadParameter(
            f"{replay_window!r} is shorter than 10m, the span a generic request's timestamp is "
            "accepted in",
            param_hint="--webhook-replay-window",
        )
    metrics_auth = None
    if metrics_token_file is not None:
        metrics_auth = BearerTokens(metrics_token_file)
        try:
            metrics_auth.load()
        except TokenFileError as problem:
            raise typer.BadParameter(str(problem), param_hint="--metrics-token-file") from None
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    return HttpSettings(
        host=host or ("0.0.0.0" if in_cluster else "127.0.0.1"),  # noqa: S104
        header_timeout=durations["--http-header-timeout"],
        body_timeout=durations["--http-body-timeout"],
        replay_window=durations["--webhook-replay-window"],
        max_connections=max_connections,
        metrics_auth=metrics_auth,
    )
