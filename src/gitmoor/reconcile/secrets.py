"""The Secrets sources name (credentials, verification keys), kept current by a watch.

A source used to read its Secret at every check: with a thousand sources at one minute, a
thousand GETs a minute for values that almost never change. Here the first time a namespace's
Secret is asked for, that namespace's Secrets are watched (list, then watch; `informer.follow`),
and only the Secrets asked for are kept, by name: a namespace's other Secrets (Helm releases,
tokens) pass by without being stored. A changed or deleted Secret is seen through the watch, so
it takes effect at the next check with no read of its own.

Until a namespace's list has come back (or when the agent may not list Secrets there, an install
whose role only grants `get`), every ask is a plain GET, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import structlog

from gitmoor.errors import KubeApiError
from gitmoor.kube import Kube, WatchEvent
from gitmoor.reconcile.informer import follow

log = structlog.get_logger("gitmoor.secrets")

_NOTHING = "gitmoor.io/probe-matches-nothing"  # a label selector no Secret carries
Data = dict[str, str]  # a Secret's `data`: base64 values by key
_Name = tuple[str, str]  # (namespace, name)


class SecretWatch:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._wanted: set[_Name] = set()
        # What the watch last said of each wanted Secret; None: it does not exist.
        self._known: dict[_Name, Data | None] = {}
        self._listed: set[str] = set()
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._denied: set[str] = set()  # namespaces where listing Secrets is forbidden

    async def data(self, namespace: str, name: str) -> Data | None:
        """The Secret's data, None when there is no such Secret."""
        key = (namespace, name)
        self._watch(namespace)
        self._wanted.add(key)
        if namespace in self._listed and key in self._known:
            known = self._known[key]
            return None if known is None else dict(known)
        secret = await self.kube.get("v1", "Secret", name, namespace)
        data = None if secret is None else _data_of(secret)
        # Kept only while the watch runs, and not over what it said meanwhile (which may be
        # newer; if older, the event that follows it brings the newer state).
        if namespace in self._listed and key not in self._known:
            self._known[key] = data
        return None if data is None else dict(data)

    def _watch(self, namespace: str) -> None:
        if namespace in self._denied:
            return
        task = self._watches.get(namespace)
        if task is None or task.done():
            self._watches[namespace] = asyncio.create_task(
                self._follow(namespace),
                name=f"watch Secrets in {namespace}",
                context=contextvars.Context(),
            )

    async def _follow(self, namespace: str) -> None:
        async def listed(items: list[dict[str, Any]]) -> None:
            present = {str(s["metadata"]["name"]): s for s in items}
            for key in [k for k in self._wanted if k[0] == namespace]:
                secret = present.get(key[1])
                self._known[key] = None if secret is None else _data_of(secret)
            self._listed.add(namespace)

        async def changed(event: WatchEvent) -> None:
            key = (namespace, str(event.obj["metadata"]["name"]))
            if key in self._wanted:
                self._known[key] = None if event.type == "DELETED" else _data_of(event.obj)

        if not await self._may_list(namespace):
            return
        try:
            await follow(
                self.kube, "v1", "Secret", namespace=namespace, on_list=listed, on_event=changed
            )
        finally:
            # Whatever stopped the watch, what it kept can no longer be trusted.
            self._listed.discard(namespace)
            for key in [k for k in self._known if k[0] == namespace]:
                del self._known[key]

    async def _may_list(self, namespace: str) -> bool:
        """Whether the agent may list Secrets here: asked once with a selector nothing carries
        (an empty answer). Where it may not (an install whose role grants only `get`), the
        Secrets are read at each check as before, and the log says what to grant."""
        try:
            await self.kube.list_with_version("v1", "Secret", namespace, label_selector=_NOTHING)
        except KubeApiError as err:
            if err.status != 403:
                raise
            self._denied.add(namespace)
            log.warning(
                "may not list and watch Secrets: credentials are read at every check "
                "(grant list and watch on secrets to the agent's role)",
                namespace=namespace,
            )
            return False
        return True

    async def close(self) -> None:
        for task in self._watches.values():
            task.cancel()
        await asyncio.gather(*self._watches.values(), return_exceptions=True)
        self._watches.clear()


def _data_of(secret: dict[str, Any]) -> Data:
    return {str(k): str(v) for k, v in (secret.get("data") or {}).items()}


__all__ = ["SecretWatch"]
