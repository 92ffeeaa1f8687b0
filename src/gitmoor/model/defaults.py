"""Names and defaults that the `gitmoor` command shows in its help and the library uses.

One definition each, in a module that loads nothing else of gitmoor: `gitmoor --help` builds
the help of every command, so what a flag's default or help names must be importable without
the Kubernetes client, the ledger's database layer or the agent (the modules that use these
import them from here).
"""

from __future__ import annotations

import enum

from gitmoor import __version__

# --- the installed agent (`gitmoor install`, `bootstrap`, `check`, `uninstall`) ---------------
NAME = "gitmoor"
DEFAULT_NAMESPACE = "gitmoor-system"
DEFAULT_IMAGE = f"ghcr.io/gitmoor/gitmoor:{__version__}"
HTTP_PORT_NAME = "http"
# `gitmoor install` and `bootstrap` keep the ledger on a claim of this size unless told `none`.
DEFAULT_LEDGER_VOLUME = "1Gi"
STRICT = "strict"
TENANCY_MODES = ("cluster-admin", STRICT)

# --- `gitmoor bootstrap` ----------------------------------------------------------------------
BOOTSTRAP_NAME = "cluster"  # the GitSource and Sync bootstrap writes


class AgentMode(enum.StrEnum):
    """Where the agent runs: as the installed Deployment (bootstrap waits until it is
    Available), or elsewhere (`none`: a `gitmoor run` the user starts with the cluster's
    kubeconfig; the Deployment is installed but not waited for)."""

    IN_CLUSTER = "in-cluster"
    NONE = "none"


# --- the ledger -------------------------------------------------------------------------------
# Where the installed agent keeps its ledger (the Deployment's volume).
IN_CLUSTER_URL = "sqlite:////var/lib/gitmoor/ledger.db"
# The installed agent's ledger API, through the API server's service proxy.
AGENT_NAMESPACE = DEFAULT_NAMESPACE
AGENT_SERVICE = f"{NAME}:{HTTP_PORT_NAME}"

# --- the web UI behind an authenticating proxy ------------------------------------------------
USER_HEADER = "X-Forwarded-User"
GROUPS_HEADER = "X-Forwarded-Groups"

# --- `gitmoor trace` --------------------------------------------------------------------------
TRACE_FORMS = "KIND/NAME, KIND.GROUP/NAME, VERSION/KIND/NAME or GROUP/VERSION/KIND/NAME"
