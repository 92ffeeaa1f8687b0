"""The ledger questions asked of the installed agent, through the API server's service proxy:
what `gitmoor history | where | at | dora` do without `--ledger`, from anywhere a kubeconfig
reaches the cluster.

    GET /api/v1/namespaces/<agent namespace>/services/<service>:<port>/proxy/api/v1/ledger/...

The API server authenticates the caller and lets through only those allowed to `get`
`services/proxy` on the agent's Service; it does not pass the caller's credentials on, so the
caller's own bearer token goes along in `X-Gitmoor-Token`, and the agent checks it
(TokenReview) and what it may read (SubjectAccessReview: `get` on syncs in each namespace).
A kubeconfig user with a client certificate has no token to send: that is an error saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from gitmoor.errors import OperationError
from gitmoor.kube import Kube, RawAnswer
from gitmoor.ledger.attribution import Origin
from gitmoor.ledger.deployments import Deployment
from gitmoor.ledger.dora import Dora
from gitmoor.ledger.trail import ImageTrail
from gitmoor.model.defaults import AGENT_NAMESPACE, AGENT_SERVICE, HTTP_PORT_NAME
from gitmoor.model.ledger_api import MARK_HEADER, PREFIX, TOKEN_HEADER
from gitmoor.model.record import Record

_NOT_TOO_LONG = 120.0  # seconds: a ledger question is a few queries
_OTHERWISE = "or pass --ledger URL to read a ledger database directly"


class AgentLedgerError(OperationError):
    """The agent could not be asked, or refused; the message says which and what to do."""


class NoTokenError(AgentLedgerError):
    """The kubeconfig's user authenticates without a bearer token (a client certificate)."""


def service_with_port(service: str) -> str:
    """`NAME` or `NAME:PORT` (a port's name or number) as the proxy path names it: the
    install's port name when none is given."""
    return service if ":" in service else f"{service}:{HTTP_PORT_NAME}"


def proxy_path(namespace: str, service: str, question: str) -> str:
    """The API server's path to the agent's ledger API, for one question (`history`...)."""
    return (
        f"/api/v1/namespaces/{quote(namespace, safe='')}/services/"
        f"{quote(service_with_port(service), safe=':')}/proxy{PREFIX}/{question}"
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class AgentLedger:
    """The `LedgerReader` questions, answered by the agent. After each, `hidden_namespaces`
    says how many namespaces with records the caller was not allowed to see."""

    def __init__(self, kube: Kube, token: str, *, namespace: str, service: str) -> None:
        self._kube = kube
        self._token = token
        self.namespace = namespace
        self.service = service_with_port(service)
        self.hidden_namespaces = 0

    @classmethod
    async def connect(
        cls, kube: Kube, *, namespace: str = AGENT_NAMESPACE, service: str = AGENT_SERVICE
    ) -> AgentLedger:
        token = await kube.bearer_token()
        if token is None:
            raise NoTokenError(
                "the kubeconfig's user has no bearer token to show the gitmoor agent (a client "
                "certificate cannot be passed on through the API server): use a context whose "
                f"user has a token (token, tokenFile or an exec plugin), {_OTHERWISE}"
            )
        return cls(kube, token, namespace=namespace, service=service)

    @property
    def where_it_is(self) -> str:
        return f"Service {self.namespace}/{self.service}"

    # -- the questions -----------------------------------------------------------------------
    async def history(
        self,
        *,
        sync: str | None = None,
        namespace: str | None = None,
        environment: str | None = None,
        cluster: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        changed_only: bool = False,
    ) -> list[Record]:
        body = await self._ask(
            "history",
            sync=sync,
            namespace=namespace,
            environment=environment,
            cluster=cluster,
            since=_iso(since),
            limit=str(limit),
            all="false" if changed_only else "true",
        )
        return [Record.from_dict(item) for item in self._items(body)]

    async def where(self, what: str) -> list[Deployment]:
        body = await self._ask("where", what=what)
        return [Deployment.from_dict(item) for item in self._items(body)]

    async def at(self, when: datetime, *, environment: str | None = None) -> list[Record]:
        body = await self._ask("at", time=_iso(when), environment=environment)
        return [Record.from_dict(item) for item in self._items(body)]

    async def running_at(
        self, when: datetime, *, environment: str | None = None
    ) -> list[tuple[Record, Origin]]:
        body = await self._ask("at", time=_iso(when), environment=environment)
        try:
            return [
                (Record.from_dict(item), Origin.from_dict(item["content_origin"]))
                for item in self._items(body)
            ]
        except (KeyError, TypeError, ValueError) as problem:
            raise self._garbled(problem) from None

    async def dora(self, *, environment: str | None = None, since: datetime | None = None) -> Dora:
        body = await self._ask("dora", environment=environment, since=_iso(since))
        try:
            return Dora.from_dict(body["dora"])
        except (KeyError, TypeError, ValueError) as problem:
            raise self._garbled(problem) from None

    async def image_trail(self, image: str) -> list[ImageTrail]:
        body = await self._ask("image-trail", image=image)
        try:
            return [ImageTrail.from_dict(item) for item in self._items(body)]
        except (KeyError, TypeError, ValueError) as problem:
            raise self._garbled(problem) from None

    async def record(self, record_id: int, *, sync: str, namespace: str) -> Record | None:
        body = await self._ask("record", id=str(record_id), sync=sync, namespace=namespace)
        try:
            found = [Record.from_dict(item) for item in self._items(body)]
        except (KeyError, TypeError, ValueError) as problem:
            raise self._garbled(problem) from None
        return found[0] if found else None

    # -- asking ------------------------------------------------------------------------------
    def _items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        items = body.get("items")
        if not isinstance(items, list):
            raise self._garbled("no items")
        return items

    def _garbled(self, problem: object) -> AgentLedgerError:
        return AgentLedgerError(
            f"the gitmoor agent behind {self.where_it_is} answered something unreadable "
            f"({problem}): is it the same version of gitmoor as this command?"
        )

    async def _ask(self, question: str, **params: str | None) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        answer = await self._kube.get_raw(
            proxy_path(self.namespace, self.service, question),
            query=query,
            headers={TOKEN_HEADER: self._token},
            timeout=_NOT_TOO_LONG,
        )
        if answer.status != 200 or MARK_HEADER.lower() not in answer.headers:
            raise self._refusal(answer)
        try:
            body = orjson.loads(answer.body)
            self.hidden_namespaces = int(body.get("hidden_namespaces") or 0)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as problem:
            raise self._garbled(problem) from None
        if not isinstance(body, dict):
            raise self._garbled("not an object")
        return body

    def _refusal(self, answer: RawAnswer) -> AgentLedgerError:
        message = _status_message(answer.body)
        if MARK_HEADER.lower() in answer.headers:  # the agent's own answer
            if answer.status == 401:
                return AgentLedgerError(
                    f"the gitmoor agent did not accept your credentials: {message}"
                )
            if answer.status == 503:
                return AgentLedgerError(f"the gitmoor agent cannot answer now: {message}")
            return AgentLedgerError(f"the gitmoor agent refused: {message}")
        # The API server's answer (or a Service that is not gitmoor's ledger API).
        if answer.status == 401:
            return AgentLedgerError(
                f"the API server did not accept the kubeconfig's credentials: {message}"
            )
        if answer.status == 403:
            return AgentLedgerError(
                f"{message}: asking the gitmoor agent through the API server takes `get` on "
                f"services/proxy for {self.where_it_is} (the ClusterRole gitmoor-ledger-reader, "
                f"bound in {self.namespace}), {_OTHERWISE}"
            )
        if answer.status == 404 and '"services"' in answer.body.decode(errors="replace"):
            return AgentLedgerError(
                f"no gitmoor agent {self.where_it_is} in this cluster ({message}): is gitmoor "
                "installed? --agent-namespace and --agent-service name another; "
                f"{_OTHERWISE}"
            )
        if answer.status == 404:
            return AgentLedgerError(
                f"{self.where_it_is} serves no ledger API (HTTP 404): is it gitmoor, and a "
                f"version that has one? {_OTHERWISE}"
            )
        if answer.status == 503 and "no endpoints available" in message:
            return AgentLedgerError(
                f"no gitmoor agent answers behind {self.where_it_is} ({message}): is gitmoor "
                "installed there (--agent-namespace and --agent-service name another), and its "
                f"agent running and ready? {_OTHERWISE}"
            )
        return AgentLedgerError(
            f"the gitmoor agent behind {self.where_it_is} did not answer (HTTP "
            f"{answer.status}: {message}): is it running and ready? {_OTHERWISE}"
        )


def _status_message(raw: bytes) -> str:
    """The message of a Kubernetes Status body, else the start of the text, on one line."""
    try:
        body = orjson.loads(raw)
        if isinstance(body, dict) and body.get("message"):
            return " ".join(str(body["message"]).split())
    except orjson.JSONDecodeError:
        pass
    return " ".join(raw[:300].decode(errors="replace").split()) or "no message"
