"""What the Reconciling condition says while a health gate waits."""

from __future__ import annotations

from gitmoor.model import Health, ObjectRef, Status, Verdict
from gitmoor.reconcile.status import waiting_for


def health(name: str, status: Status, message: str = "") -> Health:
    return Health(ObjectRef("apps", "Deployment", "shop", name), status, message)


def test_the_objects_still_awaited_come_first_with_their_state() -> None:
    verdict = Verdict(
        healthy=False,
        timed_out=False,
        objects=(
            health("api", Status.CURRENT),
            health("web", Status.IN_PROGRESS, "1/3 replicas ready"),
            health("cron", Status.NOT_FOUND),
        ),
    )
    assert waiting_for(verdict) == (
        "waiting for 2 of 3 objects: Deployment/shop/web (InProgress: 1/3 replicas ready); "
        "Deployment/shop/cron (NotFound)"
    )


def test_a_long_wait_names_a_few_and_counts_the_rest() -> None:
    objects = tuple(health(f"w{i}", Status.IN_PROGRESS) for i in range(7))
    text = waiting_for(Verdict(healthy=False, timed_out=False, objects=objects), shown=2)
    assert text.startswith("waiting for 7 of 7 objects: Deployment/shop/w0 (InProgress); ")
    assert text.endswith("; and 5 more")
