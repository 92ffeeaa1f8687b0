"""`where IMAGE -o json|yaml`: each deployment carries the trail of the update commits its Sync
applied (pushed, committed by which automation and commit, applied in every environment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitmoor.ledger.deployments import Deployment
from gitmoor.ledger.trail import Applied, ImageTrail, trail_from_dict, with_trail
from gitmoor.model.images import ImageUpdate

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def deployment(env: str, sync: str = "web", cluster: str = "c1") -> Deployment:
    return Deployment(
        environment=env,
        cluster=cluster,
        sync_namespace=env,
        sync_name=sync,
        revision="main@sha1:" + "a" * 40,
        commit_sha="a" * 40,
        since=T0,
        deployed_at=T0,
        record_id=1,
        images=("reg.example/web:1.1.0",),
    )


def trail(commit: str, *applied_in: str) -> ImageTrail:
    update = ImageUpdate(
        automation_namespace="flux",
        automation_name="bot",
        policy="flux/web",
        image="reg.example/web",
        old_tag="1.0.0",
        new_tag="1.1.0",
        digest="sha256:" + "d" * 64,
        pushed_at=T0 - timedelta(hours=1),
        source_url="https://git.example/cfg.git",
        branch="main",
        commit=commit,
        committed_at=T0,
        file="deploy/web.yaml:16",
    )
    applied = tuple(
        Applied(env, "c1", env, "web", T0 + timedelta(minutes=i + 1), 10 + i)
        for i, env in enumerate(applied_in)
    )
    return ImageTrail(update, applied)


CASES = [
    # (deployments, trails, commits of each deployment's image_updates)
    pytest.param(["prod"], [], [[]], id="no update commit: an empty trail, the same list shape"),
    pytest.param(["prod"], [("c1", ["prod"])], [["c1"]], id="the commit its sync applied"),
    pytest.param(
        ["prod", "staging"],
        [("c2", ["staging"]), ("c1", ["prod", "staging"])],
        [["c1"], ["c2", "c1"]],
        id="each deployment the commits its own sync applied, newest first",
    ),
    pytest.param(["prod"], [("c1", [])], [[]], id="a commit applied nowhere yet is no one's"),
]


@pytest.mark.parametrize(("envs", "trails", "expected"), CASES)
def test_each_deployment_carries_the_update_commits_its_sync_applied(
    envs: list[str], trails: list[tuple[str, list[str]]], expected: list[list[str]]
) -> None:
    shown = with_trail([deployment(e) for e in envs], [trail(c, *a) for c, a in trails])
    assert [[u["commit"] for u in d["image_updates"]] for d in shown] == expected
    assert [d["environment"] for d in shown] == envs


def test_another_cluster_of_the_same_sync_name_is_not_matched() -> None:
    (shown,) = with_trail([deployment("prod", cluster="c2")], [trail("c1", "prod")])
    assert shown["image_updates"] == []


def test_the_trail_says_pushed_committed_by_whom_and_applied_where() -> None:
    (shown,) = with_trail([deployment("prod")], [trail("c1", "staging", "prod")])
    (update,) = shown["image_updates"]
    assert update["pushed_at"] == (T0 - timedelta(hours=1)).isoformat()
    assert (update["automation"], update["commit"], update["committed_at"]) == (
        "flux/bot",
        "c1",
        T0.isoformat(),
    )
    assert [(a["environment"], a["sync"]) for a in update["applied"]] == [
        ("staging", "staging/web"),
        ("prod", "prod/web"),
    ]
    # What scripts read back is what the ledger holds.
    assert trail_from_dict(update) == trail("c1", "staging", "prod")
