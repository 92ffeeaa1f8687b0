"""Which objects of a new revision the plan carries over from the last apply unasked."""

from __future__ import annotations

from typing import Any

from gitmoor.model import Action, Applied, Manifest, ObjectRef
from gitmoor.plan import Desired, carried_over


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns"},
        "data": data,
    }


def _desired(obj: dict[str, Any]) -> Desired:
    return Desired(Manifest(obj, "x.yaml"), obj, "order-0", 0)


def test_an_object_sent_alike_is_carried_over_with_what_was_applied() -> None:
    same, changed, new = _cm("same", v="1"), _cm("changed", v="2"), _cm("new", v="1")
    known = {
        ObjectRef.from_object(same): Applied.of("v1", _cm("same", v="1"), {"data": {"v": "1"}}),
        ObjectRef.from_object(changed): Applied.of("v1", _cm("changed", v="1"), {}),
    }
    carried, check = carried_over([_desired(o) for o in (same, changed, new)], known)
    assert [p.ref.name for p in carried] == ["same"]
    assert carried[0].action is Action.UNCHANGED
    assert carried[0].applied is known[ObjectRef.from_object(same)]
    assert [d.ref.name for d in check] == ["changed", "new"]


def test_key_order_does_not_make_a_manifest_different() -> None:
    obj = _cm("a", x="1", y="2")
    reordered = {"data": {"y": "2", "x": "1"}, "kind": "ConfigMap", "apiVersion": "v1"}
    reordered["metadata"] = {"namespace": "ns", "name": "a"}
    known = {ObjectRef.from_object(obj): Applied.of("v1", obj, {})}
    carried, check = carried_over([_desired(reordered)], known)
    assert len(carried) == 1
    assert check == []


def test_another_api_version_of_the_same_object_is_checked() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}
    old = {**obj, "apiVersion": "apps/v1beta2"}
    known = {ObjectRef.from_object(obj): Applied.of("apps/v1beta2", old, {})}
    carried, check = carried_over([_desired(obj)], known)
    assert carried == []
    assert len(check) == 1


def test_applied_round_trips_and_knows_when_drift_is_ignored() -> None:
    applied = Applied.of("v1", _cm("a", v="1"), {"data": {"v": "1"}})
    assert applied.desired() == _cm("a", v="1")
    assert applied.baseline_object() == {"data": {"v": "1"}}
    assert not applied.ignore_drift
    ignored = _cm("b", v="1")
    ignored["metadata"]["annotations"] = {"gitmoor.io/drift": "ignore"}
    assert Applied.of("v1", ignored, {}).ignore_drift
