"""The web UI under `/ui`: the page and its assets, and its JSON API under `/ui/api`.

    GET  /ui/                                      the app (every asset ships in this package)
    GET  /ui/api/session                           who you are, and the CSRF token for actions
    POST /ui/api/login            {"token": ...}   sign in with a bearer token (rate-limited)
    POST /ui/api/logout
    GET  /ui/api/overview?namespace=&status=&q=    Syncs and sources, counts per state
    GET  /ui/api/syncs/{ns}/{name}                 a Sync: conditions, history, drift, source
    GET  /ui/api/syncs/{ns}/{name}/tree            what it manages, health per object
    GET  /ui/api/syncs/{ns}/{name}/events          its Events and its GitSource's
    GET  /ui/api/syncs/{ns}/{name}/timeline        its attempts from the ledger
    GET  /ui/api/syncs/{ns}/{name}/rollback?record=ID   what rolling back to that record changes
    POST /ui/api/syncs/{ns}/{name}/{sync|suspend|resume|unpin}
    POST /ui/api/syncs/{ns}/{name}/rollback       {"record": ID}
    GET  /ui/api/environments                      what runs where, since when (the ledger)
    GET  /ui/api/dora?weeks=8                      DORA figures per environment and week
    GET  /ui/api/live                              server-sent events: rows as they change

Every API request is someone's (`gates`): a session cookie, a bearer token in `Authorization`,
or a proxy's headers. Reading a namespace's Syncs takes `get` on syncs there (403 when a named
one is not allowed; lists only hold what is); actions take `patch` on syncs there, and with a
cookie or a proxy's headers also the CSRF header and the UI's own Origin (`sessions`). Errors
are Kubernetes `Status` objects, as the ledger API answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from aiohttp import web

from gitmoor.commands.events import list_events, scopes_for
from gitmoor.commands.operations import (
    pin_request,
    request_reconcile,
    set_suspended,
    source_key,
    unpin,
)
from gitmoor.commands.tree import SyncNotFoundError, read_tree
from gitmoor.errors import GitmoorError, KubeApiError, OperationError
from gitmoor.kube import Kube
from gitmoor.kube import inventory as stored_inventory
from gitmoor.ledger import Ledger, LedgerError
from gitmoor.model.api import API_VERSION
from gitmoor.model.names import name_problem
from gitmoor.model.record import Record, Trigger
from gitmoor.reconcile.memory import Key
from gitmoor.server.access import ReviewError, TokenHeaderError
from gitmoor.server.ui import views
from gitmoor.server.ui.backend import Backend
from gitmoor.server.ui.gates import PATCH, READ, Gate, NotActiveError, Principal
from gitmoor.server.ui.limits import Limiter
from gitmoor.server.ui.live import Hub, event
from gitmoor.server.ui.sessions import COOKIE, CSRF_HEADER, Sessions, same_origin

log = structlog.get_logger("gitmoor.server.ui")

PREFIX = "/ui"
API = f"{PREFIX}/api"
_ASSETS = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "icon.svg": "image/svg+xml",
}
_MAX_BODY = 64 * 1024
KEEPALIVE = 20.0  # seconds between comments on a quiet event stream (proxies close idle ones)
DRIFT_SHOWN = 20  # drifted objects whose field diff a Sync's page shows (the rest are counted)
CORRECTIONS_SHOWN = 3  # the latest drift corrections a Sync's page shows from the ledger
_ACTIONS = ("sync", "suspend", "resume", "unpin", "rollback")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class Refused(Exception):
    def __init__(
        self, status: int, reason: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Who:
    """The person behind a request; `subject` is what their CSRF token is made of when their
    credentials ride along by themselves (a cookie, a proxy's headers), None otherwise."""

    principal: Principal
    subject: str | None


Handler = Callable[[web.Request, Who], Awaitable[Any]]


def _status(refused: Refused) -> web.Response:
    body = {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": str(refused),
        "reason": refused.reason,
        "code": refused.status,
    }
    headers = {}
    if refused.retry_after is not None:
        body["details"] = {"retryAfterSeconds": refused.retry_after}
        headers["Retry-After"] = str(refused.retry_after)
    return web.Response(
        status=refused.status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _forbidden(who: Who, verb: str, namespace: str) -> Refused:
    return Refused(
        403,
        "Forbidden",
        f"user {who.principal.caller.username!r} may not {verb} syncs.gitmoor.io in namespace "
        f"{namespace!r}",
    )


class UiApi:
    """The UI's routes over a backend (the agent's, or a laptop's) and a gate."""

    def __init__(self, backend: Backend, gate: Gate, *, origin: str | None = None) -> None:
        self.backend = backend
        self.gate = gate
        self.sessions = Sessions()
        self.sign_ins = Limiter()
        self.hub = Hub()
        self._origin = origin.rstrip("/") if origin else None
        backend.listen(self.hub.changed)

    def add_routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._headers)
        app.on_shutdown.append(self._shutdown)
        router = app.router
        router.add_get(PREFIX, self._to_app)
        router.add_get(f"{PREFIX}/", self._page)
        router.add_get(PREFIX + "/static/{asset}", self._asset)
        router.add_get(f"{API}/session", self._session)
        router.add_post(f"{API}/login", self._login)
        router.add_post(f"{API}/logout", self._logout)
        for path, handler in (
            ("/overview", self._overview),
            ("/syncs/{namespace}/{name}", self._sync),
            ("/syncs/{namespace}/{name}/tree", self._tree),
            ("/syncs/{namespace}/{name}/events", self._events),
            ("/syncs/{namespace}/{name}/timeline", self._timeline),
            ("/syncs/{namespace}/{name}/rollback", self._rollback_preview),
            ("/environments", self._environments),
            ("/dora", self._dora),
        ):
            router.add_get(API + path, functools.partial(self._json, handler=handler))
        router.add_post(
            API + "/syncs/{namespace}/{name}/{action}",
            functools.partial(self._json, handler=self._act, action=True),
        )
        router.add_get(f"{API}/live", self._live)

    async def _shutdown(self, _: web.Application) -> None:
        self.hub.close()

    # -- the page ----------------------------------------------------------------------------
    @staticmethod
    async def _headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")

    @staticmethod
    async def _to_app(_: web.Request) -> web.Response:
        raise web.HTTPFound(f"{PREFIX}/")

    @staticmethod
    async def _page(_: web.Request) -> web.Response:
        return web.Response(body=_read("index.html"), content_type="text/html", charset="utf-8")

    @staticmethod
    async def _asset(request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        if name not in _ASSETS:
            raise web.HTTPNotFound()
        return web.Response(body=_read(name), content_type=_ASSETS[name])

    # -- who ---------------------------------------------------------------------------------
    async def _who(self, request: web.Request) -> Who:
        try:
            principal = await self.gate.from_headers(request.headers)
        except TokenHeaderError as problem:
            raise Refused(401, "Unauthorized", str(problem)) from None
        if principal is not None:
            ambient = self.gate.mode == "proxy"
            return Who(principal, principal.key if ambient else None)
        session = request.cookies.get(COOKIE)
        principal = self.sessions.get(session)
        if principal is None or session is None:
            raise Refused(401, "Unauthorized", "sign in: a Kubernetes bearer token is required")
        if not await self.gate.current(principal):
            self.sessions.end(session)
            raise Refused(401, "Unauthorized", "the session's credentials are no longer valid")
        return Who(principal, session)

    def _from_ui(self, request: web.Request) -> None:
        """Refuse (403) a state-changing request that does not come from the UI's own pages."""
        if self._origin is not None:
            origin = request.headers.get("Origin")
            if origin != self._origin:
                raise Refused(403, "Forbidden", f"Origin {origin!r} is not this UI's")
            return
        problem = same_origin(request.headers, request.host, request.scheme)
        if problem is not None:
            raise Refused(403, "Forbidden", f"refused as a forged request: {problem}")

    async def _session(self, request: web.Request) -> web.Response:
        try:
            who = await self._who(request)
        except Refused as refused:
            response = _status(refused)
            response.headers["X-Gitmoor-Login"] = self.gate.mode
            return response
        except (ReviewError, NotActiveError) as problem:
            return _status(Refused(503, "ServiceUnavailable", str(problem)))
        body = {
            **who.principal.public(),
            "mode": self.gate.mode,
            "csrf": self.sessions.csrf(who.subject) if who.subject else None,
        }
        return web.json_response(body, dumps=lambda v: orjson.dumps(v).decode())

    async def _login(self, request: web.Request) -> web.Response:
        try:
            self._from_ui(request)
            if request.content_type != "application/json":
                raise Refused(415, "UnsupportedMediaType", "send the token as JSON")
            if (request.content_length or 0) > _MAX_BODY:
                raise Refused(413, "RequestEntityTooLarge", "the body is too large")
            try:
                body = orjson.loads(await request.content.read(_MAX_BODY))
            except orjson.JSONDecodeError:
                raise Refused(400, "BadRequest", "the body is not JSON") from None
            secret = str((body or {}).get("token") or "").strip() if isinstance(body, dict) else ""
            if not secret:
                raise Refused(400, "BadRequest", "token: required")
            # Each attempt costs a TokenReview: a client guessing tokens waits instead.
            wait = self.sign_ins.take(request.remote or "")
            if wait:
                log.warning("ui sign-in limited", client=request.remote, retry_after=wait)
                raise Refused(
                    429,
                    "TooManyRequests",
                    f"too many sign-in attempts from this address: try again in {wait}s",
                    retry_after=wait,
                )
            principal = await self.gate.login(secret)
            if principal is None:
                raise Refused(401, "Unauthorized", "the API server did not accept the token")
        except Refused as refused:
            return _status(refused)
        except (ReviewError, NotActiveError) as problem:
            return _status(Refused(503, "ServiceUnavailable", str(problem)))
        session = self.sessions.start(principal)
        log.info("ui sign-in", user=principal.caller.username)
        response = web.json_response(
            {**principal.public(), "mode": self.gate.mode, "csrf": self.sessions.csrf(session)}
        )
        response.set_cookie(
            COOKIE,
            session,
            httponly=True,
            samesite="Strict",
            path=PREFIX,
            secure=request.scheme == "https"
            or bool(self._origin and self._origin.startswith("https:")),
        )
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        try:
            self._from_ui(request)
        except Refused as refused:
            return _status(refused)
        self.sessions.end(request.cookies.get(COOKIE))
        response = web.json_response({})
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # -- every API call ----------------------------------------------------------------------
    async def _json(
        self, request: web.Request, *, handler: Handler, action: bool = False
    ) -> web.Response:
        try:
            if action:
                self._from_ui(request)
            who = await self._who(request)
            forged = action and who.subject is not None
            if forged and not self.sessions.csrf_ok(
                str(who.subject), request.headers.get(CSRF_HEADER)
            ):
                raise Refused(
                    403, "Forbidden", f"refused as a forged request: no valid {CSRF_HEADER}"
                )
            answer = await handler(request, who)
        except Refused as refused:
            return _status(refused)
        except TokenHeaderError as problem:
            return _status(Refused(401, "Unauthorized", str(problem)))
        except (ReviewError, NotActiveError) as problem:
            log.error("ui: review failed", error=str(problem))
            return _status(Refused(503, "ServiceUnavailable", str(problem)))
        except LedgerError as problem:
            return _status(Refused(503, "ServiceUnavailable", f"the ledger: {problem}"))
        except SyncNotFoundError as problem:
            return _status(Refused(404, "NotFound", str(problem)))
        except OperationError as problem:
            return _status(Refused(409, "Conflict", str(problem)))
        except KubeApiError as problem:
            if problem.status != 403:
                log.error("ui: request failed", path=request.path, error=str(problem))
                return _status(Refused(502, "BadGateway", str(problem)))
            # The UI reads with the agent's credentials (on a laptop, the kubeconfig's): say
            # that they lack the right, not that the person does.
            message = f"the UI's own credentials may not read this: {problem.detail}"
            return _status(Refused(403, "Forbidden", message))
        except GitmoorError as problem:
            log.error("ui: request failed", path=request.path, error=str(problem))
            return _status(Refused(502, "BadGateway", str(problem)))
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def _kube(self) -> Kube:
        kube = self.backend.kube
        if kube is None:
            raise Refused(503, "ServiceUnavailable", "this agent is not the active one")
        return kube

    def _ledger(self) -> Ledger | None:
        return self.backend.ledger

    async def _readable(self, who: Who, namespaces: set[str]) -> set[str]:
        return await self.gate.allowed(who.principal, sorted(namespaces), READ)

    async def _named(self, request: web.Request, who: Who, verb: str = READ) -> tuple[str, str]:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        for value, is_namespace in ((namespace, True), (name, False)):
            if problem := name_problem(value, namespace=is_namespace):
                raise Refused(400, "BadRequest", f"{value!r}: {problem}")
        if not await self.gate.allowed(who.principal, [namespace], verb):
            raise _forbidden(who, verb, namespace)
        return namespace, name

    def _found(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.backend.get("Sync", namespace, name)
        if obj is None:
            raise Refused(404, "NotFound", f"Sync {namespace}/{name} not found")
        return obj

    def _source_of(self, sync: dict[str, Any]) -> dict[str, Any] | None:
        return self.backend.get(*source_key(sync))

    # -- reads -------------------------------------------------------------------------------
    async def _overview(self, request: web.Request, who: Who) -> dict[str, Any]:
        chosen = views.Filter(
            namespace=request.query.get("namespace", ""),
            status=request.query.get("status", ""),
            text=request.query.get("q", "")[:200],
        )
        if problem := chosen.problem():
            raise Refused(400, "BadRequest", problem)
        syncs = self.backend.objects("Sync")
        sources = [
            o
            for kind in ("GitSource", "OCISource", "ChartSource")
            for o in self.backend.objects(kind)
        ]
        present = {o["metadata"].get("namespace", "") for o in syncs + sources}
        readable = await self._readable(who, present)
        answer = views.overview(syncs, sources, readable, chosen)
        answer["patchable"] = sorted(await self.gate.allowed(who.principal, readable, PATCH))
        answer["hidden_namespaces"] = len(present - readable)
        answer["cluster"] = self.backend.cluster
        return answer

    async def _sync(self, request: web.Request, who: Who) -> dict[str, Any]:
        namespace, name = await self._named(request, who)
        obj = self._found(namespace, name)
        detail = views.sync_detail(obj, self._source_of(obj))
        detail["can_patch"] = bool(await self.gate.allowed(who.principal, [namespace], PATCH))
        detail["drift"] = await self._drift(obj, namespace, name)
        detail["ledger"] = self._ledger() is not None
        # With `drift: correct` nothing stays drifted: the panel shows what was put back.
        detail["corrections"] = views.corrections(
            await self._records(namespace, name, limit=CORRECTIONS_SHOWN, trigger=Trigger.DRIFT)
        )
        return detail

    async def _drift(self, obj: dict[str, Any], namespace: str, name: str) -> list[dict[str, Any]]:
        found = self.backend.drift(namespace, name)
        if not found:
            return []
        kube = self._kube()
        try:
            versions = {e.ref: e.api_version for e in await stored_inventory.load(kube, obj)}
        except GitmoorError:
            versions = {}  # unreadable (the Sync's own status says so): Git's apiVersion
        drifted = []
        # One GET per object shown: a Sync with many drifted objects shows the first few.
        for ref, fields in sorted(found.items())[:DRIFT_SHOWN]:
            git = self.backend.baseline(namespace, name, ref)
            api_version = versions.get(ref) or str((git or {}).get("apiVersion") or "")
            live = (
                await kube.get(api_version, ref.kind, ref.name, ref.namespace)
                if api_version
                else None
            )
            drifted.append(
                {
                    "kind": ref.kind,
                    "namespace": ref.namespace,
                    "name": ref.name,
                    "deleted": not fields,
                    "fields": views.field_diff(ref.kind, fields, git, live),
                }
            )
        return drifted

    async def _tree(self, request: web.Request, who: Who) -> dict[str, Any]:
        namespace, name = await self._named(request, who)
        return (await read_tree(self._kube(), name, namespace)).as_dict()

    async def _events(self, request: web.Request, who: Who) -> dict[str, Any]:
        namespace, name = await self._named(request, who)
        kube = self._kube()
        rows, _ = await list_events(kube, await scopes_for(kube, namespace, name))
        return {"items": [r.as_dict() for r in reversed(rows[-50:])]}

    async def _records(
        self, namespace: str, name: str, limit: int = 50, trigger: Trigger | None = None
    ) -> list[Record]:
        ledger = self._ledger()
        if ledger is None:
            return []
        return await ledger.history(
            sync=name,
            namespace=namespace,
            cluster=self.backend.cluster or None,
            limit=limit,
            namespaces={namespace},
            trigger=trigger,
        )

    async def _timeline(self, request: web.Request, who: Who) -> dict[str, Any]:
        namespace, name = await self._named(request, who)
        records = await self._records(namespace, name)
        return {"ledger": self._ledger() is not None, "items": [r.as_dict() for r in records]}

    async def _rollback_target(
        self, namespace: str, name: str, record_id: Any
    ) -> tuple[Record | None, Record]:
        try:
            wanted = int(record_id)
        except (TypeError, ValueError):
            raise Refused(400, "BadRequest", "record: the id of a ledger record") from None
        ledger = self._ledger()
        if ledger is None:
            raise Refused(503, "ServiceUnavailable", "the agent has no ledger open")
        target = await ledger.get(wanted)
        if (
            target is None
            or (target.sync_namespace, target.sync_name) != (namespace, name)
            or (self.backend.cluster and target.cluster != self.backend.cluster)
        ):
            raise Refused(404, "NotFound", f"Sync {namespace}/{name} has no record {wanted}")
        if target.deployed_revision is None:
            raise Refused(400, "BadRequest", f"record {wanted} left nothing running to go back to")
        records = await self._records(namespace, name)
        current = next((r for r in records if r.deployed_revision is not None), None)
        return current, target

    async def _rollback_preview(self, request: web.Request, who: Who) -> dict[str, Any]:
        namespace, name = await self._named(request, who)
        current, target = await self._rollback_target(namespace, name, request.query.get("record"))
        return views.content_diff(current, target)

    async def _environments(self, request: web.Request, who: Who) -> dict[str, Any]:
        ledger = self._ledger()
        if ledger is None:
            return {"ledger": False, "environments": [], "rows": []}
        namespaces = await ledger.namespaces(cluster=self.backend.cluster or None)
        readable = await self._readable(who, set(namespaces))
        found = await ledger.running_at(
            datetime.now(UTC), cluster=self.backend.cluster or None, namespaces=readable
        )
        running = [(r, o.revision, (r.deployed_at or r.started_at).isoformat()) for r, o in found]
        return {"ledger": True, **views.matrix(running)}

    async def _dora(self, request: web.Request, who: Who) -> dict[str, Any]:
        try:
            weeks = int(request.query.get("weeks", "8"))
        except ValueError:
            raise Refused(400, "BadRequest", "weeks: a number") from None
        if not 1 <= weeks <= 52:
            raise Refused(400, "BadRequest", "weeks: between 1 and 52")
        ledger = self._ledger()
        if ledger is None:
            return {"ledger": False, "environments": {}}
        cluster = self.backend.cluster or None
        namespaces = await ledger.namespaces(cluster=cluster)
        readable = await self._readable(who, set(namespaces))
        now = datetime.now(UTC)
        running = await ledger.running_at(now, cluster=cluster, namespaces=readable)
        environments = sorted({r.environment for r, _ in running})
        windows = [
            (now - timedelta(weeks=week), now - timedelta(weeks=week - 1))
            for week in range(weeks, 0, -1)
        ]
        found = await ledger.dora_series(
            environments, windows, cluster=cluster, namespaces=readable
        )
        series = {e: [figures.as_dict() for figures in found[e]] for e in environments}
        return {"ledger": True, "weeks": weeks, "environments": series}

    # -- actions -----------------------------------------------------------------------------
    async def _act(self, request: web.Request, who: Who) -> dict[str, Any]:
        action = request.match_info["action"]
        if action not in _ACTIONS:
            raise Refused(404, "NotFound", f"no action {action!r}: one of {', '.join(_ACTIONS)}")
        namespace, name = await self._named(request, who, PATCH)
        obj = self._found(namespace, name)
        kube = self._kube()
        log.info(
            "ui action",
            user=who.principal.caller.username,
            action=action,
            sync=f"{namespace}/{name}",
        )
        if action == "sync":
            if (obj.get("spec") or {}).get("suspend"):
                raise OperationError(f"Sync {namespace}/{name} is suspended: resume it first")
            src_kind, src_ns, src_name = source_key(obj)
            with contextlib.suppress(OperationError):  # a missing source: the Sync says so
                await request_reconcile(kube, src_kind, src_name, src_ns)
            token = await request_reconcile(kube, "Sync", name, namespace)
            return {"requested": token}
        if action in ("suspend", "resume"):
            await set_suspended(kube, "Sync", name, namespace, action == "suspend")
            return {"suspended": action == "suspend"}
        if action == "unpin":
            await unpin(kube, name, namespace)
            return {"pinned": None}
        body = await _body(request)
        _, target = await self._rollback_target(namespace, name, body.get("record"))
        revision = target.deployed_revision
        assert revision is not None
        await kube.patch_merge(API_VERSION, "Sync", name, namespace, pin_request(revision))
        return {"pinned": revision, "record": target.id}

    # -- live --------------------------------------------------------------------------------
    async def _live(self, request: web.Request) -> web.StreamResponse:
        try:
            who = await self._who(request)
        except Refused as refused:
            return _status(refused)
        except (ReviewError, NotActiveError) as problem:
            return _status(Refused(503, "ServiceUnavailable", str(problem)))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        subscriber = self.hub.subscribe()
        try:
            await response.write(b"retry: 3000\n\n" + event("hello", {"live": True}))
            while not self.hub.closed():
                try:
                    await asyncio.wait_for(subscriber.wake.wait(), KEEPALIVE)
                except TimeoutError:
                    if who.subject is not None and not await self._still(who):
                        break
                    await response.write(b": keep-alive\n\n")
                    continue
                if self.hub.closed():
                    break
                for chunk in await self._rows(who, subscriber.take()):
                    await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except (ReviewError, NotActiveError) as problem:
            log.warning("ui: live stream ended", error=str(problem))
        finally:
            self.hub.unsubscribe(subscriber)
        return response

    async def _still(self, who: Who) -> bool:
        if self.gate.mode == "proxy":
            return True
        return await self.gate.current(who.principal)

    async def _rows(self, who: Who, keys: set[Key]) -> list[bytes]:
        if not keys:
            return []
        readable = await self._readable(who, {k.namespace for k in keys})
        chunks = []
        sources = {k for k in keys if k.kind != "Sync" and k.namespace in readable}
        syncs = {k for k in keys if k.kind == "Sync"}
        if sources:
            # A source's new revision is its Syncs' commit subject: send those rows too.
            for sync in self.backend.objects("Sync"):
                if Key(*source_key(sync)) in sources:
                    meta = sync["metadata"]
                    syncs.add(Key("Sync", meta.get("namespace", ""), meta["name"]))
        for key in sorted(sources | syncs):
            if key.namespace not in readable:
                continue
            obj = self.backend.get(key.kind, key.namespace, key.name)
            if obj is None:
                gone = {"kind": key.kind, "namespace": key.namespace, "name": key.name}
                chunks.append(event("gone", gone))
            elif key.kind == "Sync":
                chunks.append(event("sync", views.sync_view(obj, self._source_of(obj))))
            else:
                chunks.append(event("source", views.source_view(obj)))
        return chunks


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise Refused(415, "UnsupportedMediaType", "send JSON")
    raw = await request.content.read(_MAX_BODY)
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise Refused(400, "BadRequest", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "BadRequest", "the body must be a JSON object")
    return body


@functools.cache
def _read(name: str) -> bytes:
    return (importlib.resources.files("gitmoor.server.ui") / "static" / name).read_bytes()
