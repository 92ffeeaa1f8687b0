"""`gitmoor validate` checks the trust-boundary fields offline, with the models the agent loads
them with: a Sync's decryption and serviceAccountName, a source's accessFrom."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.validate.resources import model_findings


def sync(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"sourceRef": {"name": "repo"}, "path": "apps/app", **spec},
    }


def source(kind: str = "GitSource", **spec: Any) -> dict[str, Any]:
    base = {
        "GitSource": {"url": "https://git.example.com/repo.git"},
        "ChartSource": {"url": "https://charts.example.com", "chart": "web", "version": "1.0.0"},
    }[kind]
    return {
        "apiVersion": "gitmoor.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "repo", "namespace": "platform"},
        "spec": {**base, **spec},
    }


CASES = [
    pytest.param(
        sync(decryption={"provider": "sops", "secretRef": {"name": "sops-keys"}}),
        [],
        id="decryption: sops with a key Secret",
    ),
    pytest.param(
        sync(decryption={"secretRef": {"name": "sops-keys"}}), [], id="decryption: sops default"
    ),
    pytest.param(
        sync(decryption={"provider": "vault", "secretRef": {"name": "k"}}),
        ["spec.decryption.provider"],
        id="decryption: an unknown provider",
    ),
    pytest.param(
        sync(decryption={"provider": "sops"}),
        ["spec.decryption.secretRef"],
        id="decryption: no key Secret",
    ),
    pytest.param(
        sync(decryption={"provider": "sops", "secretRef": {"name": "Keys_1"}}),
        ["spec.decryption.secretRef.name"],
        id="decryption: a Secret name Kubernetes refuses",
    ),
    pytest.param(sync(serviceAccountName="deployer"), [], id="serviceAccountName"),
    pytest.param(
        sync(serviceAccountName="Deployer_1"),
        ["spec.serviceAccountName"],
        id="serviceAccountName: not a DNS name",
    ),
    pytest.param(
        sync(serviceAccountName=["deployer"]),
        ["spec.serviceAccountName"],
        id="serviceAccountName: not a string",
    ),
    pytest.param(source(accessFrom=["team-a", "team-b"]), [], id="accessFrom"),
    pytest.param(
        source(accessFrom=["team-a", "Team_B"]),
        ["spec.accessFrom[1]"],
        id="accessFrom: a namespace name Kubernetes refuses",
    ),
    pytest.param(source(accessFrom="team-a"), ["spec.accessFrom"], id="accessFrom: not a list"),
    pytest.param(
        source("ChartSource", accessFrom=["-x"]),
        ["spec.accessFrom[0]"],
        id="accessFrom of a ChartSource",
    ),
]


@pytest.mark.parametrize(("document", "fields"), CASES)
def test_trust_fields_are_checked_where_they_are_written(
    document: dict[str, Any], fields: list[str]
) -> None:
    findings, resource = model_findings(document)

    assert [field(path) for path, _ in findings] == fields
    assert (resource is None) == bool(fields)


def field(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
