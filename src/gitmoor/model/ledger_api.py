"""The wire names of the agent's read-only ledger API, shared by the server that answers
(`gitmoor.server.ledger_api`) and the command that asks (`gitmoor.commands.agent_ledger`)."""

PREFIX = "/api/v1/ledger"
# The caller's own Kubernetes bearer token, for when `Authorization` cannot carry it: the API
# server's service proxy authenticates the caller itself and does not pass that header on.
TOKEN_HEADER = "X-Gitmoor-Token"  # noqa: S105 - a header name, not a secret
# On every answer of the ledger API, so a client tells it from the API server's own.
MARK_HEADER = "X-Gitmoor-Ledger"
MARK = "v1"
