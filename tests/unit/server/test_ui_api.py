"""The UI's JSON API served for real on loopback, over an agent cache held in memory, with the
API server's review answers from a table (the real TokenReview and SubjectAccessReview path,
and the browser, are tested in tests/integration/agent/test_ui.py): who gets in by which way,
what each sees, which requests count as forged, and what the live stream sends to whom."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gitmoor.errors import KubeApiError
from gitmoor.ledger import Ledger
from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef
from gitmoor.model.record import ObjectAction, Record, Result, Trigger
from gitmoor.reconcile.cache import OnChange
from gitmoor.reconcile.memory import Key
from gitmoor.reconcile.records import correction_message
from gitmoor.server.access import Caller
from gitmoor.server.app import bound_port, serve
from gitmoor.server.ui import UiApi
from gitmoor.server.ui.gates import LocalGate, ProxyGate, TokenGate
from gitmoor.server.ui.limits import Limiter
from gitmoor.server.ui.routes import SECURITY_HEADERS


def _sync(namespace: str, name: str, ready: str = "True") -> dict[str, Any]:
    return {
        "kind": "Sync",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"sourceRef": {"name": "repo"}},
        "status": {
            "lastAppliedRevision": "main@sha1:" + "a" * 40,
            "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": ""}],
        },
    }


@dataclass
class Patches:
    """Stands for the agent's client where actions write: what was patched."""

    done: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    async def patch_merge(
        self, api_version: str, kind: str, name: str, namespace: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        self.done.append((kind, namespace, name, patch))
        return {}


class Backend:
    def __init__(self) -> None:
        self.store = {
            Key("Sync", "team-a", "web"): _sync("team-a", "web"),
            Key("Sync", "team-b", "db"): _sync("team-b", "db", ready="False"),
        }
        self.listeners: list[OnChange] = []
        self.kube: Any = Patches()

    ledger: Any = None
    cluster = "here"

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [o for k, o in self.store.items() if k.kind == kind]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(Key(kind, namespace, name))

    def drift(self, namespace: str, name: str) -> dict[ObjectRef, tuple[str, ...]]:
        return {}

    def baseline(self, namespace: str, name: str, ref: ObjectRef) -> dict[str, Any] | None:
        return None

    def listen(self, listener: OnChange) -> None:
        self.listeners.append(listener)

    def change(self, key: Key, obj: dict[str, Any] | None) -> None:
        if obj is None:
            self.store.pop(key, None)
        else:
            self.store[key] = obj
        for listener in self.listeners:
            listener(key)


# Users and what they may do where: (verb, namespace).
GRANTS = {
    "ada": {("get", "team-a"), ("patch", "team-a"), ("get", "team-b")},
    "bob": {("get", "team-b")},
}
TOKENS = {"token-ada": Caller("ada"), "token-bob": Caller("bob")}


@dataclass
class TableReviews:
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def authenticate(self, kube: Any, token: str) -> Caller | None:
        return TOKENS.get(token)

    async def allowed(
        self, kube: Any, token: str, caller: Caller, namespaces: Iterable[str], verb: str = "get"
    ) -> set[str]:
        wanted = list(namespaces)
        self.asked.extend((verb, n) for n in wanted)
        return {n for n in wanted if (verb, n) in GRANTS.get(caller.username, set())}


@dataclass
class Served:
    url: str
    backend: Backend
    ui: UiApi

    @property
    def origin(self) -> str:
        return self.url.rsplit("/ui", 1)[0]


@contextlib.asynccontextmanager
async def serving(mode: str = "token") -> AsyncIterator[Served]:
    backend = Backend()
    reviews = TableReviews()
    gate: TokenGate | ProxyGate = (
        TokenGate(lambda: backend.kube, reviews)
        if mode == "token"
        else ProxyGate(lambda: backend.kube, reviews)
    )
    ui = UiApi(backend, gate)
    runner = await serve("127.0.0.1", 0, lambda: True, ui=ui)
    try:
        yield Served(f"http://127.0.0.1:{bound_port(runner)}/ui", backend, ui)
    finally:
        await runner.cleanup()


def _client() -> aiohttp.ClientSession:
    # Cookies of an IP address are kept only by an "unsafe" jar (a browser keeps them).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _login(http: aiohttp.ClientSession, served: Served, token: str) -> str:
    async with http.post(
        f"{served.url}/api/login", json={"token": token}, headers={"Origin": served.origin}
    ) as response:
        assert response.status == 200, await response.text()
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert "SameSite=Strict" in response.headers["Set-Cookie"]
        return str((await response.json())["csrf"])


async def test_a_session_sees_what_its_token_may_read_and_acts_where_it_may_patch() -> None:
    async with serving() as served, _client() as http:
        async with http.get(f"{served.url}/api/overview") as response:
            assert response.status == 401
        async with http.get(f"{served.url}/api/session") as response:
            assert (response.status, response.headers["X-Gitmoor-Login"]) == (401, "token")
        async with http.post(
            f"{served.url}/api/login", json={"token": "nope"}, headers={"Origin": served.origin}
        ) as response:
            assert response.status == 401
        csrf = await _login(http, served, "token-ada")
        async with http.get(f"{served.url}/api/overview") as response:
            body = await response.json()
        assert [r["name"] for r in body["syncs"]] == ["web", "db"]
        assert body["patchable"] == ["team-a"]
        async with http.get(f"{served.url}/api/overview", params={"status": "failed"}) as r:
            assert [s["name"] for s in (await r.json())["syncs"]] == ["db"]
        async with http.get(f"{served.url}/api/overview", params={"status": "bad"}) as r:
            assert r.status == 400

        act = {"X-Gitmoor-CSRF": csrf, "Origin": served.origin}
        async with http.post(f"{served.url}/api/syncs/team-a/web/suspend", headers=act) as r:
            assert r.status == 200, await r.text()
        assert served.backend.kube.done == [("Sync", "team-a", "web", {"spec": {"suspend": True}})]
        # May read team-b, not patch there: 403, nothing written.
        async with http.post(f"{served.url}/api/syncs/team-b/db/suspend", headers=act) as r:
            assert r.status == 403
            assert "may not patch" in (await r.json())["message"]
        async with http.post(f"{served.url}/api/syncs/team-a/web/explode", headers=act) as r:
            assert r.status == 404
        assert len(served.backend.kube.done) == 1

        async with http.post(f"{served.url}/api/logout", headers={"Origin": served.origin}) as r:
            assert r.status == 200
        async with http.get(f"{served.url}/api/overview") as response:
            assert response.status == 401


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "forged"),  # no Origin at all
        ({"Origin": "http://evil.example"}, "not this UI's"),
        ({"Origin": "SELF", "Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
        ({"Origin": "SELF", "X-Gitmoor-CSRF": "0" * 64}, "X-Gitmoor-CSRF"),
        ({"Origin": "SELF"}, "X-Gitmoor-CSRF"),
    ],
)
async def test_forged_actions_are_refused(headers: dict[str, str], why: str) -> None:
    async with serving() as served, _client() as http:
        await _login(http, served, "token-ada")
        sent = {k: served.origin if v == "SELF" else v for k, v in headers.items()}
        async with http.post(f"{served.url}/api/syncs/team-a/web/sync", headers=sent) as r:
            assert r.status == 403
            assert why in (await r.json())["message"]
        assert served.backend.kube.done == []


async def test_a_bearer_token_needs_no_csrf_token_and_is_refused_when_wrong() -> None:
    async with serving() as served, _client() as http:
        bearer = {"Authorization": "Bearer token-bob", "Origin": served.origin}
        async with http.get(f"{served.url}/api/overview", headers=bearer) as r:
            body = await r.json()
            assert ([s["name"] for s in body["syncs"]], body["hidden_namespaces"]) == (["db"], 1)
        async with http.get(f"{served.url}/api/syncs/team-a/web", headers=bearer) as r:
            assert r.status == 403
        async with http.get(f"{served.url}/api/syncs/team-b/nothing", headers=bearer) as r:
            assert r.status == 404
        async with http.get(f"{served.url}/api/syncs/team-b/Bad_Name", headers=bearer) as r:
            assert r.status == 400
        async with http.get(
            f"{served.url}/api/overview", headers={"Authorization": "Bearer forged"}
        ) as r:
            assert r.status == 401
            assert "forged" not in await r.text()


async def test_sign_in_attempts_are_limited_per_client_address() -> None:
    async with serving() as served, _client() as http:
        served.ui.sign_ins = Limiter(burst=2, per_second=0.01)
        login, origin = f"{served.url}/api/login", {"Origin": served.origin}
        async with http.post(login, json={"token": ""}, headers=origin) as r:
            assert r.status == 400  # no token: no review, not counted
        for token, status in (("guess", 401), ("token-ada", 200), ("token-ada", 429)):
            async with http.post(login, json={"token": token}, headers=origin) as r:
                assert r.status == status, await r.text()
                body, retry = await r.json(), r.headers.get("Retry-After")
        assert retry == "100"
        assert (body["reason"], body["details"]) == ("TooManyRequests", {"retryAfterSeconds": 100})
        assert "try again in 100s" in body["message"]


def _attempt(minutes: int, trigger: Trigger, changes: list[ObjectChange], **more: Any) -> Record:
    start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    record = Record(
        sync_namespace="team-a",
        sync_name="web",
        environment="prod",
        cluster="here",
        source_url="https://git.example/app.git",
        revision="main@sha1:" + "a" * 40,
        trigger=trigger,
        started_at=start,
        applied_at=start + timedelta(seconds=1),
        finished_at=start + timedelta(seconds=2),
        result=Result.APPLIED,
        configured=sum(c.action is Action.CONFIGURED for c in changes),
        objects=tuple(ObjectAction.of(c) for c in changes),
        message=correction_message(ChangeSet(tuple(changes))),
    )
    return replace(record, **more)


async def test_a_syncs_page_shows_the_latest_drift_corrections_from_the_ledger(
    tmp_path: Path,
) -> None:
    settings = ObjectRef("", "ConfigMap", "team-a", "settings")
    web = ObjectRef("apps", "Deployment", "team-a", "web")
    mode = ObjectChange(settings, "v1", Action.CONFIGURED, "2", "data.mode")
    history = [
        _attempt(0, Trigger.INTERVAL, [mode]),  # a revision's apply: not a correction
        _attempt(1, Trigger.DRIFT, [mode], reason="DriftCorrected"),
        _attempt(2, Trigger.DRIFT, [mode], message="1 configured"),  # an older record's words
        _attempt(3, Trigger.DRIFT, [mode], reason="DriftCorrected"),
        _attempt(
            4,
            Trigger.DRIFT,
            [
                ObjectChange(web, "apps/v1", Action.FAILED, None, "spec.replicas"),
                ObjectChange(settings, "v1", Action.UNCHANGED),
            ],
            result=Result.FAILED,
            message="could not put drifted objects back as Git has them: forbidden",
        ),
    ]
    async with (
        await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", cluster="here") as ledger,
        serving() as served,
        _client() as http,
    ):
        for final in history:
            record_id = await ledger.begin(replace(final, result=Result.IN_PROGRESS))
            await ledger.finish(record_id, final)
        served.backend.ledger = ledger
        bearer = {"Authorization": "Bearer token-ada"}
        async with http.get(f"{served.url}/api/syncs/team-a/web", headers=bearer) as r:
            assert r.status == 200, await r.text()
            shown = (await r.json())["corrections"]
        # The same ledger feeds the environments page: what runs where, and DORA per week.
        async with http.get(f"{served.url}/api/environments", headers=bearer) as r:
            rows = (await r.json())["rows"]
        async with http.get(f"{served.url}/api/dora?weeks=2", headers=bearer) as r:
            dora = (await r.json())["environments"]
    assert [(row["sync"], list(row["cells"])) for row in rows] == [("team-a/web", ["prod"])]
    assert list(dora) == ["prod"]
    assert [week["deployments"] for week in dora["prod"]] == [0, 0]  # all of it long ago
    # The newest three, newest first; per object its kind, name, action and fields.
    assert [(c["result"], c["at"][11:19]) for c in shown] == [
        ("failed", "00:04:02"),
        ("applied", "00:03:02"),
        ("applied", "00:02:02"),
    ]
    assert shown[0]["objects"] == [
        {
            "kind": "Deployment",
            "namespace": "team-a",
            "name": "web",
            "action": "failed",
            "fields": [],
        }
    ]
    assert "forbidden" in shown[0]["message"]
    assert [(o["kind"], o["name"], o["fields"]) for o in shown[1]["objects"]] == [
        ("ConfigMap", "settings", ["data.mode"])
    ]
    assert (shown[1]["message"], shown[2]["objects"][0]["fields"], shown[2]["message"]) == (
        "",
        [],
        "1 configured",
    )


class Forbidden:
    """Stands for credentials of the UI that the API server refuses to read with."""

    async def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise KubeApiError(
            "refused", ref=None, status=403, reason="Forbidden", detail="events is forbidden"
        )


async def test_a_read_the_uis_own_credentials_may_not_make_is_a_403_that_says_so() -> None:
    async with serving() as served, _client() as http:
        served.backend.kube = Forbidden()
        bearer = {"Authorization": "Bearer token-ada"}
        async with http.get(f"{served.url}/api/syncs/team-a/web/events", headers=bearer) as r:
            assert r.status == 403
            message = (await r.json())["message"]
    assert message == "the UI's own credentials may not read this: events is forbidden"


async def test_behind_a_proxy_the_named_user_acts_with_the_csrf_token_of_their_name() -> None:
    async with serving("proxy") as served, _client() as http:
        ada = {"X-Forwarded-User": "ada", "X-Forwarded-Groups": "devs, ops"}
        async with http.get(f"{served.url}/api/session", headers=ada) as r:
            who = await r.json()
        assert (who["user"], who["groups"], who["mode"]) == ("ada", ["devs", "ops"], "proxy")
        headers = {**ada, "Origin": served.origin}
        async with http.post(f"{served.url}/api/syncs/team-a/web/sync", headers=headers) as r:
            assert r.status == 403  # the proxy's headers ride along by themselves: CSRF needed
        headers["X-Gitmoor-CSRF"] = who["csrf"]
        async with http.post(f"{served.url}/api/syncs/team-a/web/sync", headers=headers) as r:
            assert r.status == 200, await r.text()
        # Another user's token is not ada's.
        bob = {"X-Forwarded-User": "bob", "Origin": served.origin, "X-Gitmoor-CSRF": who["csrf"]}
        async with http.post(f"{served.url}/api/syncs/team-b/db/resume", headers=bob) as r:
            assert r.status == 403
        async with http.get(f"{served.url}/api/overview") as r:
            assert r.status == 401  # no user named


async def test_the_page_its_assets_and_headers() -> None:
    async with serving() as served, _client() as http:
        async with http.get(f"{served.url}/") as r:
            page = await r.text()
            assert r.status == 200
            for name, value in SECURITY_HEADERS.items():
                assert r.headers[name] == value
            assert "<script" in page
            assert "<script>" not in page  # no inline script: the CSP forbids it
            assert "style=" not in page
        for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
            async with http.get(f"{served.url}/static/{asset}") as r:
                assert (r.status, r.content_type) == (200, kind)
        for missing in ("../routes.py", "nope.js", "index.html"):
            async with http.get(f"{served.url}/static/{missing}") as r:
                assert r.status == 404
        async with http.get(served.url, allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (302, "/ui/")


async def _events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    name = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            found.append((name, line[6:]))
            if len(found) == count:
                break
    return found


async def test_the_live_stream_sends_changed_rows_only_of_readable_namespaces() -> None:
    async with serving() as served, _client() as http:
        bob = {"Authorization": "Bearer token-bob"}
        async with http.get(f"{served.url}/api/live", headers=bob) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert [e for e, _ in await _events(stream, 1)] == ["hello"]
            served.backend.change(Key("Sync", "team-a", "web"), _sync("team-a", "web", "False"))
            served.backend.change(Key("Sync", "team-b", "db"), _sync("team-b", "db", "True"))
            ((name, data),) = await asyncio.wait_for(_events(stream, 1), 10)
            assert name == "sync"
            assert '"namespace":"team-b"' in data
            assert '"state":"ready"' in data
            served.backend.change(Key("Sync", "team-b", "db"), None)
            ((name, data),) = await asyncio.wait_for(_events(stream, 1), 10)
            assert (name, data) == ("gone", '{"kind":"Sync","namespace":"team-b","name":"db"}')


async def test_a_laptop_is_signed_in_by_its_launch_key_only() -> None:
    gate = LocalGate(Patches(), "launch-key")  # type: ignore[arg-type]
    assert await gate.login("launch-key") is not None
    assert await gate.login("launch-kez") is None
    assert await gate.from_headers({"Authorization": "Bearer launch-key"}) is None
    who = await gate.login("launch-key")
    assert who is not None
    assert await gate.current(who)
