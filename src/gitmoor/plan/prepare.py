"""From rendered manifests to the objects gitmoor will send: namespace, ownership labels, phase.

Scope (namespaced or not) comes from discovery, or, for kinds whose CRD is part of the same
revision and not installed yet, from that CRD's `spec.scope`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gitmoor.errors import ObjectFailure, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model import Manifest, ObjectRef, labels
from gitmoor.model.hooks import Hook, HookAnnotationError, hook_of, wave_of
from gitmoor.plan.ordering import FOUNDATION, HOOK, is_foundation, parse_order, phase_name

# The characters the API server draws a generated name's suffix from (no vowels, no 0/1/3).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX = 5
_MAX_PREFIX = 63 - _SUFFIX  # the API server cuts a longer prefix to this


@dataclass(frozen=True, eq=False)
class Desired:
    """A manifest ready to be sent, with the phase it belongs to."""

    manifest: Manifest
    obj: dict[str, Any]
    phase: str
    order: int
    # A hook is created when its moment comes, not applied with the rest (model/hooks.py).
    hook: Hook | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.from_object(self.obj)

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])


@dataclass(frozen=True)
class Owner:
    """The Sync the objects belong to."""

    name: str
    namespace: str


def _crd_scopes(manifests: list[Manifest]) -> dict[tuple[str, str], bool]:
    scopes: dict[tuple[str, str], bool] = {}
    for m in manifests:
        ref = m.ref
        if (ref.group, ref.kind) != ("apiextensions.k8s.io", "CustomResourceDefinition"):
            continue
        spec = m.obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if spec.get("group") and kind:
            scopes[(str(spec["group"]), str(kind))] = spec.get("scope") == "Namespaced"
    return scopes


async def prepare(
    kube: Kube,
    manifests: list[Manifest],
    owner: Owner,
    *,
    target_namespace: str | None,
) -> tuple[list[Desired], list[ObjectFailure]]:
    """Desired objects, and the manifests that cannot be applied at all (unknown kind, no
    namespace, bad order annotation), each failure naming the object and its file."""
    crd_scopes = _crd_scopes(manifests)
    desired: list[Desired] = []
    failures: list[ObjectFailure] = []
    generated: Counter[ObjectRef] = Counter()
    for manifest in manifests:
        ref = manifest.ref
        try:
            hook = hook_of(manifest.obj)
        except HookAnnotationError as err:
            failures.append(
                ObjectFailure(
                    ref,
                    str(err),
                    where=manifest.where,
                    field=f"metadata.annotations[{err.annotation}]",
                )
            )
            continue
        if hook is not None and hook.left_out:
            continue  # Skip, delete, rollback and test hooks: not part of a deployment
        obj = copy.deepcopy(manifest.obj)
        try:
            namespaced = await _namespaced(kube, manifest.api_version, ref, crd_scopes)
        except UnknownKindError as err:
            failures.append(ObjectFailure(ref, str(err), where=manifest.where, error=err))
            continue
        meta = obj.setdefault("metadata", {})
        if namespaced:
            if target_namespace:
                meta["namespace"] = target_namespace
            elif not meta.get("namespace") and manifest.default_namespace:
                meta["namespace"] = manifest.default_namespace
            elif not meta.get("namespace"):
                failures.append(
                    ObjectFailure(
                        ref,
                        "namespaced object has no metadata.namespace and the Sync sets no "
                        "targetNamespace",
                        where=manifest.where,
                        field="metadata.namespace",
                    )
                )
                continue
        else:
            meta.pop("namespace", None)
        if (ref.group, ref.kind) == ("", "Secret"):
            _string_data_as_data(obj)
        meta.setdefault("labels", {})
        meta["labels"][labels.SYNC_NAME] = owner.name
        meta["labels"][labels.SYNC_NAMESPACE] = owner.namespace
        if hook is not None:
            # Which hook an object was created from, to find earlier runs of it again.
            meta["labels"][labels.HOOK] = hook_key(owner, ObjectRef.from_object(obj))
            desired.append(Desired(manifest, obj, HOOK, hook.weight, hook))
            continue
        if not meta.get("name") and meta.get("generateName"):
            template = ObjectRef.from_object(obj)
            generated[template] += 1
            meta["name"] = generated_name(owner, template, generated[template])
        final_ref = ObjectRef.from_object(obj)
        try:
            order = _order(obj)
        except ValueError as err:
            failures.append(
                ObjectFailure(
                    final_ref,
                    str(err),
                    where=manifest.where,
                    field=f"metadata.annotations[{getattr(err, 'annotation', labels.ORDER)}]",
                )
            )
            continue
        phase = FOUNDATION if is_foundation(final_ref) else phase_name(order)
        desired.append(Desired(manifest, obj, phase, order))
    _duplicates(desired, failures)
    return desired, failures


def _order(obj: dict[str, Any]) -> int:
    """gitmoor's own order annotation, else Argo CD's sync wave; raises ValueError."""
    own = labels.annotation(obj, labels.ORDER)
    if own is not None and own.strip():
        return parse_order(own)
    return wave_of(obj)


def generated_name(owner: Owner, template: ObjectRef, ordinal: int) -> str:
    """The name of an ordinary (not hook) object that asks for a generated one: its prefix and
    five characters as the API server would draw them, but drawn from the Sync, the object's
    kind, namespace and prefix, so every revision finds the same object again instead of
    creating one more."""
    seed = "\0".join((*_identity(owner, template), str(ordinal)))
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    suffix = ""
    for _ in range(_SUFFIX):
        number, index = divmod(number, len(_ALPHABET))
        suffix += _ALPHABET[index]
    return template.name.removesuffix("*")[:_MAX_PREFIX] + suffix


def hook_key(owner: Owner, template: ObjectRef) -> str:
    """A label value naming one hook of one Sync (its kind, namespace and name or prefix)."""
    seed = "\0".join(_identity(owner, template))
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _identity(owner: Owner, template: ObjectRef) -> tuple[str, ...]:
    return (
        owner.namespace,
        owner.name,
        template.group,
        template.kind,
        template.namespace,
        template.name,
    )


async def _namespaced(
    kube: Kube, api_version: str, ref: ObjectRef, crd_scopes: dict[tuple[str, str], bool]
) -> bool:
    try:
        return (await kube.resource_for(api_version, ref.kind)).namespaced
    except UnknownKindError:
        if (ref.group, ref.kind) in crd_scopes:
            return crd_scopes[(ref.group, ref.kind)]
        raise


def _duplicates(desired: list[Desired], failures: list[ObjectFailure]) -> None:
    # targetNamespace can make two different manifests the same object; render cannot see that.
    seen: dict[ObjectRef, Desired] = {}
    for d in list(desired):
        if d.ref.name.endswith("*"):
            continue  # a hook named by the server when it runs: distinct however alike
        first = seen.setdefault(d.ref, d)
        if first is not d:
            failures.append(
                ObjectFailure(
                    d.ref,
                    f"defined twice: in {first.manifest.where} and in {d.manifest.where}",
                    where=d.manifest.where,
                )
            )
            desired.remove(d)


def _string_data_as_data(secret: dict[str, Any]) -> None:
    """A Secret's `stringData` written as the `data` the API server turns it into (stringData
    wins over data): the server never returns stringData, so only `data` can be compared with
    the live Secret, and a hand-edited value is seen as drift."""
    strings = secret.pop("stringData", None)
    if not isinstance(strings, dict) or not strings:
        return
    data = dict(secret.get("data") or {})
    for key, value in strings.items():
        data[str(key)] = base64.b64encode(str(value).encode()).decode()
    secret["data"] = data
