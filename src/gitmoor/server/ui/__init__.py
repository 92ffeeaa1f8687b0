"""The web UI: served by the agent on its port under `/ui`, and by `gitmoor ui` on a laptop
(see `routes` for the JSON API, `gates` for who may see and do what)."""

from __future__ import annotations

from gitmoor.commands.run import Readiness
from gitmoor.kube import Kube
from gitmoor.model.defaults import GROUPS_HEADER, USER_HEADER
from gitmoor.server.ui.backend import AgentBackend, LocalBackend
from gitmoor.server.ui.gates import LocalGate, ProxyGate, TokenGate
from gitmoor.server.ui.routes import UiApi

__all__ = [
    "AgentBackend",
    "LocalBackend",
    "LocalGate",
    "ProxyGate",
    "TokenGate",
    "UiApi",
    "for_agent",
]

AUTH_MODES = ("token", "proxy")


def for_agent(
    readiness: Readiness,
    *,
    auth: str = "token",
    origin: str | None = None,
    user_header: str = USER_HEADER,
    groups_header: str = GROUPS_HEADER,
) -> UiApi:
    """The UI of the agent whose state `readiness` holds: people present bearer tokens
    (`token`) or an authenticating proxy names them (`proxy`)."""

    def agent_kube() -> Kube | None:
        return None if readiness.agent is None else readiness.agent.kube

    if auth == "token":
        gate: TokenGate | ProxyGate = TokenGate(agent_kube)
    elif auth == "proxy":
        gate = ProxyGate(agent_kube, user_header=user_header, groups_header=groups_header)
    else:
        raise ValueError(f"UI auth: one of {', '.join(AUTH_MODES)}, not {auth!r}")
    return UiApi(AgentBackend(readiness), gate, origin=origin)
