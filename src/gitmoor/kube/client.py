"""An async Kubernetes client on plain dicts: REST mapping by discovery, get/list, server-side
apply (also as a dry run) and delete.

kubernetes-asyncio supplies what is hard to get right (kubeconfig and in-cluster loading, TLS,
client certificates, exec plugins, token refresh, the connection pool); the requests and their
JSON are ours: bodies are encoded once with orjson and sent on the library's connection pool,
skipping its generic serialisation, which walks every body and re-encodes it with `json`.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import functools
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import yaml

from gitmoor import metrics
from gitmoor.errors import (
    ConnectionFailedError,
    KubeApiError,
    KubeNotFoundError,
    KubePermanentError,
    KubeTransientError,
    NamespaceNotFoundError,
    UnknownKindError,
)
from gitmoor.kube.kubeconfig import existing
from gitmoor.kube.kubelib import (
    ApiClient,
    ConfigException,
    Configuration,
    load_incluster_config,
    load_kube_config,
)
from gitmoor.model import ObjectRef
from gitmoor.model.capabilities import Capabilities

FIELD_MANAGER = "gitmoor"
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_COME_BACK_WITHIN = 10.0  # seconds of 429s a request waits through before it fails
_ANY = {"Accept": "application/json"}
# Every group, version and kind in one answer (aggregated discovery); plain JSON from an older
# server that does not have it.
_AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)
_CAPABILITIES_TTL = 300.0  # seconds; a CRD applied through this client forgets them at once
_REQUEST_TIMEOUT = 60.0
_WATCH_SECONDS = 290  # the server ends each watch after this; we then resume from the last RV
# Requests in flight at once (watches apart): every HTTP/1.1 request holds a TLS connection, and
# each costs a 256 KiB read buffer in asyncio plus OpenSSL's state for as long as it lives.
_MAX_REQUESTS = 32
_USER_AGENT = "gitmoor"  # also the field manager the server records for non-apply writes
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch: type is ADDED, MODIFIED or DELETED."""

    type: str
    obj: dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """How one kind is served: its API path, plural name and scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


@dataclass(frozen=True)
class RawAnswer:
    """An answer as it came, error or not: for requests whose errors the caller reads itself
    (what a Service behind the API server's proxy says)."""

    status: int
    body: bytes
    headers: Mapping[str, str]  # names in lower case


class Kube:
    """One connection pool to one API server. Use as an async context manager."""

    def __init__(self, configuration: Configuration) -> None:
        # No limit in the pool itself: each watch holds a connection for minutes, and a full
        # pool would starve requests. `_MAX_REQUESTS` bounds the others.
        configuration.connection_pool_maxsize = 0
        self._api = ApiClient(configuration)
        self._in_flight = asyncio.Semaphore(_MAX_REQUESTS)
        self._resources: dict[tuple[str, str], Resource] = {}
        # (when read, what): shared by impersonating views, like the discovery cache.
        self._capabilities: list[tuple[float, Capabilities]] = []
        self._discovery_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._fence: Callable[[str, str], None] | None = None
        self._as: dict[str, str] = {}  # impersonation headers of this view
        rest = self._api.rest_client
        self._options: dict[str, Any] = {}
        if rest.proxy:
            self._options["proxy"] = rest.proxy
        if rest.proxy_headers:
            self._options["proxy_headers"] = rest.proxy_headers
        if rest.server_hostname:
            self._options["server_hostname"] = rest.server_hostname

    @classmethod
    async def from_kubeconfig(
        cls, path: str | Path | None = None, *, context: str | None = None
    ) -> Kube:
        configuration = Configuration()
        # KUBECONFIG may list several files, which the library merges: only a file named here,
        # or the default one, is checked first.
        file = (
            None
            if not path and os.environ.get("KUBECONFIG")
            else existing(Path(path) if path else None)
        )
        try:
            await load_kube_config(
                config_file=str(file) if file else None,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, yaml.YAMLError) as err:
            # One line: the YAML parser's message spans several.
            detail = " ".join(str(err).split())
            raise ConnectionFailedError(
                f"cannot use kubeconfig {path or '~/.kube/config'}: {detail}"
            ) from None
        return cls(configuration)

    @classmethod
    def in_cluster(cls) -> Kube:
        configuration = Configuration()
        load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
        return cls(configuration)

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._api.close()

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            # The library's connector (TLS context, client certificate, pool size), in a session
            # that consults the environment only when a proxy is configured there: otherwise
            # every request would hop to threads to read ~/.netrc and the proxy variables.
            self._session = aiohttp.ClientSession(
                connector=self._api.rest_client.pool_manager.connector,
                connector_owner=False,
                trust_env=any(os.environ.get(v) for v in _PROXY_VARIABLES),
                read_bufsize=2**21,  # watch events of large objects exceed the default
                trace_configs=[_FENCE_AT_SEND],
            )
        return self._session

    def _unreachable(self, method: str, err: Exception) -> ConnectionFailedError:
        metrics.API_REQUESTS.labels(method, "error").inc()
        return ConnectionFailedError(
            f"cannot reach the API server at {self._api.configuration.host}: {err}"
        )

    async def _open(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        content_type: str = "application/json",
        timeout: aiohttp.ClientTimeout,
        accept: str = "",
        extra: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {**_ANY, "User-Agent": _USER_AGENT, **(extra or {}), **self._as}
        if accept:
            headers["Accept"] = accept
        if data is not None:
            headers["Content-Type"] = content_type
        # Bearer tokens (static, from a file, or from an exec plugin) are refreshed here.
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        fence = self._fence
        # A write is checked again once its connection is ready, the last moment before it goes
        # out: a leader paused (or starved) while it waited for one must not write when it
        # runs again after its lease passed on.
        last_check = (
            {"check": functools.partial(fence, method, path)}
            if fence is not None and method != "GET"
            else None
        )
        try:
            return await self._pool().request(
                method,
                f"{self._api.configuration.host}{path}",
                data=data,
                headers=headers,
                timeout=timeout,
                trace_request_ctx=last_check,
                **self._options,
            )
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as err:
            raise self._unreachable(method, err) from err

    def impersonating(self, user: str) -> Kube:
        """A view of this client whose every request acts as `user` (Kubernetes
        impersonation): the same connection pool, discovery cache and write fence. For a
        ServiceAccount (`system:serviceaccount:<ns>:<name>`) the API server adds its groups."""
        view = copy.copy(self)
        view._session = self._pool()  # one pool: created here if not yet, then shared
        view._as = {"Impersonate-User": user}
        return view

    @property
    def user(self) -> str | None:
        """Whom this view impersonates (None: the client's own identity)."""
        return self._as.get("Impersonate-User")

    def fence(self, check: Callable[[str, str], None] | None) -> None:
        """Call `check(method, path)` before every write; it raises to refuse one."""
        self._fence = check

    def guard(self, method: str, path: str) -> None:
        """Raise as the write fence would refuse `method` on `path` (nothing without a fence):
        for what is written elsewhere on the cluster's behalf (the ledger), which must stop
        when writes to the cluster do."""
        if self._fence is not None:
            self._fence(method, path)

    async def bearer_token(self) -> str | None:
        """The bearer token this client authenticates with (a kubeconfig's `token` or
        `tokenFile`, an exec plugin's token, a Pod's ServiceAccount token), refreshed as for a
        request; None when it authenticates otherwise (a client certificate)."""
        headers: dict[str, str] = {}
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    # -- raw requests ------------------------------------------------------------------------
    async def get_raw(
        self,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = _REQUEST_TIMEOUT,
    ) -> RawAnswer:
        """GET `path` and return the answer whatever its status; only an unreachable server
        raises (ConnectionFailedError)."""
        if query:
            path = f"{path}?{urlencode(query)}"
        async with self._in_flight:
            response = await self._open(
                "GET", path, timeout=aiohttp.ClientTimeout(total=timeout), extra=headers
            )
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                raise self._unreachable("GET", err) from err
            finally:
                response.release()
        metrics.API_REQUESTS.labels("GET", str(response.status)).inc()
        return RawAnswer(response.status, raw, {k.lower(): v for k, v in response.headers.items()})

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        ref: ObjectRef | None = None,
        timeout: float = _REQUEST_TIMEOUT,
        accept: str = "",
    ) -> Any:
        """Send one request; return the decoded JSON body or raise a typed error.

        Told to come back later (429 with Retry-After: a resource whose storage is still
        starting, API priority and fairness shedding load), it waits as told and asks again,
        a few times, as client-go does: the server has not acted on the request."""
        if query:
            path = f"{path}?{urlencode(query)}"
        data = None if body is None else orjson.dumps(body)
        waited = 0.0
        while True:
            try:
                return await self._request_once(
                    method, path, data, content_type=content_type, ref=ref, timeout=timeout,
                    accept=accept,
                )  # fmt: skip
            except KubeTransientError as err:
                pause = _come_back_in(err, waited)
                if pause is None:
                    raise
            await asyncio.sleep(pause)
            waited += pause

    async def _request_once(
        self,
        method: str,
        path: str,
        data: bytes | None,
        *,
        content_type: str,
        ref: ObjectRef | None,
        timeout: float,
        accept: str,
    ) -> Any:
        async with self._in_flight:
            # Checked last, once the request may go out: a deposed leader writes nothing.
            if self._fence is not None and method != "GET":
                self._fence(method, path)
            response = await self._open(
                method,
                path,
                data=data,
                content_type=content_type,
                timeout=aiohttp.ClientTimeout(total=timeout),
                accept=accept,
            )
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                raise self._unreachable(method, err) from err
            finally:
                response.release()
        metrics.API_REQUESTS.labels(method, str(response.status)).inc()
        if 200 <= response.status < 300:
            return orjson.loads(raw) if raw else None
        raise _api_error(method, path, response.status, raw, response.headers, ref)

    # -- discovery ---------------------------------------------------------------------------
    async def resource_for(self, api_version: str, kind: str) -> Resource:
        """The Resource serving `kind` in `api_version`, asking the server when not cached."""
        key = (api_version, kind)
        if key in self._resources:
            return self._resources[key]
        async with self._discovery_lock:
            if key not in self._resources:
                await self._discover(api_version)
        try:
            return self._resources[key]
        except KeyError:
            raise UnknownKindError(api_version, kind) from None

    async def _discover(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self.request("GET", path)
        except KubeNotFoundError:
            return  # the group/version is not served; resource_for reports the kind
        for res in listing.get("resources", []):
            if "/" in res["name"]:  # subresources such as deployments/status
                continue
            self._resources[(api_version, res["kind"])] = Resource(
                group, version, res["kind"], res["name"], bool(res["namespaced"])
            )

    async def namespaced_kinds(self) -> list[tuple[str, str]]:
        """(apiVersion, kind) of every namespaced resource that can be listed, in each group's
        preferred version: what a Namespace can hold."""
        found: list[tuple[str, str]] = []
        versions = ["v1"]
        groups = await self.request("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                versions.append(str(preferred))
        for api_version in versions:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                listing = await self.request("GET", path)
            except KubeApiError:
                continue  # an aggregated API that is down says nothing about the rest
            for res in listing.get("resources") or []:
                if "/" in res["name"] or not res.get("namespaced"):
                    continue
                if "list" in (res.get("verbs") or []):
                    found.append((api_version, str(res["kind"])))
        return found

    async def capabilities(self) -> Capabilities:
        """The cluster's version and API versions as a Helm chart sees them, read at most every
        few minutes (two or three requests) and again after a CRD changed."""
        if self._capabilities and time.monotonic() - self._capabilities[0][0] < _CAPABILITIES_TTL:
            return self._capabilities[0][1]
        version = await self._git_version()
        found: set[str] = set()
        for base in ("/api", "/apis"):
            listing = await self.request("GET", base, accept=_AGGREGATED)
            found.update(_served(listing))
        read = Capabilities(version, tuple(sorted(found)))
        self._capabilities[:] = [(time.monotonic(), read)]
        return read

    async def find_kind(
        self, name: str, *, group: str | None = None, version: str | None = None
    ) -> builtins.list[Resource]:
        """The resources a user's spelling names, read as kubectl reads it: the kind, its
        plural, singular or a short name, in any case (`deploy`, `Deployment`, `deployments`);
        in `group` (and `version`) when given, else in every group's preferred version, the
        core group first."""
        wanted = name.lower()
        if version is not None:
            versions = [f"{group}/{version}" if group else version]
        else:
            versions = ["v1"] if not group else []
            if group != "":
                listing = await self.request("GET", "/apis")
                for entry in listing.get("groups") or []:
                    if group is not None and entry.get("name") != group:
                        continue
                    preferred = (entry.get("preferredVersion") or {}).get("groupVersion")
                    if preferred:
                        versions.append(str(preferred))

        async def served_by(api_version: str) -> dict[str, Any]:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                served: dict[str, Any] = await self.request("GET", path)
            except KubeApiError:
                return {}  # not served, or an aggregated API that is down
            return served

        listings = await asyncio.gather(*(served_by(v) for v in versions))
        found: builtins.list[Resource] = []
        for api_version, served in zip(versions, listings, strict=True):
            group_name, _, version_name = api_version.rpartition("/")
            for res in served.get("resources") or []:
                if "/" in res["name"]:
                    continue
                names = {
                    str(res["kind"]).lower(),
                    str(res["name"]),
                    str(res.get("singularName") or ""),
                    *(str(n) for n in res.get("shortNames") or []),
                }
                if wanted in names:
                    resource = Resource(
                        group_name,
                        version_name,
                        str(res["kind"]),
                        str(res["name"]),
                        bool(res["namespaced"]),
                    )
                    self._resources.setdefault((api_version, resource.kind), resource)
                    found.append(resource)
        return found

    async def server_version(self) -> str:
        """The API server's version, e.g. `v1.37.2`; `unknown` when it does not say."""
        return await self._git_version() or "unknown"

    async def _git_version(self) -> str:
        """The one read of /version: its gitVersion, "" when there is none."""
        info = await self.request("GET", "/version")
        return str((info or {}).get("gitVersion") or "")

    def forget_crd(self, crd: dict[str, Any]) -> None:
        """Drop the cached mappings of every version a CustomResourceDefinition serves: after
        it is applied (and again once established) its kinds may have changed."""
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or []:
            self.forget(f"{spec.get('group')}/{version.get('name')}")

    def forget(self, api_version: str) -> None:
        """Drop cached mappings of a group/version, e.g. after its CRD changed."""
        for key in [k for k in self._resources if k[0] == api_version]:
            del self._resources[key]
        self._capabilities.clear()

    # -- verbs on objects --------------------------------------------------------------------
    async def get(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any] | None:
        resource = await self.resource_for(api_version, kind)
        ref = ObjectRef(resource.group, kind, namespace, name)
        try:
            obj: dict[str, Any] = await self.request("GET", resource.path(namespace, name), ref=ref)
        except KubeNotFoundError:
            return None
        return obj

    async def list(
        self, api_version: str, kind: str, namespace: str = "", *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        resource = await self.resource_for(api_version, kind)
        query = {"labelSelector": label_selector} if label_selector else None
        result = await self.request("GET", resource.path(namespace), query=query)
        items: list[dict[str, Any]] = result.get("items", [])
        return items

    async def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply `obj`; with `dry_run` the server validates and returns the result
        without persisting it."""
        ref = ObjectRef.from_object(obj)
        resource = await self.resource_for(str(obj.get("apiVersion", "")), ref.kind)
        query = {"fieldManager": field_manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        # JSON is YAML, so the apply patch content type takes the JSON body as it is.
        applied: dict[str, Any] = await self.request(
            "PATCH",
            resource.path(ref.namespace, ref.name),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
            ref=ref,
        )
        if not dry_run and (ref.group, ref.kind) == _CRD:
            self.forget_crd(obj)
        return applied

    async def patch_merge(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str,
        patch: dict[str, Any],
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """A JSON merge patch, e.g. of `status` through the status subresource or of one
        annotation; lists in `patch` replace the live lists whole."""
        resource = await self.resource_for(api_version, kind)
        ref = ObjectRef(resource.group, kind, namespace, name)
        path = resource.path(namespace, name) + (f"/{subresource}" if subresource else "")
        result: dict[str, Any] = await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json", ref=ref
        )
        return result

    async def patch_json(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str,
        operations: builtins.list[dict[str, Any]],
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """A JSON patch (RFC 6902): its `test` operations make the whole patch fail (HTTP 422)
        unless the live object still holds what they name."""
        resource = await self.resource_for(api_version, kind)
        ref = ObjectRef(resource.group, kind, namespace, name)
        path = resource.path(namespace, name) + (f"/{subresource}" if subresource else "")
        result: dict[str, Any] = await self.request(
            "PATCH", path, body=operations, content_type="application/json-patch+json", ref=ref
        )
        return result

    async def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """POST: create only (a name taken is a conflict); `metadata.generateName` without a
        name has the server pick one. With `dry_run` nothing is persisted."""
        ref = ObjectRef.from_object(obj)
        resource = await self.resource_for(str(obj.get("apiVersion", "")), ref.kind)
        result: dict[str, Any] = await self.request(
            "POST",
            resource.path(ref.namespace),
            query={"dryRun": "All"} if dry_run else None,
            body=obj,
            ref=ref,
        )
        return result

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT: an update that fails with a conflict when metadata.resourceVersion is stale."""
        ref = ObjectRef.from_object(obj)
        resource = await self.resource_for(str(obj.get("apiVersion", "")), ref.kind)
        result: dict[str, Any] = await self.request(
            "PUT", resource.path(ref.namespace, ref.name), body=obj, ref=ref
        )
        return result

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """Items (with apiVersion and kind filled in) and the list's resourceVersion."""
        resource = await self.resource_for(api_version, kind)
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        result = await self.request("GET", resource.path(namespace), query=query)
        items: list[dict[str, Any]] = result.get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items, str(result.get("metadata", {}).get("resourceVersion", ""))

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str = "",
        *,
        resource_version: str,
        label_selector: str = "",
        field_selector: str = "",
    ) -> AsyncIterator[WatchEvent]:
        """Changes after `resource_version`, until the server ends the watch.

        Bookmarks move the resume point silently. When the version is too old (410 Gone) this
        raises KubeApiError with status 410: the caller lists again.
        """
        resource = await self.resource_for(api_version, kind)
        query = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(_WATCH_SECONDS),
        }
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        path = f"{resource.path(namespace)}?{urlencode(query)}"
        response = await self._open(
            "GET",
            path,
            timeout=aiohttp.ClientTimeout(
                sock_connect=_REQUEST_TIMEOUT, sock_read=_WATCH_SECONDS + 30
            ),
        )
        try:
            if response.status != 200:
                raw = await response.read()
                raise _api_error("GET", path, response.status, raw, response.headers, None)
            while True:
                try:
                    line = await response.content.readline()
                except (aiohttp.ClientError, TimeoutError, OSError) as err:
                    raise ConnectionFailedError(f"watch of {kind} interrupted: {err}") from err
                if not line:
                    return
                event = orjson.loads(line)
                kind_of_event = str(event.get("type", ""))
                obj = event.get("object") or {}
                if kind_of_event == "ERROR":
                    code = int(obj.get("code") or 500)
                    raise _api_error("GET", path, code, orjson.dumps(obj), {}, None)
                if kind_of_event == "BOOKMARK":
                    continue
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                yield WatchEvent(kind_of_event, obj)
        finally:
            response.release()

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str = "",
        *,
        propagation: str = "Background",
        resource_version: str = "",
    ) -> bool:
        """Delete an object; False when it was already gone. With `resource_version`, only
        that version of it (a conflict when it changed since)."""
        resource = await self.resource_for(api_version, kind)
        ref = ObjectRef(resource.group, kind, namespace, name)
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        try:
            await self.request("DELETE", resource.path(namespace, name), body=options, ref=ref)
        except KubeNotFoundError:
            return False
        return True


def _served(listing: dict[str, Any]) -> set[str]:
    """`group/version` and `group/version/Kind` of a discovery answer: aggregated
    (APIGroupDiscoveryList) or, from an older server, APIVersions/APIGroupList (no kinds)."""
    found: set[str] = set()
    if listing.get("kind") == "APIGroupDiscoveryList":
        for group in listing.get("items") or []:
            name = str((group.get("metadata") or {}).get("name") or "")
            for version in group.get("versions") or []:
                gv = f"{name}/{version['version']}" if name else str(version["version"])
                found.add(gv)
                for res in version.get("resources") or []:
                    kind = (res.get("responseKind") or {}).get("kind")
                    if kind:
                        found.add(f"{gv}/{kind}")
    elif listing.get("kind") == "APIVersions":
        found.update(str(v) for v in listing.get("versions") or [])
    else:
        for group in listing.get("groups") or []:
            found.update(str(v["groupVersion"]) for v in group.get("versions") or [])
    return found


def _api_error(
    method: str,
    path: str,
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    ref: ObjectRef | None,
) -> KubeApiError:
    causes: tuple[tuple[str, str], ...] = ()
    details: dict[str, Any] = {}
    try:
        body = orjson.loads(raw)
        message = str(body.get("message") or raw[:500])
        reason = str(body.get("reason") or "")
        details = body.get("details") or {}
        causes = tuple(
            (str(c.get("field", "")), str(c.get("message", "")))
            for c in details.get("causes") or []
        )
    except (orjson.JSONDecodeError, AttributeError):
        message, reason = raw[:500].decode(errors="replace"), ""
    where = ref.subject if ref else f"{method} {path.split('?')[0]}"
    text = f"{where}: {message} (HTTP {status}{', ' + reason if reason else ''})"
    if (
        status == 404
        and ref is not None
        and ref.namespace
        and details.get("kind") == "namespaces"
        and details.get("name") == ref.namespace
    ):
        # The object's namespace is what is missing, not the object.
        return NamespaceNotFoundError(
            text, ref=ref, namespace=ref.namespace, causes=causes, detail=message
        )
    if status == 404:
        return KubeNotFoundError(
            text, ref=ref, status=status, reason=reason, causes=causes, detail=message
        )
    if status == 500 and "failed to create typed patch object" in message:
        # Server-side apply answers a manifest whose field has the wrong type with a 500; it is
        # the manifest that is wrong, and retrying it cannot help.
        return KubePermanentError(
            text, ref=ref, status=status, reason=reason or "Invalid", causes=causes, detail=message
        )
    if status in _TRANSIENT_STATUSES:
        retry_after = headers.get("Retry-After")
        return KubeTransientError(
            text,
            ref=ref,
            status=status,
            reason=reason,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            causes=causes,
            detail=message,
        )
    return KubePermanentError(
        text, ref=ref, status=status, reason=reason, causes=causes, detail=message
    )


def _come_back_in(err: KubeTransientError, waited: float) -> float | None:
    """How long to wait before asking again after `err`, or None to give up: only a 429 that
    says when (Retry-After), at most 1 s a time and _COME_BACK_WITHIN in all."""
    if err.status != 429 or err.retry_after is None or waited >= _COME_BACK_WITHIN:
        return None
    return max(0.1, min(err.retry_after, 1.0, _COME_BACK_WITHIN - waited))


async def _check_fence(_session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: Any) -> None:
    """The write fence, run when a request's connection is ready (reused or new)."""
    last_check = getattr(ctx, "trace_request_ctx", None)
    if last_check is not None:
        last_check["check"]()


_FENCE_AT_SEND = aiohttp.TraceConfig()
_FENCE_AT_SEND.on_connection_reuseconn.append(_check_fence)
_FENCE_AT_SEND.on_connection_create_end.append(_check_fence)
