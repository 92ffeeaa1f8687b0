"""The ledger API's own logic: reading the caller's token from the headers, what tokens are
remembered by, the reviews it sends, and answering only with the namespaces a caller may read.

The port is served for real on loopback over a real SQLite ledger; only the API server's
answers to TokenReview and SubjectAccessReview come from a table (the real ones are checked in
tests/integration/test_ledger_api.py).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gitmoor.errors import ConnectionFailedError
from gitmoor.ledger import Ledger
from gitmoor.ledger.trail import ImageTrail
from gitmoor.model.images import ImageUpdate
from gitmoor.model.record import Record, Result, Trigger
from gitmoor.server.access import (
    TOKEN_HEADER,
    Caller,
    Reviewer,
    ReviewError,
    TokenHeaderError,
    caller_token,
    token_key,
)
from gitmoor.server.app import bound_port, serve
from gitmoor.server.ledger_api import LedgerApi, LedgerBackend

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# -- headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({}, None),
        ({TOKEN_HEADER: "abc"}, "abc"),
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"Authorization": "bearer  abc "}, "abc"),
        ({TOKEN_HEADER: "abc", "Authorization": "Bearer abc"}, "abc"),
        # Basic credentials meant for someone else are no token of ours, but never a guess.
        ({TOKEN_HEADER: "abc", "Authorization": "Basic dTpw"}, "abc"),
    ],
)
def test_the_token_comes_from_either_header(headers: dict[str, str], token: str | None) -> None:
    assert caller_token(headers) == token


@pytest.mark.parametrize(
    "headers",
    [
        {TOKEN_HEADER: " "},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dTpw"},
        {TOKEN_HEADER: "abc", "Authorization": "Bearer xyz"},
    ],
)
def test_empty_foreign_or_disagreeing_tokens_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(TokenHeaderError) as refused:
        caller_token(headers)
    assert "abc" not in str(refused.value)
    assert "xyz" not in str(refused.value)


def test_tokens_are_remembered_by_digest_only() -> None:
    key = token_key("s3cr3t-token")
    assert key == hashlib.sha256(b"s3cr3t-token").hexdigest()
    assert "s3cr3t" not in key
    assert token_key("s3cr3t-token2") != key


def test_the_access_review_asks_for_get_on_syncs_as_the_reviewed_user() -> None:
    caller = Caller.from_review(
        {
            "username": "system:serviceaccount:team-a:reader",
            "uid": "1234",
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/pod-name": ["p"]},
        }
    )
    assert caller.access_review("team-a") == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "system:serviceaccount:team-a:reader",
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "resourceAttributes": {
                "namespace": "team-a",
                "verb": "get",
                "group": "gitmoor.io",
                "resource": "syncs",
            },
            "uid": "1234",
            "extra": {"authentication.kubernetes.io/pod-name": ["p"]},
        },
    }
    assert hash(caller)  # a value: usable as a cache key


def test_a_reviewer_needs_no_cache() -> None:
    Reviewer(ttl=0)  # every request reviewed afresh


# -- answering only with what the caller may read ----------------------------------------------
@dataclass
class TableReviews:
    """The API server's answers, from tables: tokens to users, users to namespaces."""

    users: dict[str, Caller]
    grants: dict[str, set[str]]
    asked: list[str] = field(default_factory=list)

    async def authenticate(self, kube: Any, token: str) -> Caller | None:
        return self.users.get(token)

    async def allowed(
        self, kube: Any, token: str, caller: Caller, namespaces: Iterable[str], verb: str = "get"
    ) -> set[str]:
        wanted = list(namespaces)
        self.asked.extend(wanted)
        return {n for n in wanted if n in self.grants.get(caller.username, set())}


def _record(namespace: str, minute: int, *, cluster: str = "here") -> Record:
    start = T0 + timedelta(minutes=minute)
    return Record(
        sync_namespace=namespace,
        sync_name="web",
        environment="prod",
        cluster=cluster,
        source_url="https://git.example/app.git",
        revision=f"main@sha1:{minute:040x}",
        trigger=Trigger.INTERVAL,
        started_at=start,
        commit_sha=f"{minute:040x}",
        applied_at=start + timedelta(seconds=5),
        finished_at=start + timedelta(seconds=9),
        result=Result.APPLIED,
        created=1,
        images=(f"web:{minute}",),
    )


@contextlib.asynccontextmanager
async def api(tmp_path: Path, reviews: TableReviews) -> AsyncIterator[str]:
    ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", cluster="here")
    for namespace, minute, cluster in (
        ("team-a", 1, "here"),
        ("team-b", 2, "here"),
        ("team-a", 3, "here"),
        ("team-c", 4, "elsewhere"),
    ):
        final = _record(namespace, minute, cluster=cluster)
        record_id = await ledger.begin(replace(final, result=Result.IN_PROGRESS))
        await ledger.finish(record_id, final)
    backend = LedgerBackend(kube=None, ledger=ledger, cluster="here")  # type: ignore[arg-type]
    runner = await serve(
        "127.0.0.1", 0, lambda: True, ledger_api=LedgerApi(lambda: backend, reviewer=reviews)
    )
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/api/v1/ledger"
    finally:
        await runner.cleanup()
        await ledger.close()


READERS = TableReviews(
    users={"token-a": Caller("reader-a"), "token-ab": Caller("reader-ab")},
    grants={"reader-a": {"team-a"}, "reader-ab": {"team-a", "team-b"}},
)


async def _get(url: str, token: str | None = None, **params: str) -> tuple[int, Any, Any]:
    headers = {TOKEN_HEADER: token} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=params, headers=headers) as response,
    ):
        return response.status, await response.json(), response.headers


async def test_a_caller_sees_only_the_namespaces_they_may_read(tmp_path: Path) -> None:
    reviews = replace(READERS, asked=[])
    async with api(tmp_path, reviews) as url:
        status, body, headers = await _get(f"{url}/history", "token-a", all="true")
        assert status == 200
        assert headers["X-Gitmoor-Ledger"] == "v1"
        assert [r["sync_namespace"] for r in body["items"]] == ["team-a", "team-a"]
        assert body["hidden_namespaces"] == 1  # team-b; team-c is another cluster's
        assert body["cluster"] == "here"
        # Only this cluster's namespaces are ever asked about.
        assert sorted(reviews.asked) == ["team-a", "team-b"]

        status, body, _ = await _get(f"{url}/history", "token-ab")
        assert [r["sync_namespace"] for r in body["items"]] == ["team-a", "team-b", "team-a"]
        assert body["hidden_namespaces"] == 0

        status, body, _ = await _get(f"{url}/where", "token-a", what="web:2")
        assert (status, body["items"]) == (200, [])
        status, body, _ = await _get(f"{url}/where", "token-ab", what="web:2")
        assert [d["sync_namespace"] for d in body["items"]] == ["team-b"]

        status, body, _ = await _get(f"{url}/at", "token-a", time="2026-03-01T12:30:00+00:00")
        assert [r["sync_namespace"] for r in body["items"]] == ["team-a"]

        status, body, _ = await _get(f"{url}/dora", "token-a", since="2026-03-01T00:00:00Z")
        assert (status, body["dora"]["deployments"], body["hidden_namespaces"]) == (200, 2, 1)


async def test_naming_a_namespace_not_allowed_is_forbidden(tmp_path: Path) -> None:
    async with api(tmp_path, replace(READERS, asked=[])) as url:
        status, body, _ = await _get(f"{url}/history", "token-a", namespace="team-b")
        assert status == 403
        assert body["kind"] == "Status"
        assert body["reason"] == "Forbidden"
        assert "reader-a" in body["message"]
        assert "team-b" in body["message"]
        # A namespace without records is refused the same way: no hint whether it has any.
        status, body, _ = await _get(f"{url}/history", "token-a", namespace="team-z")
        assert status == 403
        status, body, _ = await _get(f"{url}/history", "token-a", namespace="team-a", sync="web")
        assert (status, len(body["items"])) == (200, 2)


async def test_no_token_or_an_unknown_one_is_unauthorized(tmp_path: Path) -> None:
    async with api(tmp_path, replace(READERS, asked=[])) as url:
        for token in (None, "bogus"):
            status, body, headers = await _get(f"{url}/history", token)
            assert status == 401, token
            assert body["reason"] == "Unauthorized"
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert headers["X-Gitmoor-Ledger"] == "v1"


async def test_bad_parameters_are_named(tmp_path: Path) -> None:
    async with api(tmp_path, replace(READERS, asked=[])) as url:
        for path, params, named in (
            ("history", {"since": "yesterday"}, "since"),
            ("history", {"since": "2026-03-01T12:00:00"}, "offset"),
            ("history", {"limit": "0"}, "limit"),
            ("history", {"namespace": "Team_A"}, "namespace"),
            ("where", {"what": "web"}, "what"),
            ("at", {}, "time"),
        ):
            status, body, _ = await _get(f"{url}/{path}", "token-a", **params)
            assert status == 400, (path, params)
            assert named in body["message"]


# -- the reviews, remembered -----------------------------------------------------------------
@dataclass
class ApiServer:
    """The two review endpoints of an API server, in memory (the seam is `Kube.request`)."""

    tokens: dict[str, str]  # token -> username
    grants: dict[str, set[str]]  # username -> namespaces
    bodies: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    async def request(self, method: str, path: str, *, body: Any = None) -> Any:
        if self.down:
            raise ConnectionFailedError("cannot reach the API server at https://10.0.0.1")
        self.bodies.append(body)
        if body["kind"] == "TokenReview":
            user = self.tokens.get(body["spec"]["token"])
            if user is None:
                return {"status": {"authenticated": False, "error": "invalid bearer token"}}
            return {"status": {"authenticated": True, "user": {"username": user}}}
        spec = body["spec"]
        namespace = spec["resourceAttributes"]["namespace"]
        return {"status": {"allowed": namespace in self.grants.get(spec["user"], set())}}


async def test_reviews_are_remembered_by_digest_for_a_while() -> None:
    server = ApiServer({"t0ken-a": "alice"}, {"alice": {"team-a"}})
    kube: Any = server
    reviewer = Reviewer(ttl=60)
    alice = await reviewer.authenticate(kube, "t0ken-a")
    assert alice == Caller("alice")
    assert await reviewer.authenticate(kube, "t0ken-a") == alice
    assert await reviewer.authenticate(kube, "bogus") is None
    assert await reviewer.authenticate(kube, "bogus") is None
    # One review for the good token; a refused one is asked again every time.
    assert [b["spec"]["token"] for b in server.bodies if b["kind"] == "TokenReview"] == [
        "t0ken-a",
        "bogus",
        "bogus",
    ]
    assert await reviewer.allowed(kube, "t0ken-a", alice, ["team-a", "team-b"]) == {"team-a"}
    assert await reviewer.allowed(kube, "t0ken-a", alice, ["team-b", "team-a"]) == {"team-a"}
    assert len([b for b in server.bodies if b["kind"] == "SubjectAccessReview"]) == 2
    # What is kept is keyed by the digest, and holds no token.
    remembered = reviewer._callers
    assert remembered is not None
    assert list(remembered._seen) == [token_key("t0ken-a")]
    assert "t0ken-a" not in repr(remembered._seen)

    server.down = True
    with pytest.raises(ReviewError) as failed:
        await Reviewer(ttl=60).authenticate(kube, "t0ken-a")
    assert "TokenReview" in str(failed.value)
    assert "t0ken" not in str(failed.value)


async def test_no_active_agent_or_no_open_ledger_is_unavailable() -> None:
    for backend, says in (
        (None, "not the active one"),
        (LedgerBackend(kube=None, ledger=None, cluster="here"), "no ledger open"),  # type: ignore[arg-type]
    ):
        runner = await serve(
            "127.0.0.1",
            0,
            lambda: True,
            ledger_api=LedgerApi(lambda b=backend: b, reviewer=READERS),
        )
        try:
            url = f"http://127.0.0.1:{bound_port(runner)}/api/v1/ledger/dora"
            status, body, _ = await _get(url, "token-a")
        finally:
            await runner.cleanup()
        assert status == 503
        assert says in body["message"]


async def test_image_trails_are_scoped_like_the_rest(tmp_path: Path) -> None:
    async with api(tmp_path, replace(READERS, asked=[])) as url:
        ledger = await Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", cluster="here")
        try:
            for namespace, minute in (("team-a", 1), ("team-b", 2)):
                await ledger.record_image_update(
                    ImageUpdate(
                        automation_namespace=namespace,
                        automation_name="apps",
                        policy=f"{namespace}/web",
                        image="registry.example/web",
                        old_tag="0",
                        new_tag=str(minute),
                        digest=None,
                        pushed_at=T0,
                        source_url="https://git.example/app.git",
                        branch="main",
                        commit=f"{minute:040x}",
                        committed_at=T0 + timedelta(seconds=minute),
                        file="web.yaml:3",
                    ),
                    cluster="here",
                )
            trails = await ledger.image_trail("registry.example/web")
        finally:
            await ledger.close()
        status, body, _ = await _get(f"{url}/image-trail", "token-a", image="registry.example/web")
        assert status == 200
        assert [t["automation"] for t in body["items"]] == ["team-a/apps"]
        assert [a["sync"] for a in body["items"][0]["applied"]] == ["team-a/web"]
        status, body, _ = await _get(f"{url}/image-trail", "token-ab", image="registry.example/web")
        assert [t["policy"] for t in body["items"]] == ["team-b/web", "team-a/web"]
        # What the agent sends reads back as what the ledger has (`gitmoor where` asks so).
        assert [ImageTrail.from_dict(t) for t in body["items"]] == trails
        status, body, _ = await _get(f"{url}/image-trail", "token-a")
        assert status == 400
