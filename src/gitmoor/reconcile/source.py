"""GitSources: fetch (or confirm with a cheap remote check) the revision the ref names, say so in
the source's status, and hand Syncs the artifact they are to apply.

Secrets (credentials, verification keys) come from a watch (`secrets`): a changed Secret counts
from the next check on, with no read per check. A source with spec.verify hands out only
verified revisions: its keys are taken from their Secret at every check (a rotation needs no
restart), and a revision refused leaves the last verified artifact in place, so its Syncs keep
running that one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmoor.errors import GitmoorError, NotReadyError, SecretNotFoundError, SourceConfigError
from gitmoor.kube import Kube
from gitmoor.model import Artifact
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.durations import parse_duration
from gitmoor.model.record import Trigger
from gitmoor.model.resources import GitRef, GitSource, GitVerification, LocalObjectReference, Sync
from gitmoor.model.signing import SigningKeys
from gitmoor.reconcile import conditions as cond
from gitmoor.reconcile import report
from gitmoor.reconcile.cache import Cache
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.secrets import SecretWatch
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources import GitFetcher
from gitmoor.sources.sharing import fingerprint, fresh_since

# (source key, its new artifact, what made the source look): the runtime wakes its Syncs.
OnNewArtifact = Callable[[Key, Artifact, Trigger], None]
# Queue a source now (the runtime's enqueue).
Wake = Callable[[Key, Trigger], None]


@dataclass(frozen=True)
class SourceAnswer:
    """The artifact a Sync is to apply, or why there is none."""

    artifact: Artifact | None
    problem: GitmoorError | None = None


class SourceReconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        publish: Publisher,
        cache_dir: Path,
        on_new_artifact: OnNewArtifact,
        tenancy: Tenancy,
        file_roots: tuple[Path, ...] | None = None,
        wake: Wake | None = None,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.publish = publish
        self.fetcher = GitFetcher(cache_dir, file_roots=file_roots)
        self.secrets = SecretWatch(kube)
        self.wake = wake
        # Sources woken because another source's check of their remote saw a new revision.
        self._woken: set[Key] = set()
        self.on_new_artifact = on_new_artifact
        self.tenancy = tenancy

    async def close(self) -> None:
        """End the connections kept for checks (HTTP pools, ssh control masters)."""
        await self.fetcher.close()
        await self.secrets.close()

    async def reconcile(self, key: Key) -> float | None:
        obj = self.cache.get(key)
        if obj is None:
            return None
        try:
            source = GitSource.model_validate(obj)
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
            verifying=source.spec.verify is not None,
        )
        delay = await self.publish(key, answer)
        memory.refusal, notes = report.refused_revision(
            error, memory.refusal, _ref_name(source.spec.ref, before)
        )
        for reader, sync in self._readers(key, obj) if notes else ():
            self.publish.notify(reader, sync, notes)
        return delay

    def _readers(self, key: Key, obj: dict[str, Any]) -> list[tuple[Key, Sync]]:
        """The Syncs that read the source `key` (and may: tenancy), for its notifications."""
        found: list[tuple[Key, Sync]] = []
        for other, sync_obj in self.cache.items("Sync"):
            ref = (sync_obj.get("spec") or {}).get("sourceRef") or {}
            if ref.get("name") != key.name:
                continue
            try:
                sync = Sync.model_validate(sync_obj)
            except ValueError:
                continue
            refused = self.tenancy.source_refused(sync, obj)
            if self.cache.source_key(sync) == key and refused is None:
                found.append((other, sync))
        return found

    async def fetch(self, key: Key, source: GitSource) -> Artifact:
        """Fetch the source's revision, one fetch per source at a time; a new revision wakes
        the Syncs that read it. A revision that fails verification raises and is not kept."""
        memory = self.memory.source(key)
        async with memory.lock:
            credentials = await self._credentials(source)
            keys = await self._signing_keys(source, source.spec.verify)
            artifact = await self.fetcher.fetch(
                f"{key.namespace}/{key.name}",
                source.spec,
                credentials,
                timeout=parse_duration(source.spec.timeout),
                keys=keys,
                fresh_since=self._fresh_since(key, source, memory.trigger),
            )
        previous, memory.artifact = memory.artifact, artifact
        if previous is None or previous.revision != artifact.revision:
            self.on_new_artifact(key, artifact, memory.trigger)
            await self._wake_siblings(key, source, credentials, artifact)
        return artifact

    def _fresh_since(self, key: Key, source: GitSource, trigger: Trigger) -> float:
        """Since when another source's check of the same remote may answer this one: within
        its interval when its interval (or a sibling) woke it; asked by a person, a webhook or
        a changed spec, a check begun after that ask."""
        woken = key in self._woken
        self._woken.discard(key)
        return fresh_since(
            parse_duration(source.spec.interval),
            timed=woken or trigger is Trigger.INTERVAL,
            asked_at=self.memory.source(key).asked_at,
            now=time.monotonic(),
        )

    async def _wake_siblings(
        self,
        key: Key,
        source: GitSource,
        credentials: GitCredentials | None,
        artifact: Artifact,
    ) -> None:
        """Sources that share this one's check (same URL and ref, Secrets of the same content:
        see `sources.sharing`) learn of the new revision now rather than at their next
        interval: sharing never delays a change."""
        if self.wake is None:
            return
        mine = fingerprint(credentials)
        for other, obj in self.cache.items("GitSource"):
            # Most sources have a URL of their own: compared raw first, as validating every
            # source at every new revision costs O(sources) models per fetch.
            if other == key or (obj.get("spec") or {}).get("url") != source.spec.url:
                continue
            try:
                sibling = GitSource.model_validate(obj)
            except ValueError:
                continue
            spec = sibling.spec
            known = self.memory.source(other).artifact
            if (
                (spec.url, spec.ref) != (source.spec.url, source.spec.ref)
                or spec.suspend
                or (known is not None and known.revision == artifact.revision)
            ):
                continue
            try:
                if fingerprint(await self._credentials(sibling)) != mine:
                    continue
            except GitmoorError:
                continue  # its own check reports what is wrong with its Secret
            self._woken.add(other)
            self.wake(other, Trigger.INTERVAL)

    async def artifact_for(self, sync: Sync, pinned: str | None) -> SourceAnswer:
        """The artifact `sync` is to apply: its source's, or the pinned commit's."""
        key = self.cache.source_key(sync)
        if key is None:
            raise ValueError(f"Sync {sync.metadata.name} has no sourceRef: it has no artifact")
        named = f"GitSource {key.namespace}/{key.name}"
        obj = self.cache.get(key)
        if obj is not None and (refused := self.tenancy.source_refused(sync, obj)) is not None:
            return SourceAnswer(None, refused)
        artifact = self.memory.source(key).artifact
        if artifact is not None and not artifact.verified_by and _verifies(self.cache.get(key)):
            # Fetched before spec.verify was set: not handed out until a revision verifies.
            return SourceAnswer(
                None,
                NotReadyError("SourceNotReady", f"{named} has no verified revision yet"),
            )
        if artifact is None:
            if obj is None:
                return SourceAnswer(None, NotReadyError("SourceNotFound", f"{named} not found"))
            if not (obj.get("status") or {}).get("artifact"):
                # The source reports its own problem and wakes its Syncs when it succeeds.
                ready = cond.get_condition(obj, cond.READY) or {}
                detail = f": {ready['message']}" if ready.get("message") else ""
                return SourceAnswer(
                    None, NotReadyError("SourceNotReady", f"{named} has no artifact yet{detail}")
                )
            try:
                # Known to the cluster but not to this process (a restart): a cheap check.
                artifact = await self.fetch(key, GitSource.model_validate(obj))
            except (GitmoorError, ValueError) as err:
                return SourceAnswer(
                    None, NotReadyError("SourceNotReady", f"{named} has no artifact: {err}")
                )
        if pinned:
            try:
                artifact = await self._pinned(key, artifact, pinned)
            except (GitmoorError, ValueError) as err:
                return SourceAnswer(
                    None,
                    NotReadyError("PinnedRevisionUnavailable", f"pinned revision {pinned}: {err}"),
                )
        return SourceAnswer(artifact)

    async def _pinned(self, key: Key, current: Artifact, pinned: str) -> Artifact:
        """The artifact of a pinned commit (`gitmoor rollback`), fetched by its sha."""
        sha = pinned.rpartition("sha1:")[2] or pinned
        if current.commit.sha.startswith(sha):
            return current
        obj = self.cache.get(key)
        if obj is None:
            raise GitmoorError(f"GitSource {key.namespace}/{key.name} not found")
        source = GitSource.model_validate(obj)
        verify = source.spec.verify
        if verify is not None:
            # A commit names no tag: a pinned one must carry its own signature, whatever the mode.
            verify = verify.model_copy(update={"mode": "head"})
        spec = source.spec.model_copy(update={"ref": GitRef(commit=sha), "verify": verify})
        credentials = await self._credentials(source)
        return await self.fetcher.fetch(
            f"{key.namespace}/{key.name}#pinned",
            spec,
            credentials,
            timeout=parse_duration(spec.timeout),
            keys=await self._signing_keys(source, verify),
        )

    async def _credentials(self, source: GitSource) -> GitCredentials | None:
        ref = source.spec.secret_ref
        if ref is None:
            return None
        data = await self._secret_data(source, ref, "spec.secretRef")
        try:
            return GitCredentials.from_secret_data(data)
        except ValueError as err:
            raise SourceConfigError(
                f"Secret {source.metadata.namespace}/{ref.name}: {err}", url=source.spec.url
            ) from None

    async def _signing_keys(
        self, source: GitSource, verify: GitVerification | None
    ) -> SigningKeys | None:
        if verify is None:
            return None
        ref = verify.secret_ref
        data = await self._secret_data(source, ref, "spec.verify.secretRef")
        origin = f"{source.metadata.namespace}/{ref.name}"
        try:
            return SigningKeys.from_secret_data(data, origin=origin)
        except ValueError as err:
            raise SourceConfigError(
                f"Secret {origin} (spec.verify.secretRef): {err}", url=source.spec.url
            ) from None

    async def _secret_data(
        self, source: GitSource, ref: LocalObjectReference, field: str
    ) -> dict[str, str]:
        namespace = source.metadata.namespace
        data = await self.secrets.data(namespace, ref.name)
        if data is None:
            raise SecretNotFoundError(
                f"Secret {namespace}/{ref.name} named in {field} not found", url=source.spec.url
            )
        return data


def _ref_name(ref: GitRef, before: Artifact | None) -> str | None:
    """The name a revision of `ref` is written with (`main` of `main@sha1:<hex>`), when known
    without the refused revision's own artifact: a semver range's tag is not."""
    if ref.branch or ref.tag:
        return ref.branch or ref.tag
    if ref.semver or ref.commit or before is None:
        return None
    return before.revision.partition("@")[0]  # the remote's HEAD branch, as fetched before


def _verifies(obj: dict[str, Any] | None) -> bool:
    return bool(((obj or {}).get("spec") or {}).get("verify"))
