"""`spec.createNamespace`: the namespace a Sync deploys into, created when it is missing.

It is labelled as the Sync's, but it is not part of the revision: it never enters the
inventory, so neither prune nor deleting the Sync ever deletes it (as Argo CD leaves the
namespaces its CreateNamespace made). A namespace the revision declares itself is the
revision's: created, pruned and kept like any other object, and not created here.
"""

from __future__ import annotations

from gitmoor.errors import DryRunError, KubeApiError, ObjectFailure, TransientError
from gitmoor.kube import Kube
from gitmoor.model import Action, ObjectChange, ObjectRef, labels

CREATED_FOR = "created for spec.createNamespace"


def namespace_to_create(
    target_namespace: str | None, helm_namespace: str | None, declared: set[str]
) -> str | None:
    """The namespace `createNamespace` is about: the Sync's targetNamespace, else its Helm
    release namespace; None when there is none or the revision declares it."""
    name = target_namespace or helm_namespace
    return None if not name or name in declared else name


async def create_namespace(
    kube: Kube, name: str, *, owner_name: str, owner_namespace: str
) -> ObjectChange | None:
    """Create Namespace `name`, labelled as the Sync's, unless it exists (whoever made it: it
    is left as it is). Returns the change, None when it existed. A refusal (a tenant's
    ServiceAccount may not create namespaces) raises DryRunError naming the namespace: nothing
    else is written."""
    ref = ObjectRef("", "Namespace", "", name)
    try:
        try:
            if await kube.get("v1", "Namespace", name) is not None:
                return None
        except KubeApiError as err:
            if err.status != 403:
                raise
            # May not read namespaces: creating tells whether it exists (409) or may be made.
        created = await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        labels.SYNC_NAME: owner_name,
                        labels.SYNC_NAMESPACE: owner_namespace,
                    },
                },
            }
        )
    except KubeApiError as err:
        if err.status == 409:
            return None  # created meanwhile, by someone else
        if isinstance(err, TransientError):
            raise
        message = f"could not create it for spec.createNamespace: {err.detail}"
        raise DryRunError([ObjectFailure(ref, message, error=err)]) from err
    version = (created.get("metadata") or {}).get("resourceVersion")
    return ObjectChange(
        ref, "v1", Action.CREATED, str(version) if version else None, message=CREATED_FOR
    )
