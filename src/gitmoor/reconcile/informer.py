"""List, then watch from the list's resourceVersion, for ever: relist when the version is too
old (410), back off when the API server fails. The agent's resources and the drift monitor's
managed objects are both followed this way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from gitmoor.errors import GitmoorError, KubeApiError
from gitmoor.kube import Kube, WatchEvent
from gitmoor.reconcile.retry import backoff

log = structlog.get_logger("gitmoor.informer")

OnList = Callable[[list[dict[str, Any]]], Awaitable[None]]
OnEvent = Callable[[WatchEvent], Awaitable[None]]


async def follow(
    kube: Kube,
    api_version: str,
    kind: str,
    *,
    on_list: OnList,
    on_event: OnEvent,
    namespace: str = "",
    label_selector: str = "",
) -> None:
    """Call `on_list` with every object after each (re)list, then `on_event` for each change."""
    failures = 0
    while True:
        try:
            items, version = await kube.list_with_version(
                api_version, kind, namespace, label_selector=label_selector
            )
            await on_list(items)
            failures = 0
            while True:
                async for event in kube.watch(
                    api_version,
                    kind,
                    namespace,
                    resource_version=version,
                    label_selector=label_selector,
                ):
                    version = str(event.obj["metadata"].get("resourceVersion", version))
                    await on_event(event)
        except KubeApiError as err:
            if err.status != 410:  # 410: our version is too old; list again at once
                failures += 1
                log.warning("watch failed", kind=kind, error=str(err))
                await asyncio.sleep(backoff(failures, base=1, cap=30))
        except GitmoorError as err:
            failures += 1
            log.warning("watch failed", kind=kind, error=str(err))
            await asyncio.sleep(backoff(failures, base=1, cap=30))
