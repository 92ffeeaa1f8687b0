"""The read-only ledger API on the agent's port: what `gitmoor history | where | at | dora` ask,
answered from the agent's own ledger for the agent's own cluster.

    GET /api/v1/ledger/history?sync=&namespace=&environment=&cluster=&since=&limit=&all=
    GET /api/v1/ledger/where?what=REVISION|IMAGE
    GET /api/v1/ledger/at?time=&environment=
    GET /api/v1/ledger/dora?environment=&since=

Times are ISO-8601 with an offset (the CLI turns `7d` into one). Every request carries the
caller's Kubernetes bearer token (`gitmoor.server.access`): none or one the API server does not
accept is 401. A request naming a namespace the caller may not read (`get` on `syncs` there) is
403; any other answers only with records of namespaces the caller may read, and
`hidden_namespaces` says how many namespaces with records were left out. Answers are
`{"cluster", "hidden_namespaces", "items": [...]}` (`"dora": {...}` for DORA), each item as
`Record.as_dict` / `Deployment.as_dict` writes it; refusals are Kubernetes `Status` objects.
Every answer carries `X-Gitmoor-Ledger`, so a client can tell it from the API server's own.

Only records of the agent's cluster are served, even from a ledger several clusters share: this
cluster's RBAC says nothing about another's namespaces.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import structlog
from aiohttp import web

from gitmoor.kube import Kube
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.ledger.lookup import parse_query
from gitmoor.model.ledger_api import MARK, MARK_HEADER, PREFIX, TOKEN_HEADER
from gitmoor.model.names import name_problem
from gitmoor.server.access import (
    Caller,
    Reviewer,
    ReviewError,
    Reviews,
    TokenHeaderError,
    caller_token,
)

log = structlog.get_logger("gitmoor.server.ledger")

MAX_LIMIT = 1000


@dataclass(frozen=True)
class LedgerBackend:
    """What answers: the active agent's client (for the reviews), ledger and cluster name."""

    kube: Kube
    ledger: Ledger | None  # None: no ledger configured, or it cannot be opened now
    cluster: str


@dataclass(frozen=True)
class _Open:
    """A backend whose ledger is open."""

    kube: Kube
    ledger: Ledger
    cluster: str


class Refused(Exception):
    """A request answered with an error status; the message is for the caller."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


Answer = dict[str, Any]
Query = Callable[[_Open, frozenset[str]], Awaitable[Answer]]
Params = Mapping[str, str]


class LedgerApi:
    """The routes of the ledger API. `backend()` gives what answers, or None while this agent
    is not the active one (503, the caller retries)."""

    def __init__(
        self,
        backend: Callable[[], LedgerBackend | None],
        *,
        reviewer: Reviews | None = None,
    ) -> None:
        self._backend = backend
        self._reviewer = reviewer or Reviewer()

    def add_routes(self, app: web.Application) -> None:
        for name, question in (
            ("history", self._history_query),
            ("where", self._where_query),
            ("at", self._at_query),
            ("dora", self._dora_query),
            ("image-trail", self._image_trail_query),
            ("record", self._record_query),
        ):
            app.router.add_get(
                f"{PREFIX}/{name}", functools.partial(self._answer, question=question)
            )

    # -- the four questions: each reads its parameters (400 when wrong) and says what to ask --
    @staticmethod
    def _history_query(params: Params) -> tuple[Query, str | None]:
        namespace = _name(params, "namespace", namespace=True)
        sync = _name(params, "sync")
        cluster = params.get("cluster") or None
        environment = params.get("environment") or None
        since = _time(params, "since")
        limit = _int(params, "limit", 50)
        changed_only = not _flag(params, "all")

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            if cluster is not None and cluster != backend.cluster:
                return {"items": []}
            found = await backend.ledger.history(
                sync=sync,
                namespace=namespace,
                environment=environment,
                cluster=backend.cluster,
                since=since,
                limit=limit,
                changed_only=changed_only,
                namespaces=namespaces,
            )
            return {"items": [r.as_dict() for r in found]}

        return ask, namespace

    @staticmethod
    def _where_query(params: Params) -> tuple[Query, str | None]:
        what = params.get("what", "")
        try:
            parse_query(what)
        except ValueError as problem:
            raise _bad(f"what: {problem}") from None

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            found = await backend.ledger.where(what, cluster=backend.cluster, namespaces=namespaces)
            return {"items": [d.as_dict() for d in found]}

        return ask, None

    @staticmethod
    def _at_query(params: Params) -> tuple[Query, str | None]:
        moment = _time(params, "time")
        if moment is None:
            raise _bad("time: required, ISO-8601 with an offset")
        environment = params.get("environment") or None

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            found = await backend.ledger.running_at(
                moment, environment=environment, cluster=backend.cluster, namespaces=namespaces
            )
            return {"items": [{**r.as_dict(), "content_origin": o.as_dict()} for r, o in found]}

        return ask, None

    @staticmethod
    def _dora_query(params: Params) -> tuple[Query, str | None]:
        since = _time(params, "since")
        environment = params.get("environment") or None

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            figures = await backend.ledger.dora(
                environment=environment,
                since=since,
                cluster=backend.cluster,
                namespaces=namespaces,
            )
            return {"dora": figures.as_dict()}

        return ask, None

    @staticmethod
    def _image_trail_query(params: Params) -> tuple[Query, str | None]:
        image = params.get("image", "")
        if not image or any(c.isspace() for c in image):
            raise _bad("image: required, registry/path[:tag]")

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            found = await backend.ledger.image_trail(
                image, cluster=backend.cluster, namespaces=namespaces
            )
            return {"items": [t.as_dict() for t in found]}

        return ask, None

    @staticmethod
    def _record_query(params: Params) -> tuple[Query, str | None]:
        namespace = _name(params, "namespace", namespace=True)
        sync = _name(params, "sync")
        if namespace is None or sync is None:
            raise _bad("namespace and sync: required (a record is read as one Sync's)")
        text = params.get("id", "")
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not (text.isascii() and text.isdigit()) or int(text) <= 0:
            raise _bad(f"id: required, a record id (a positive integer), not {text!r}")
        record_id = int(text)

        async def ask(backend: _Open, namespaces: frozenset[str]) -> Answer:
            found = await backend.ledger.record(
                record_id, sync=sync, namespace=namespace, cluster=backend.cluster
            )
            return {"items": [] if found is None else [found.as_dict()]}

        return ask, namespace

    # -- what every question goes through ----------------------------------------------------
    async def _answer(
        self, request: web.Request, question: Callable[[Params], tuple[Query, str | None]]
    ) -> web.Response:
        """Authenticate, read the question, limit it to what the caller may read, answer."""
        try:
            token = caller_token(request.headers)
            if token is None:
                raise Refused(
                    401,
                    "Unauthorized",
                    "a Kubernetes bearer token is required (Authorization: Bearer, or "
                    f"{TOKEN_HEADER} through the API server's service proxy)",
                )
            active = self._backend()
            if active is None:
                raise Refused(503, "ServiceUnavailable", "this agent is not the active one")
            if active.ledger is None:
                raise Refused(
                    503,
                    "ServiceUnavailable",
                    "the agent has no ledger open: none is configured (--ledger none), or it "
                    "cannot be opened now (records wait in the spool)",
                )
            backend = _Open(active.kube, active.ledger, active.cluster)
            caller = await self._reviewer.authenticate(backend.kube, token)
            if caller is None:
                raise Refused(401, "Unauthorized", "the API server did not accept the token")
            ask, namespace = question(request.query)
            namespaces, hidden = await self._scope(backend, token, caller, namespace)
            answer = await ask(backend, namespaces)
        except Refused as refused:
            return _refusal(refused)
        except TokenHeaderError as problem:
            return _refusal(Refused(401, "Unauthorized", str(problem)))
        except ReviewError as problem:
            log.error("ledger API: review failed", error=str(problem))
            return _refusal(Refused(503, "ServiceUnavailable", str(problem)))
        except LedgerError as problem:
            log.error("ledger API: ledger failed", error=str(problem))
            return _refusal(Refused(503, "ServiceUnavailable", f"the ledger: {problem}"))
        body = {"cluster": backend.cluster, "hidden_namespaces": hidden, **answer}
        return web.Response(
            body=orjson.dumps(body),
            content_type="application/json",
            headers={MARK_HEADER: MARK},
        )

    async def _scope(
        self, backend: _Open, token: str, caller: Caller, namespace: str | None
    ) -> tuple[frozenset[str], int]:
        """The namespaces whose records the answer may hold, and how many were left out: the
        one asked for (403 unless allowed), else every namespace with records the caller may
        read."""
        if namespace is not None:
            if not await self._reviewer.allowed(backend.kube, token, caller, [namespace]):
                log.info("ledger API: refused", user=caller.username, namespace=namespace)
                raise Refused(
                    403,
                    "Forbidden",
                    f"user {caller.username!r} may not read the ledger records of namespace "
                    f"{namespace!r}: that takes `get` on syncs.gitmoor.io there",
                )
            return frozenset({namespace}), 0
        present = await backend.ledger.namespaces(cluster=backend.cluster)
        allowed = await self._reviewer.allowed(backend.kube, token, caller, present)
        return frozenset(allowed), len(set(present) - allowed)


def _refusal(refused: Refused) -> web.Response:
    status = {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": str(refused),
        "reason": refused.reason,
        "code": refused.status,
    }
    headers = {MARK_HEADER: MARK}
    if refused.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gitmoor ledger"'
    return web.Response(
        status=refused.status,
        body=orjson.dumps(status),
        content_type="application/json",
        headers=headers,
    )


def _bad(message: str) -> Refused:
    return Refused(400, "BadRequest", message)


def _name(params: Params, key: str, *, namespace: bool = False) -> str | None:
    value = params.get(key) or None
    if value is not None and (problem := name_problem(value, namespace=namespace)):
        raise _bad(f"{key}: {problem}")
    return value


def _time(params: Params, key: str) -> datetime | None:
    text = params.get(key) or None
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{key}: not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise _bad(f"{key}: {text!r} needs an offset (Z, +01:00)")
    return moment


def _int(params: Params, key: str, default: int) -> int:
    text = params.get(key)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{key}: not a number: {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise _bad(f"{key}: must be between 1 and {MAX_LIMIT}")
    return value


def _flag(params: Params, key: str) -> bool:
    text = (params.get(key) or "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise _bad(f"{key}: true or false, not {text!r}")
    return text in ("true", "1")
