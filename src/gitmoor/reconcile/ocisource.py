"""OCISources: resolve the artifact an OCISource's ref names (one manifest request when nothing
changed), say so in its status, and hand the Syncs that read it (sourceRef.kind: OCISource) the
unpacked layer, rendered like a Git tree.

As with GitSources, an artifact handed out once stays handed out when a later check fails: the
Syncs keep what they run, the OCISource says what is wrong."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gitmoor.errors import GitmoorError, NotReadyError
from gitmoor.kube import Kube
from gitmoor.model import Artifact
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.durations import parse_duration
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.model.resources import OCISource, Sync
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import report
from gitmoor.reconcile.cache import Cache
from gitmoor.reconcile.charts import registry_credentials
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.source import OnNewArtifact, SourceAnswer
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources.archives import Limits as ArchiveLimits
from gitmoor.sources.ociartifact import OCIArtifactFetcher


class OCISourceReconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        publish: Publisher,
        cache_dir: Path,
        on_new_artifact: OnNewArtifact,
        tenancy: Tenancy,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.publish = publish
        self.fetcher = OCIArtifactFetcher(
            cache_dir, ArchiveLimits(limits.max_file_bytes, limits.max_render_bytes)
        )
        self.on_new_artifact = on_new_artifact
        self.tenancy = tenancy

    async def reconcile(self, key: Key) -> float | None:
        obj = self.cache.get(key)
        if obj is None:
            return None
        try:
            source = OCISource.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        if source.spec.suspend:
            return None
        memory = self.memory.source(key)
        before = memory.artifact
        started = time.monotonic()
        artifact: Artifact | None = None
        error: GitmoorError | None = None
        try:
            artifact = await self.fetch(key, source)
        except GitmoorError as err:
            error = err
        answer = report.fetched(
            obj,
            artifact=artifact,
            error=error,
            before=before,
            seconds=time.monotonic() - started,
            failures=memory.failures,
            interval=parse_duration(source.spec.interval),
        )
        return await self.publish(key, answer)

    async def fetch(self, key: Key, source: OCISource) -> Artifact:
        """Resolve and pull the source's artifact, one check per source at a time; a new one
        wakes the Syncs that read it."""
        memory = self.memory.source(key)
        async with memory.lock:
            credentials = await self._credentials(source)
            artifact = await self.fetcher.fetch(
                source.spec, credentials, timeout=parse_duration(source.spec.timeout)
            )
        previous, memory.artifact = memory.artifact, artifact
        if previous is None or previous.revision != artifact.revision:
            self.on_new_artifact(key, artifact, memory.trigger)
        return artifact

    async def artifact_for(self, sync: Sync, pinned: str | None) -> SourceAnswer:
        """The artifact `sync` is to apply, or why it must wait. A pinned revision (`gitmoor
        rollback` to a commit) has no meaning for an artifact: it is refused by name."""
        key = self.cache.source_key(sync)
        assert key is not None  # only Syncs whose sourceRef names an OCISource come here
        named = f"OCISource {key.namespace}/{key.name}"
        obj = self.cache.get(key)
        if obj is not None and (refused := self.tenancy.source_refused(sync, obj)) is not None:
            return SourceAnswer(None, refused)
        if pinned:
            return SourceAnswer(
                None,
                NotReadyError(
                    "PinnedRevisionUnavailable",
                    f"pinned revision {pinned}: {named} serves artifacts, not commits; pin "
                    "one with its spec.ref.digest",
                ),
            )
        artifact = self.memory.source(key).artifact
        if artifact is not None and await asyncio.to_thread(Path(artifact.path).is_dir):
            return SourceAnswer(artifact)
        if obj is None:
            return SourceAnswer(None, NotReadyError("SourceNotFound", f"{named} not found"))
        if not (obj.get("status") or {}).get("artifact"):
            ready = cond.get_condition(obj, cond.READY) or {}
            detail = f": {ready['message']}" if ready.get("message") else ""
            return SourceAnswer(
                None, NotReadyError("SourceNotReady", f"{named} has no artifact yet{detail}")
            )
        try:
            # Pulled before this process started (a restart): one manifest request.
            return SourceAnswer(await self.fetch(key, OCISource.model_validate(obj)))
        except (GitmoorError, ValueError) as err:
            return SourceAnswer(
                None, NotReadyError("SourceNotReady", f"{named} has no artifact: {err}")
            )

    async def _credentials(self, source: OCISource) -> ChartCredentials | None:
        return await registry_credentials(
            self.kube, source.metadata.namespace, source.spec.secret_ref, source.spec.url
        )
