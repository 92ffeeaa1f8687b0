"""`Ledger.last_change`: the attempt that last created or configured one object of a Sync (what
`gitmoor trace` shows), on both backends."""

from __future__ import annotations

from dataclasses import replace

from gitmoor.ledger import Ledger
from gitmoor.model import Action, ObjectRef
from tests.integration.ledger.scenario import (
    applied,
    attempt,
    deployment_objects,
    record,
    rev,
)

WEB = ObjectRef("apps", "Deployment", "team", "web-0")
SETTINGS = ObjectRef("", "ConfigMap", "team", "web-1")
SERVICE = ObjectRef("", "Service", "team", "web-2")


async def test_the_last_attempt_that_wrote_the_object_and_what_it_did(ledger: Ledger) -> None:
    # v1 creates the Deployment, configures the ConfigMap, leaves the Service unchanged.
    await record(ledger, applied(attempt("v1", 0)))
    # v2 configures the Deployment only.
    v2 = applied(attempt("v2", 60))
    objects = deployment_objects("team", Action.CONFIGURED, Action.UNCHANGED, Action.UNCHANGED)
    await record(ledger, replace(v2, objects=objects))
    # Another Sync writing an object of the same name is not this Sync's change.
    other = applied(attempt("v3", 90, sync="api"))
    await record(ledger, other)

    found = await ledger.last_change(WEB, sync_namespace="team", sync_name="web")
    assert found is not None
    change, action = found
    assert (change.revision, action) == (rev("v2"), Action.CONFIGURED)
    assert change.commit_message == "release v2"
    assert change.id is not None

    found = await ledger.last_change(SETTINGS, sync_namespace="team", sync_name="web")
    assert found is not None
    assert (found[0].revision, found[1]) == (rev("v1"), Action.CONFIGURED)

    assert await ledger.last_change(SERVICE, sync_namespace="team", sync_name="web") is None
    assert await ledger.last_change(WEB, sync_namespace="other", sync_name="web") is None
    found = await ledger.last_change(WEB, sync_namespace="team", sync_name="api")
    assert found is not None
    assert found[0].revision == rev("v3")
