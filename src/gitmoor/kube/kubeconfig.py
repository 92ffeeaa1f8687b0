"""What the CLI reads from a kubeconfig itself: which file, and the context's namespace.

kubectl resolves a namespace as `-n`, else the current context's `namespace`, else `default`;
the client library does not expose the second step, so it is read here, from the same files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import ConnectionFailedError

DEFAULT_PATH = Path("~/.kube/config")
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def existing(path: Path | None) -> Path:
    """The kubeconfig file to read, which must exist; a missing one is an environment error
    that says how to name another (the client library would log a warning, then fail with a
    confusing `current-context` message)."""
    chosen = (path or DEFAULT_PATH).expanduser()
    if not chosen.is_file():
        shown = path if path is not None else DEFAULT_PATH
        raise ConnectionFailedError(
            f"no kubeconfig at {shown}: set KUBECONFIG or pass --kubeconfig FILE"
        )
    return chosen


def context_namespace(path: Path | None, context: str | None) -> str:
    """The namespace of the context in use (`context`, else the current one), else `default`.

    In a Pod without a kubeconfig, the Pod's own namespace, as kubectl does. An unreadable
    kubeconfig gives `default`: connecting reports the problem with a clearer message."""
    if path is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
        except OSError:
            return "default"
    try:
        config = yaml.safe_load(existing(path).read_text())
    except (OSError, yaml.YAMLError, ConnectionFailedError):
        return "default"
    return namespace_of(config, context)


def current_context(path: Path | None) -> str | None:
    """The kubeconfig's current-context; None when there is none or the file is unreadable."""
    try:
        config = yaml.safe_load(existing(path).read_text())
    except (OSError, yaml.YAMLError, ConnectionFailedError):
        return None
    if not isinstance(config, dict) or not config.get("current-context"):
        return None
    return str(config["current-context"])


def namespace_of(config: Any, context: str | None) -> str:
    """The namespace the named (else current) context of a parsed kubeconfig sets."""
    if not isinstance(config, dict):
        return "default"
    name = context or config.get("current-context")
    for entry in config.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            details = entry.get("context") or {}
            if isinstance(details, dict) and details.get("namespace"):
                return str(details["namespace"])
    return "default"
