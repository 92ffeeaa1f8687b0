"""Who uses the UI, and what they may do there: always the person's own Kubernetes rights.

Three ways in, one chosen when the server starts:
- `TokenGate` (the default in the agent): the person presents a Kubernetes bearer token, once
  on the login form (then a session cookie stands for it) or on every request in
  `Authorization`; the agent's client asks a TokenReview who it is.
- `ProxyGate` (opt-in): an authenticating proxy in front (oauth2-proxy, an OIDC ingress) names
  the user and groups in headers, which the UI believes. Only safe when nothing but the proxy
  reaches the port and the proxy drops those headers from what clients send.
- `LocalGate` (`gitmoor ui` on a laptop): the person is whoever the kubeconfig's credentials
  are; the URL printed at start carries a one-time key, so another local user or a web page
  cannot borrow them.

What they may do is asked per namespace with a SubjectAccessReview (`get` syncs to see, `patch`
syncs to act), or a SelfSubjectAccessReview with the person's own credentials on a laptop;
answers are remembered for a few seconds (`access.Reviewer`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gitmoor.errors import GitmoorError
from gitmoor.kube import Kube
from gitmoor.model.api import GROUP
from gitmoor.model.defaults import GROUPS_HEADER, USER_HEADER
from gitmoor.recent import RecentKeys
from gitmoor.server.access import Caller, Reviewer, ReviewError, Reviews, caller_token

READ, PATCH = "get", "patch"


@dataclass(frozen=True)
class Principal:
    """A person the UI serves. `key` keeps their access decisions apart from anyone else's (a
    token, never logged; or a key made of the proxy's names); `token` is re-reviewed on use."""

    caller: Caller
    key: str
    token: str | None = None

    def public(self) -> dict[str, Any]:
        return {"user": self.caller.username, "groups": list(self.caller.groups)}


class Gate(Protocol):
    mode: str

    async def login(self, secret: str) -> Principal | None:
        """Who presents `secret` (a token, a launch key); None when nobody."""
        ...

    async def from_headers(self, headers: Mapping[str, str]) -> Principal | None:
        """Who the request's own headers name (a bearer token, a proxy's user), if any."""
        ...

    async def current(self, principal: Principal) -> bool:
        """Whether a session's principal is still who they were (a token not revoked)."""
        ...

    async def allowed(self, principal: Principal, namespaces: Iterable[str], verb: str) -> set[str]:
        """Those of `namespaces` where they may `verb` Syncs."""
        ...


class NotActiveError(GitmoorError):
    """This agent is not the active one: it cannot review anyone now (503, retry)."""


KubeOf = Callable[[], Kube | None]


def _kube(kube_of: KubeOf) -> Kube:
    kube = kube_of()
    if kube is None:
        raise NotActiveError("this agent is not the active one")
    return kube


class TokenGate:
    """Bearer tokens, reviewed by the API server through the agent's client."""

    mode = "token"

    def __init__(self, kube_of: KubeOf, reviewer: Reviews | None = None) -> None:
        self._kube_of = kube_of
        self._reviewer = reviewer or Reviewer()

    async def login(self, secret: str) -> Principal | None:
        caller = await self._reviewer.authenticate(_kube(self._kube_of), secret)
        return None if caller is None else Principal(caller, secret, secret)

    async def from_headers(self, headers: Mapping[str, str]) -> Principal | None:
        token = caller_token(headers)
        if token is None:
            return None
        return await self.login(token)

    async def current(self, principal: Principal) -> bool:
        if principal.token is None:
            return False
        return await self.login(principal.token) is not None

    async def allowed(self, principal: Principal, namespaces: Iterable[str], verb: str) -> set[str]:
        return await self._reviewer.allowed(
            _kube(self._kube_of), principal.key, principal.caller, namespaces, verb
        )


class ProxyGate:
    """The user and groups an authenticating proxy names in headers (documented opt-in)."""

    mode = "proxy"

    def __init__(
        self,
        kube_of: KubeOf,
        reviewer: Reviews | None = None,
        *,
        user_header: str = USER_HEADER,
        groups_header: str = GROUPS_HEADER,
    ) -> None:
        self._kube_of = kube_of
        self._reviewer = reviewer or Reviewer()
        self._user = user_header
        self._groups = groups_header

    async def login(self, secret: str) -> Principal | None:
        return None  # the proxy signs people in

    async def from_headers(self, headers: Mapping[str, str]) -> Principal | None:
        user = (headers.get(self._user) or "").strip()
        if not user:
            return None
        groups = tuple(
            sorted({g.strip() for g in (headers.get(self._groups) or "").split(",") if g.strip()})
        )
        key = "proxy\0" + user + "\0" + "\0".join(groups)
        return Principal(Caller(username=user, groups=groups), key)

    async def current(self, principal: Principal) -> bool:
        return False  # no sessions: every request names its user

    async def allowed(self, principal: Principal, namespaces: Iterable[str], verb: str) -> set[str]:
        return await self._reviewer.allowed(
            _kube(self._kube_of), principal.key, principal.caller, namespaces, verb
        )


class LocalGate:
    """`gitmoor ui`: the kubeconfig's own credentials, unlocked by the launch key."""

    mode = "local"

    def __init__(self, kube: Kube, launch_key: str, *, ttl: float = 10.0) -> None:
        self._kube = kube
        self._launch_key = launch_key
        self._decisions: RecentKeys[tuple[str, str], bool] = RecentKeys(ttl, capacity=4096)
        self._who = Principal(Caller(username="you (kubeconfig)"), "local")

    async def login(self, secret: str) -> Principal | None:
        if hmac.compare_digest(secret.encode(), self._launch_key.encode()):
            return self._who
        return None

    async def from_headers(self, headers: Mapping[str, str]) -> Principal | None:
        return None

    async def current(self, principal: Principal) -> bool:
        return principal == self._who

    async def allowed(self, principal: Principal, namespaces: Iterable[str], verb: str) -> set[str]:
        wanted = list(dict.fromkeys(namespaces))
        known = {n: self._decisions.get((n, verb)) for n in wanted}
        unknown = [n for n, d in known.items() if d is None]
        answers = await asyncio.gather(*(self._review(n, verb) for n in unknown))
        for namespace, decision in zip(unknown, answers, strict=True):
            known[namespace] = decision
            self._decisions.remember((namespace, verb), decision)
        return {n for n, d in known.items() if d}

    async def _review(self, namespace: str, verb: str) -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": GROUP,
                    "resource": "syncs",
                }
            },
        }
        try:
            answer = await self._kube.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
        except GitmoorError as problem:
            raise ReviewError(f"could not create a SelfSubjectAccessReview: {problem}") from None
        return bool(((answer or {}).get("status") or {}).get("allowed"))
