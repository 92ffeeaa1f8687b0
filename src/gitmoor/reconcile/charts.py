"""ChartSources: resolve the chart a ChartSource names in its repository (a cheap conditional
check when nothing changed), say so in its status, and hand Syncs with `chartRef` the chart.

A chart resolved once stays handed out when a later check fails (wrong credentials, the
repository down, a range that stops matching): the Syncs keep their release, the ChartSource
says what is wrong, and a new chart wakes its Syncs when one resolves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmoor.errors import GitmoorError, NotReadyError, SecretNotFoundError, SourceConfigError
from gitmoor.kube import Kube
from gitmoor.model import ChartArtifact
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.durations import parse_duration
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.model.record import Trigger
from gitmoor.model.resources import ChartSource, LocalObjectReference, Sync
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import report
from gitmoor.reconcile.cache import Cache
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources.archives import Limits as ArchiveLimits
from gitmoor.sources.chartdeps import DependencyFetcher
from gitmoor.sources.charts import ChartFetcher

_DEPENDENCY_TIMEOUT = 60.0  # seconds for one download of a dependency

# (ChartSource key, its new chart, what made it look): the runtime wakes its Syncs.
OnNewChart = Callable[[Key, ChartArtifact, Trigger], None]


@dataclass(frozen=True)
class ChartAnswer:
    """The chart a Sync is to render, or why there is none."""

    chart: ChartArtifact | None
    problem: GitmoorError | None = None


def chart_key(sync: Sync) -> Key | None:
    ref = sync.spec.chart_ref
    if ref is None:
        return None
    return Key("ChartSource", ref.namespace or sync.metadata.namespace, ref.name)


def credentials_lender(
    url: str, sources: Mapping[Key, Mapping[str, Any]], own: Key | None, namespace: str
) -> Key | None:
    """The ChartSource whose Secret a dependency in repository `url` is fetched with: one of
    that URL with a secretRef, the Sync's own ChartSource (`own`) first, then one in its
    namespace, then one in the Sync's `namespace` (by name, for a stable choice); None:
    anonymous."""
    wanted = url.rstrip("/")
    namespaces = [n for n in (own.namespace if own else None, namespace) if n]
    lenders = [
        key
        for key, spec in sources.items()
        if key.namespace in namespaces
        and str(spec.get("url") or "").rstrip("/") == wanted
        and spec.get("secretRef")
    ]
    if not lenders:
        return None
    return min(lenders, key=lambda k: (k != own, namespaces.index(k.namespace), k.name))


class ChartSourceReconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        publish: Publisher,
        cache_dir: Path,
        on_new_chart: OnNewChart,
        tenancy: Tenancy,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.publish = publish
        self.fetcher = ChartFetcher(
            cache_dir, ArchiveLimits(limits.max_file_bytes, limits.max_render_bytes)
        )
        self.on_new_chart = on_new_chart
        self.tenancy = tenancy

    async def reconcile(self, key: Key) -> float | None:
        obj = self.cache.get(key)
        if obj is None:
            return None
        try:
            source = ChartSource.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        if source.spec.suspend:
            return None
        memory = self.memory.source(key)
        before = memory.chart
        chart: ChartArtifact | None = None
        error: GitmoorError | None = None
        try:
            chart = await self.fetch(key, source)
        except GitmoorError as err:
            error = err
        answer = report.chart_fetched(
            obj,
            chart=chart,
            error=error,
            before=before,
            failures=memory.failures,
            interval=parse_duration(source.spec.interval),
        )
        return await self.publish(key, answer)

    async def fetch(self, key: Key, source: ChartSource) -> ChartArtifact:
        """Resolve and fetch the source's chart, one check per source at a time; a new chart
        wakes the Syncs that render it."""
        memory = self.memory.source(key)
        async with memory.lock:
            credentials = await self._credentials(source)
            chart = await self.fetcher.fetch(
                source.spec, credentials, timeout=parse_duration(source.spec.timeout)
            )
        previous, memory.chart = memory.chart, chart
        if previous is None or previous.revision != chart.revision:
            self.on_new_chart(key, chart, memory.trigger)
        return chart

    async def chart_for(self, sync: Sync) -> ChartAnswer:
        """The chart `sync` (with `chartRef`) is to render, or why it must wait."""
        key = chart_key(sync)
        assert key is not None
        named = f"ChartSource {key.namespace}/{key.name}"
        obj = self.cache.get(key)
        if obj is not None and (refused := self.tenancy.source_refused(sync, obj)) is not None:
            return ChartAnswer(None, refused)
        chart = self.memory.source(key).chart
        if chart is not None and await asyncio.to_thread(Path(chart.path).is_dir):
            return ChartAnswer(chart)
        if obj is None:
            return ChartAnswer(None, NotReadyError("SourceNotFound", f"{named} not found"))
        if not (obj.get("status") or {}).get("artifact"):
            # The ChartSource reports its own problem and wakes its Syncs when it succeeds.
            ready = cond.get_condition(obj, cond.READY) or {}
            detail = f": {ready['message']}" if ready.get("message") else ""
            return ChartAnswer(
                None, NotReadyError("SourceNotReady", f"{named} has no chart yet{detail}")
            )
        try:
            # Resolved before this process started (a restart): a conditional check.
            return ChartAnswer(await self.fetch(key, ChartSource.model_validate(obj)))
        except (GitmoorError, ValueError) as err:
            return ChartAnswer(
                None, NotReadyError("SourceNotReady", f"{named} has no chart: {err}")
            )

    def dependencies_for(self, sync: Sync) -> DependencyFetcher:
        """What fetches the dependencies of the chart `sync` renders. A dependency's repository
        is reached with the Secret of a ChartSource of that URL in the namespace of the Sync's
        chartRef or of the Sync itself (the chart's own ChartSource first), else anonymously:
        a user gives credentials for another repository by declaring a ChartSource for it."""
        own = chart_key(sync)

        async def credentials(url: str) -> ChartCredentials | None:
            sources = {k: dict(o.get("spec") or {}) for k, o in self.cache.items("ChartSource")}
            lender = credentials_lender(url, sources, own, sync.metadata.namespace)
            obj = self.cache.get(lender) if lender is not None else None
            if obj is None:
                return None
            try:
                source = ChartSource.model_validate(obj)
            except ValueError:
                return None
            return await self._credentials(source)

        return DependencyFetcher(self.fetcher, credentials, timeout=_DEPENDENCY_TIMEOUT)

    async def _credentials(self, source: ChartSource) -> ChartCredentials | None:
        return await registry_credentials(
            self.kube, source.metadata.namespace, source.spec.secret_ref, source.spec.url
        )


async def registry_credentials(
    kube: Kube, namespace: str, ref: LocalObjectReference | None, url: str
) -> ChartCredentials | None:
    """The credentials in a chart repository's or registry's Secret (a ChartSource's or an
    OCISource's spec.secretRef), None without one."""
    if ref is None:
        return None
    secret = await kube.get("v1", "Secret", ref.name, namespace)
    if secret is None:
        raise SecretNotFoundError(
            f"Secret {namespace}/{ref.name} named in spec.secretRef not found", url=url
        )
    try:
        return ChartCredentials.from_secret_data(dict(secret.get("data") or {}))
    except ValueError as err:
        raise SourceConfigError(f"Secret {namespace}/{ref.name}: {err}", url=url) from None
