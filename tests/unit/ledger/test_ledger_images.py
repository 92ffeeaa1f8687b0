"""Container images found in rendered objects: what `where IMAGE` answers from."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.model.record import images_in, images_of


def pod_spec(*images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()) -> dict:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": im} for i, im in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [
            {"name": f"e{i}", "image": im} for i, im in enumerate(ephemeral)
        ]
    return spec


def workload(kind: str, spec: dict, api_version: str = "apps/v1") -> dict:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "w", "namespace": "n"},
        "spec": {"replicas": 1, "template": {"metadata": {}, "spec": spec}},
    }


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [
        ("Deployment", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("ReplicaSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("ReplicationController", "v1"),
        ("Rollout", "argoproj.io/v1alpha1"),  # any kind with a pod template
    ],
)
def test_workloads_with_a_pod_template_give_their_images(kind: str, api_version: str) -> None:
    obj = workload(kind, pod_spec("ghcr.io/acme/web:1.4.2", "nginx:1.27"), api_version)
    assert images_of(obj) == ["ghcr.io/acme/web:1.4.2", "nginx:1.27"]


def test_init_and_ephemeral_containers_count_after_the_main_ones() -> None:
    spec = pod_spec("app:2", init=("migrate:2",), ephemeral=("busybox:1.36",))
    assert images_of(workload("Deployment", spec)) == ["app:2", "migrate:2", "busybox:1.36"]


def test_a_cronjob_gives_the_images_of_its_job_template() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": pod_spec("backup:7", init=("prep:1",))}}},
        },
    }
    assert images_of(cron) == ["backup:7", "prep:1"]


def test_a_bare_pod_gives_its_images() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec("a:1")}
    assert images_of(pod) == ["a:1"]


def test_a_pod_template_object_gives_its_images() -> None:
    template = {"apiVersion": "v1", "kind": "PodTemplate", "template": {"spec": pod_spec("t:1")}}
    assert images_of(template) == ["t:1"]


def test_an_image_used_twice_is_listed_once_and_blank_or_odd_entries_are_skipped() -> None:
    spec = pod_spec("a:1", "a:1", " ", init=("a:1",))
    spec["containers"].append({"name": "no-image"})
    spec["containers"].append("not-a-container")
    assert images_of(workload("Deployment", spec)) == ["a:1"]


def test_objects_without_pods_and_secrets_give_nothing() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"image": "aHVudGVyMg=="},
        "stringData": {"spec": "containers"},
    }
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "nginx:1"}}
    service = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}
    # A Pod-shaped spec on something that is not a Pod is not a pod spec.
    odd = {"apiVersion": "x/v1", "kind": "Thing", "spec": pod_spec("nope:1")}
    for obj in (secret, config, service, odd):
        assert images_of(obj) == []


def test_images_in_gives_every_image_of_a_revision_sorted_once() -> None:
    objects = [
        workload("Deployment", pod_spec("web:2", "sidecar:1")),
        workload("StatefulSet", pod_spec("db:15", "sidecar:1")),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {}},
    ]
    assert images_in(objects) == ("db:15", "sidecar:1", "web:2")
