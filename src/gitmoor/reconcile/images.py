"""Image update automation in the agent: ImageRepositories scan their registry, ImagePolicies
choose a tag from the last scan, ImageUpdateAutomations write the choices into Git.

The chain wakes itself: a scan whose tags changed wakes the policies of that repository; a
policy whose choice changed wakes the automations; a pushed commit wakes the GitSource, whose
new revision wakes its Syncs. Scanned tags live in memory only (a restart scans again); the
choices live in the policies' status, so automations work from the cluster's view alone.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from gitmoor.errors import (
    GitmoorError,
    InvalidImagePolicyError,
    NoMatchingTagError,
    NotReadyError,
    SecretNotFoundError,
    SigningKeyError,
    SourceConfigError,
)
from gitmoor.kube import Kube
from gitmoor.model.credentials import ChartCredentials, GitCredentials
from gitmoor.model.durations import parse_duration
from gitmoor.model.images import (
    ImagePolicy,
    ImageRepository,
    ImageUpdate,
    ImageUpdateAutomation,
    LatestRef,
)
from gitmoor.model.record import Trigger
from gitmoor.model.resources import GitSource
from gitmoor.reconcile import image_report as ir
from gitmoor.reconcile import report
from gitmoor.reconcile.cache import Cache, Obj
from gitmoor.reconcile.memory import Key, Memory
from gitmoor.reconcile.publish import Publisher
from gitmoor.reconcile.tenancy import Tenancy
from gitmoor.sources.images import registry
from gitmoor.sources.images.markers import Image
from gitmoor.sources.images.policy import InvalidPolicyError, NoTagMatchError, latest, select
from gitmoor.sources.images.registry import ImageName
from gitmoor.sources.images.writeback import Outcome, Request, SigningMaterial, Writer

log = structlog.get_logger("gitmoor.agent")

Wake = Callable[[Key, Trigger], None]
# An update commit pushed: recorded in the ledger (when there is one).
_POLICY_RETRY = 300.0  # the cap of a failing policy's backoff (a scan wakes it anyway)


def repository_key(policy: ImagePolicy) -> Key:
    ref = policy.spec.image_repository_ref
    return Key("ImageRepository", ref.namespace or policy.metadata.namespace, ref.name)


class ImageReconciler:
    def __init__(
        self,
        kube: Kube,
        cache: Cache,
        memory: Memory,
        publish: Publisher,
        cache_dir: Path,
        wake: Wake,
        tenancy: Tenancy,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.memory = memory
        self.publish = publish
        self.wake = wake
        self.tenancy = tenancy
        self.writer = Writer(cache_dir / "image-updates")
        self.tags: dict[Key, list[str]] = {}  # the last scan of each ImageRepository
        self._pushed_at: dict[Key, float] = {}  # monotonic time of each automation's last push

    def forget(self, key: Key) -> None:
        self.tags.pop(key, None)
        self._pushed_at.pop(key, None)

    async def reconcile(self, key: Key) -> float | None:
        obj = self.cache.get(key)
        if obj is None:
            return None
        if key.kind == "ImageRepository":
            return await self._repository(key, obj)
        if key.kind == "ImagePolicy":
            return await self._policy(key, obj)
        return await self._automation(key, obj)

    # -- ImageRepository -------------------------------------------------------------------
    async def _repository(self, key: Key, obj: Obj) -> float | None:
        try:
            repo = ImageRepository.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        if repo.spec.suspend:
            return None
        image = ImageName.parse(repo.spec.image)
        memory = self.memory.source(key)
        tags: list[str] | None = None
        error: GitmoorError | None = None
        try:
            credentials = await self.registry_credentials(repo, image)
            tags = await registry.scan(
                image,
                credentials,
                repo.spec.exclusion_list,
                timeout=parse_duration(repo.spec.timeout),
            )
        except GitmoorError as err:
            error = err
        before = self.tags.get(key)
        if tags is not None:
            self.tags[key] = tags
        answer = ir.scanned(
            obj,
            canonical=image.canonical,
            tags=tags,
            latest=latest(tags or []),
            error=error,
            now=datetime.now(UTC),
            failures=memory.failures,
            interval=parse_duration(repo.spec.interval),
        )
        delay = await self.publish(key, answer)
        if tags is not None and (before is None or set(before) != set(tags)):
            for policy_key, policy_obj in self.cache.items("ImagePolicy"):
                ref = (policy_obj.get("spec") or {}).get("imageRepositoryRef") or {}
                wanted = Key(
                    "ImageRepository",
                    ref.get("namespace") or policy_key.namespace,
                    str(ref.get("name", "")),
                )
                if wanted == key:
                    self.wake(policy_key, memory.trigger)
        return delay

    async def registry_credentials(
        self, repo: ImageRepository, image: ImageName
    ) -> ChartCredentials | None:
        namespace = repo.metadata.namespace
        ca: bytes | None = None
        if repo.spec.cert_secret_ref is not None:
            data = await self._secret(namespace, repo.spec.cert_secret_ref.name, repo.spec.image)
            ca = _decoded(data, "ca.crt", f"{namespace}/{repo.spec.cert_secret_ref.name}")
        if repo.spec.secret_ref is None:
            return ChartCredentials(ca=ca) if ca else None
        name = repo.spec.secret_ref.name
        data = await self._secret(namespace, name, repo.spec.image)
        try:
            return registry.credentials_from_dockerconfig(data, image.host, ca=ca)
        except ValueError as err:
            raise SourceConfigError(
                f"Secret {namespace}/{name} (spec.secretRef): {err}", url=repo.spec.image
            ) from None

    async def _secret(self, namespace: str, name: str, url: str) -> dict[str, str]:
        secret = await self.kube.get("v1", "Secret", name, namespace)
        if secret is None:
            raise SecretNotFoundError(f"Secret {namespace}/{name} not found", url=url)
        return dict(secret.get("data") or {})

    # -- ImagePolicy -----------------------------------------------------------------------
    async def _policy(self, key: Key, obj: Obj) -> float | None:
        try:
            policy = ImagePolicy.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        memory = self.memory.source(key)
        chosen: ir.Chosen | None = None
        error: GitmoorError | None = None
        try:
            chosen = await self._choose(key, policy, obj)
        except GitmoorError as err:
            error = err
        before = (obj.get("status") or {}).get("latestRef")
        answer = ir.chose(
            obj, chosen=chosen, error=error, failures=memory.failures, interval=_POLICY_RETRY
        )
        delay = await self.publish(key, answer)
        if chosen is not None and before != chosen.as_status():
            for automation in self.cache.keys("ImageUpdateAutomation"):
                self.wake(automation, memory.trigger)
        return delay

    async def _choose(self, key: Key, policy: ImagePolicy, obj: Obj) -> ir.Chosen:
        named = f"{key.namespace}/{key.name}"
        repo_key = repository_key(policy)
        repo_obj = self.cache.get(repo_key)
        where = f"ImageRepository {repo_key.namespace}/{repo_key.name}"
        if repo_obj is None:
            raise NotReadyError("RepositoryNotFound", f"{where} not found")
        if (refused := self.tenancy.ref_refused(key.namespace, repo_obj)) is not None:
            raise refused
        tags = self.tags.get(repo_key)
        if tags is None:
            raise NotReadyError("RepositoryNotReady", f"{where} has not been scanned yet")
        repo = ImageRepository.model_validate(repo_obj)
        try:
            choice = select(tags, policy.spec.policy, policy.spec.filter_tags)
        except NoTagMatchError as err:
            raise NoMatchingTagError(f"{where}: {err}", policy=named) from None
        except InvalidPolicyError as err:
            raise InvalidImagePolicyError(str(err), policy=named) from None
        image = ImageName.parse(repo.spec.image)
        previous = LatestRef.model_validate(
            (obj.get("status") or {}).get("latestRef") or {"name": "", "tag": ""}
        )
        if previous.tag == choice.tag and previous.name == repo.spec.image and previous.digest:
            return ir.Chosen(repo.spec.image, choice.tag, previous.digest, previous.created)
        credentials = await self.registry_credentials(repo, image)
        facts = await registry.describe(
            image, choice.tag, credentials, timeout=parse_duration(repo.spec.timeout)
        )
        return ir.Chosen(repo.spec.image, choice.tag, facts.digest, facts.created)

    # -- ImageUpdateAutomation -------------------------------------------------------------
    async def _automation(self, key: Key, obj: Obj) -> float | None:
        try:
            automation = ImageUpdateAutomation.model_validate(obj)
        except ValueError as err:
            return await self.publish(key, report.invalid(obj, err))
        if automation.spec.suspend:
            return None
        interval = parse_duration(automation.spec.interval)
        memory = self.memory.source(key)
        # At most one commit per interval, however many policies change within it.
        wait = ir.push_wait(
            self._pushed_at.get(key),
            time.monotonic(),
            interval,
            asked=memory.trigger is Trigger.CLI,
        )
        if wait > 0:
            return wait
        observed = self._images(
            None if self.tenancy.cross_namespace_refs else automation.metadata.namespace
        )
        error: GitmoorError | None = None
        outcome = None
        try:
            request = await self._request(key, automation, observed)
            outcome = await self.writer.run(request)
        except GitmoorError as err:
            error = err
        now = datetime.now(UTC)
        if outcome is not None and outcome.commit is not None:
            self._pushed_at[key] = time.monotonic()
        answer = ir.updated(
            obj,
            commit=outcome.commit if outcome else None,
            branch=outcome.branch if outcome else "",
            changes=outcome.changes if outcome else (),
            pushed_at=outcome.pushed_at if outcome else None,
            observed={
                p: {"name": i.name, "tag": i.tag, **({"digest": i.digest} if i.digest else {})}
                for p, i in sorted(observed.items())
                if i is not None and outcome is not None and p in outcome.seen
            },
            outside=outcome.outside if outcome else (),
            error=error,
            now=now,
            failures=memory.failures,
            interval=interval,
            path=automation.spec.update.path,
        )
        pushed = outcome is not None and outcome.commit is not None
        if pushed:
            assert outcome is not None
            # In the ledger before anything can deploy the commit (its GitSource may fetch it
            # on its own interval any moment now).
            await self._record(automation, self._source_key(automation), outcome)
        delay = await self.publish(key, answer)
        if pushed:
            self.wake(self._source_key(automation), Trigger.RESOURCE)
        return delay

    async def _record(
        self, automation: ImageUpdateAutomation, source: Key, outcome: Outcome
    ) -> None:
        policies = {k.namespace + "/" + k.name: o for k, o in self.cache.items("ImagePolicy")}
        source_obj = self.cache.get(source) or {}
        for change in outcome.changes:
            if change.field not in ("image", "tag"):
                continue
            latest = ((policies.get(change.policy) or {}).get("status") or {}).get("latestRef")
            created = (latest or {}).get("created")
            update = ImageUpdate(
                automation_namespace=automation.metadata.namespace,
                automation_name=automation.metadata.name,
                policy=change.policy,
                image=str((latest or {}).get("name", "")),
                old_tag=change.old.rsplit(":", 1)[-1],
                new_tag=str((latest or {}).get("tag", change.new.rsplit(":", 1)[-1])),
                digest=(latest or {}).get("digest"),
                pushed_at=datetime.fromisoformat(created.replace("Z", "+00:00"))
                if isinstance(created, str)
                else None,
                source_url=str((source_obj.get("spec") or {}).get("url", "")),
                branch=outcome.branch,
                commit=outcome.commit or "",
                committed_at=outcome.pushed_at or datetime.now(UTC),
                file=f"{change.file}:{change.line}",
            )
            await self.publish.image_updated(update)

    def _images(self, namespace: str | None) -> dict[str, Image | None]:
        """Every policy's choice by ns/name (only those of `namespace` when cross-namespace
        references are refused: a marker naming another's is then a PolicyNotFound)."""
        out: dict[str, Image | None] = {}
        for key, obj in self.cache.items("ImagePolicy"):
            if namespace is not None and key.namespace != namespace:
                continue
            latest = (obj.get("status") or {}).get("latestRef") or {}
            out[f"{key.namespace}/{key.name}"] = (
                Image(str(latest["name"]), str(latest["tag"]), latest.get("digest"))
                if latest.get("name") and latest.get("tag")
                else None
            )
        return out

    def _source_key(self, automation: ImageUpdateAutomation) -> Key:
        ref = automation.spec.source_ref
        return Key("GitSource", ref.namespace or automation.metadata.namespace, ref.name)

    async def _request(
        self, key: Key, automation: ImageUpdateAutomation, images: dict[str, Image | None]
    ) -> Request:
        source_key = self._source_key(automation)
        source_obj = self.cache.get(source_key)
        named = f"GitSource {source_key.namespace}/{source_key.name}"
        if source_obj is None:
            raise NotReadyError("SourceNotFound", f"{named} not found")
        if (refused := self.tenancy.ref_refused(key.namespace, source_obj)) is not None:
            raise refused
        source = GitSource.model_validate(source_obj)
        spec = automation.spec
        checkout = spec.git.checkout.ref.branch if spec.git.checkout else source.spec.ref.branch
        if not checkout:
            raise SourceConfigError(
                f"set git.checkout.ref.branch: {named} follows no branch", url=source.spec.url
            )
        credentials: GitCredentials | None = None
        namespace = source.metadata.namespace
        if source.spec.secret_ref is not None:
            data = await self._secret(namespace, source.spec.secret_ref.name, source.spec.url)
            try:
                credentials = GitCredentials.from_secret_data(data)
            except ValueError as err:
                raise SourceConfigError(
                    f"Secret {namespace}/{source.spec.secret_ref.name}: {err}",
                    url=source.spec.url,
                ) from None
        signing: SigningMaterial | None = None
        if spec.git.commit.signing_key is not None:
            name = spec.git.commit.signing_key.secret_ref.name
            origin = f"{key.namespace}/{name}"
            data = await self._secret(key.namespace, name, source.spec.url)
            try:
                raw = {k: base64.b64decode(v, validate=True) for k, v in data.items()}
            except (binascii.Error, ValueError):
                raise SigningKeyError(f"Secret {origin}: not base64", url="") from None
            signing = SigningMaterial.from_secret(raw, origin)
        return Request(
            url=source.spec.url,
            credentials=credentials,
            checkout=checkout,
            push=spec.git.push.branch if spec.git.push else checkout,
            path=spec.update.path,
            images=images,
            namespace=key.namespace,
            author_name=spec.git.commit.author.name,
            author_email=spec.git.commit.author.email,
            message_template=spec.git.commit.message_template,
            automation=f"{key.namespace}/{key.name}",
            signing=signing,
            timeout=parse_duration(spec.timeout),
        )


def _decoded(data: dict[str, str], name: str, origin: str) -> bytes:
    try:
        value = base64.b64decode(data.get(name) or "", validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if not value:
        raise SourceConfigError(f"Secret {origin} has no {name}", url="")
    return value
