"""What prune must not delete even though the Sync owns it: a CustomResourceDefinition whose
custom resources belong to someone else, or a Namespace that holds someone else's objects.
Deleting either would take those along, which is how one commit or one delete wipes a cluster.
"""

from __future__ import annotations

from typing import Any

from gitmoor.errors import GitmoorError, KubeApiError, UnknownKindError
from gitmoor.kube import Kube
from gitmoor.model.labels import owned_by

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
NAMESPACE = ("", "Namespace")
_SHOWN = 3  # objects named in a message; the rest are counted

# Objects the control plane puts into every namespace, and records about objects: none of them
# is anybody's application.
_AUTOMATIC = {
    ("v1", "ServiceAccount", "default"),
    ("v1", "ConfigMap", "kube-root-ca.crt"),
}
_RECORDS = {("v1", "Event"), ("events.k8s.io/v1", "Event")}


def foreign(obj: dict[str, Any], owner_name: str, owner_namespace: str) -> bool:
    """Whether `obj` is someone else's: not this Sync's, not made by a controller for another
    object (those go with their owner), and not one of a namespace's automatic objects."""
    meta = obj.get("metadata") or {}
    if owned_by(obj, owner_name, owner_namespace) or meta.get("ownerReferences"):
        return False
    return (str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("name")) not in _AUTOMATIC


async def crd_in_use(kube: Kube, crd: dict[str, Any], owner_name: str, owner_namespace: str) -> str:
    """Why the CRD must stay (its custom resources that are not this Sync's), or ''."""
    spec = crd.get("spec") or {}
    versions = [v for v in spec.get("versions") or [] if v.get("served")]
    if not versions:
        return ""
    api_version = f"{spec.get('group')}/{versions[0].get('name')}"
    kind = str((spec.get("names") or {}).get("kind", ""))
    try:
        items = await kube.list(api_version, kind, "")
    except UnknownKindError:
        return ""
    except GitmoorError as err:
        # Not allowed to look (a tenant's identity), or the server failed: keep it.
        return f"cannot tell whether others use it: {err}"
    others = [{**i, "kind": kind} for i in items if not owned_by(i, owner_name, owner_namespace)]
    if not others:
        return ""
    return f"{len(others)} {kind} object(s) not managed by this Sync still exist: {_names(others)}"


async def namespace_in_use(
    kube: Kube, namespace: str, owner_name: str, owner_namespace: str
) -> str:
    """Why the Namespace must stay (objects in it that are not this Sync's), or ''."""
    found: list[dict[str, Any]] = []
    try:
        kinds = await kube.namespaced_kinds()
    except GitmoorError as err:
        return f"cannot tell whether others use it: {err}"
    for api_version, kind in kinds:
        if (api_version, kind) in _RECORDS:
            continue
        try:
            items = await kube.list(api_version, kind, namespace)
        except KubeApiError as err:
            if err.status == 403:
                return f"cannot tell whether others use it: {err}"
            continue  # an aggregated API that is down holds nothing a deletion would take
        except GitmoorError:
            continue  # the kind went away meanwhile
        found.extend(
            {**i, "apiVersion": api_version, "kind": kind}
            for i in items
            if foreign({**i, "apiVersion": api_version, "kind": kind}, owner_name, owner_namespace)
        )
    if not found:
        return ""
    return f"it holds {len(found)} object(s) not managed by this Sync: {_names(found)}"


def _names(items: list[dict[str, Any]]) -> str:
    shown = []
    for item in items[:_SHOWN]:
        meta = item.get("metadata") or {}
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        shown.append(f"{item.get('kind', '')}/{where}{meta.get('name', '')}")
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(shown) + more
