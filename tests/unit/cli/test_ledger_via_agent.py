"""How the ledger commands find the agent when no --ledger is given: the API server's proxy
path to its Service, and how what comes back is read."""

from __future__ import annotations

import orjson

from gitmoor.commands.agent_ledger import AgentLedger, proxy_path, service_with_port
from gitmoor.kube import RawAnswer
from gitmoor.model.defaults import AGENT_SERVICE


def test_the_proxy_path_names_the_service_and_its_port() -> None:
    assert AGENT_SERVICE == "gitmoor:http"  # the port `gitmoor install` names
    assert service_with_port("gitmoor") == "gitmoor:http"
    assert service_with_port("ledger:8080") == "ledger:8080"
    assert proxy_path("gitmoor-system", "gitmoor", "history") == (
        "/api/v1/namespaces/gitmoor-system/services/gitmoor:http/proxy/api/v1/ledger/history"
    )
    assert proxy_path("ops", "https:gitmoor:web", "dora") == (
        "/api/v1/namespaces/ops/services/https:gitmoor:web/proxy/api/v1/ledger/dora"
    )


def _refusal(status: int, body: bytes, *, agent: bool) -> str:
    book = AgentLedger(None, "t0ken", namespace="gitmoor-system", service="gitmoor")  # type: ignore[arg-type]
    headers = {"x-gitmoor-ledger": "v1"} if agent else {}
    return str(book._refusal(RawAnswer(status, body, headers)))


def test_refusals_say_who_refused_and_what_to_do() -> None:
    status = orjson.dumps(
        {
            "kind": "Status",
            "message": 'services "gitmoor:http" is forbidden: User "bob" cannot get resource '
            '"services/proxy"',
            "reason": "Forbidden",
            "code": 403,
        }
    )
    message = _refusal(403, status, agent=False)
    assert "cannot get resource" in message
    assert "gitmoor-ledger-reader" in message
    assert "--ledger" in message

    missing = orjson.dumps(
        {
            "kind": "Status",
            "message": 'services "gitmoor" not found',
            "reason": "NotFound",
            "details": {"name": "gitmoor", "kind": "services"},
            "code": 404,
        }
    )
    assert "no gitmoor agent Service gitmoor-system/gitmoor:http" in _refusal(
        404, missing, agent=False
    )
    assert "serves no ledger API" in _refusal(404, b"404: Not Found", agent=False)
    down = orjson.dumps({"kind": "Status", "message": 'no endpoints available for service "x"'})
    assert "no gitmoor agent answers behind" in _refusal(503, down, agent=False)

    refused = b'{"kind":"Status","message":"user \'bob\' may not read","code":403}'
    assert (
        _refusal(403, refused, agent=True) == "the gitmoor agent refused: user 'bob' may not read"
    )
    assert "did not accept your credentials" in _refusal(401, b"{}", agent=True)
    for text in (_refusal(401, b"{}", agent=True), _refusal(503, b"", agent=False)):
        assert "t0ken" not in text
