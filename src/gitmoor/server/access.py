"""Who calls the ledger API, and which namespaces' records they may read: the caller's own
Kubernetes credentials, checked by the API server.

- **Who**: the caller's bearer token, from `X-Gitmoor-Token` (what `gitmoor history` sends
  through the API server's service proxy, which authenticates the caller itself and does not
  pass its `Authorization` header on) or else `Authorization: Bearer`. A TokenReview with the
  agent's client says whose it is; a positive answer is remembered for `ttl` seconds, keyed by
  the token's SHA-256 digest (never the token), so a run of CLI calls costs one review.
- **What**: a SubjectAccessReview for that user, its groups, uid and extra: may they `get`
  `syncs.gitmoor.io` in the namespace? Answers are remembered for `ttl` too, per (token digest,
  namespace).

Tokens are never logged, stored or put in a message.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gitmoor.errors import GitmoorError
from gitmoor.kube import Kube
from gitmoor.model.api import GROUP
from gitmoor.model.ledger_api import TOKEN_HEADER
from gitmoor.recent import RecentKeys

__all__ = [
    "TOKEN_HEADER",
    "Caller",
    "ReviewError",
    "Reviewer",
    "Reviews",
    "TokenHeaderError",
    "caller_token",
    "token_key",
]

_BEARER = "bearer "
REVIEW_TTL = 10.0
_CAPACITY = 4096
# What reading a namespace's ledger records takes: what reading its Syncs takes.
VERB, RESOURCE = "get", "syncs"


class TokenHeaderError(ValueError):
    """The request's token headers are malformed or disagree; the message says how."""


@dataclass(frozen=True)
class Caller:
    """An authenticated user, as the TokenReview described them."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_review(cls, user: Mapping[str, Any]) -> Caller:
        extra = user.get("extra") or {}
        return cls(
            username=str(user.get("username") or ""),
            uid=str(user.get("uid") or ""),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            extra=tuple(sorted((str(k), tuple(str(v) for v in vs)) for k, vs in extra.items())),
        )

    def access_review(self, namespace: str, verb: str = VERB) -> dict[str, Any]:
        """The SubjectAccessReview asking whether this caller may `verb` `namespace`'s Syncs
        (`get`: read them and their records; `patch`: sync now, suspend, roll back)."""
        spec: dict[str, Any] = {
            "user": self.username,
            "groups": list(self.groups),
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "group": GROUP,
                "resource": RESOURCE,
            },
        }
        if self.uid:
            spec["uid"] = self.uid
        if self.extra:
            spec["extra"] = {key: list(values) for key, values in self.extra}
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }


def caller_token(headers: Mapping[str, str]) -> str | None:
    """The caller's bearer token: `X-Gitmoor-Token`, else `Authorization: Bearer`; None when
    neither is there. Raises TokenHeaderError for an empty or non-bearer value, or two
    different tokens."""
    found: list[str] = []
    given = headers.get(TOKEN_HEADER)
    if given is not None:
        token = given.strip()
        if not token:
            raise TokenHeaderError(f"the {TOKEN_HEADER} header is empty")
        found.append(token)
    authorization = headers.get("Authorization")
    if authorization is not None:
        if not authorization.lower().startswith(_BEARER):
            if not found:
                raise TokenHeaderError("the Authorization header must be `Bearer <token>`")
        else:
            token = authorization[len(_BEARER) :].strip()
            if not token:
                raise TokenHeaderError("the Authorization header holds no token")
            found.append(token)
    if len(set(found)) > 1:
        raise TokenHeaderError(f"the {TOKEN_HEADER} and Authorization headers disagree")
    return found[0] if found else None


def token_key(token: str) -> str:
    """What a token is remembered by: its SHA-256 digest, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ReviewError(RuntimeError):
    """A TokenReview or SubjectAccessReview could not be made (the API server refused the
    agent, or could not be reached); the message names which and why, never the token."""


class Reviews(Protocol):
    """Who a token is, and which namespaces they may read (the seam unit tests replace)."""

    async def authenticate(self, kube: Kube, token: str) -> Caller | None: ...

    async def allowed(
        self,
        kube: Kube,
        token: str,
        caller: Caller,
        namespaces: Iterable[str],
        verb: str = VERB,
    ) -> set[str]: ...


class Reviewer:
    """TokenReviews and SubjectAccessReviews through the agent's client, remembered briefly."""

    def __init__(self, *, ttl: float = REVIEW_TTL) -> None:
        self._callers: RecentKeys[str, Caller] | None = None
        self._decisions: RecentKeys[tuple[str, str, str], bool] | None = None
        if ttl > 0:
            self._callers = RecentKeys(ttl, capacity=_CAPACITY)
            self._decisions = RecentKeys(ttl, capacity=_CAPACITY * 4)

    async def authenticate(self, kube: Kube, token: str) -> Caller | None:
        """Whose token this is; None when the API server does not accept it."""
        key = token_key(token)
        if self._callers is not None and (known := self._callers.get(key)) is not None:
            return known
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        answer = await self._create(kube, "/apis/authentication.k8s.io/v1/tokenreviews", review)
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            return None
        caller = Caller.from_review(status.get("user") or {})
        if not caller.username:
            return None
        if self._callers is not None:
            self._callers.remember(key, caller)
        return caller

    async def allowed(
        self,
        kube: Kube,
        token: str,
        caller: Caller,
        namespaces: Iterable[str],
        verb: str = VERB,
    ) -> set[str]:
        """Those of `namespaces` in which `caller` may `verb` Syncs (`get` by default: read
        them and their ledger records); the reviews not remembered are asked at once. `token`
        keys what is remembered (for a caller a proxy named, a key made of their identity)."""
        key = token_key(token)
        decisions: dict[str, bool | None] = {
            namespace: self._decisions.get((key, namespace, verb)) if self._decisions else None
            for namespace in namespaces
        }
        unknown = [namespace for namespace, known in decisions.items() if known is None]
        answers = await asyncio.gather(
            *(
                self._create(
                    kube,
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    caller.access_review(namespace, verb),
                )
                for namespace in unknown
            )
        )
        for namespace, answer in zip(unknown, answers, strict=True):
            decision = bool((answer.get("status") or {}).get("allowed"))
            decisions[namespace] = decision
            if self._decisions is not None:
                self._decisions.remember((key, namespace, verb), decision)
        return {namespace for namespace, allowed in decisions.items() if allowed}

    @staticmethod
    async def _create(kube: Kube, path: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = str(body["kind"])
        try:
            answer = await kube.request("POST", path, body=body)
        except GitmoorError as problem:
            # The API error's message names the path and the server's reason, not the body.
            raise ReviewError(f"could not create a {kind}: {problem}") from None
        if not isinstance(answer, dict):
            raise ReviewError(f"could not create a {kind}: the API server answered no object")
        return answer
