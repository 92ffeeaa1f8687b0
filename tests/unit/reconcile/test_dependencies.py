from __future__ import annotations

from typing import Any

from gitmoor.model.resources import Sync
from gitmoor.reconcile.dependencies import blocked


def _sync(name: str, deps: list[str], *, ready: bool | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"sourceRef": {"name": "repo"}, "dependsOn": [{"name": d} for d in deps]},
    }
    if ready is not None:
        obj["status"] = {
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "x",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    return obj


def _all(*objs: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {("ns", o["metadata"]["name"]): o for o in objs}


def test_a_sync_waits_for_a_missing_or_unready_dependency_and_runs_once_it_is_ready() -> None:
    app = _sync("app", ["infra"])
    missing = blocked(Sync.model_validate(app), _all(app))
    assert missing is not None
    assert missing.reason == "DependencyNotReady"
    assert "not found" in missing.message
    infra = _sync("infra", [], ready=False)
    waiting = blocked(Sync.model_validate(app), _all(app, infra))
    assert waiting is not None
    assert "is not ready" in waiting.message
    assert not waiting.stalled
    assert blocked(Sync.model_validate(app), _all(app, _sync("infra", [], ready=True))) is None


def test_a_cycle_stalls_every_sync_in_it() -> None:
    a, b = _sync("a", ["b"]), _sync("b", ["a"])
    found = blocked(Sync.model_validate(a), _all(a, b))
    assert found is not None
    assert found.stalled
    assert found.message == "dependsOn forms a cycle: ns/a -> ns/b -> ns/a"
