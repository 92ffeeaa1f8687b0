"""Who a Sync acts as, and which sources it may read: the rules that keep a tenant inside what
its own RBAC grants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitmoor.errors import CrossNamespaceRefError
from gitmoor.model.resources import Sync


@dataclass(frozen=True)
class Tenancy:
    # Impersonated by Syncs that name no serviceAccountName (None: the agent's own identity).
    default_service_account: str | None = None
    # False: a Sync may use a GitSource of another namespace only if that one lists it.
    cross_namespace_refs: bool = True

    def user_for(self, sync: Sync) -> str | None:
        """The user every write and read of `sync`'s objects acts as, or None for the agent."""
        name = sync.spec.service_account_name or self.default_service_account
        if not name:
            return None
        return f"system:serviceaccount:{sync.metadata.namespace}:{name}"

    def source_refused(self, sync: Sync, source: dict[str, Any]) -> CrossNamespaceRefError | None:
        """Why `sync` may not use `source` (a GitSource or ChartSource as the API server
        returns it), or None."""
        return self.ref_refused(sync.metadata.namespace, source)

    def ref_refused(self, own: str, source: dict[str, Any]) -> CrossNamespaceRefError | None:
        """Why an object of namespace `own` may not use `source` (a GitSource, ChartSource or
        ImageRepository as the API server returns it), or None."""
        theirs = str(source["metadata"].get("namespace", ""))
        if self.cross_namespace_refs or theirs == own:
            return None
        granted = (source.get("spec") or {}).get("accessFrom") or []
        if own in granted:
            return None
        name = source["metadata"]["name"]
        return CrossNamespaceRefError(
            f"{source.get('kind') or 'GitSource'} {theirs}/{name} is in another namespace and "
            f"does not list {own!r} in spec.accessFrom; this agent refuses cross-namespace "
            "references"
        )
