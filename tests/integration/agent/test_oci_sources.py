"""Manifests published as OCI artifacts: an OCISource follows a semver range in the real
registry (docker-registry, TLS, htpasswd; artifacts pushed through the Distribution API as
`flux push artifact` lays them out), a Sync renders its path like a Git tree, upgrades when a
newer artifact is pushed, keeps running it when a later one is refused, and (atomic) rolls back
to it when a later one never gets healthy."""

from __future__ import annotations

import secrets
import tarfile

import pytest

from gitmoor.ledger import Ledger
from gitmoor.reconcile import conditions as cond
from testenv.ociartifact import tar_gz_with
from testenv.registry import Registry
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import UNSCHEDULABLE, deployment

pytestmark = [pytest.mark.cluster]

CM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {version: "%s"}
"""


async def test_a_sync_renders_an_artifact_follows_new_ones_and_keeps_the_last_good_one(
    harness: AgentHarness, oci_registry: Registry
) -> None:
    h, registry = harness, oci_registry
    repo = f"manifests/apps{secrets.token_hex(4)}"
    pusher = registry.artifacts()

    def files(version: str, pod: str = "") -> dict[str, str]:
        web = deployment("web", h.namespace, image=f"nginx:{version}", extra_spec=pod)
        return {"deploy/cm.yaml": CM % version, "deploy/web.yaml": web}

    pusher.push(repo, "1.0.0", {**files("1.0.0"), "README.md": "not in path"})
    pusher.push(repo, "2.0.0", files("2.0.0"))  # out of range
    await h.secret(
        "registry-auth",
        {
            "username": registry.username,
            "password": registry.password,
            "ca.crt": registry.ca_path.read_text(),
        },
    )
    await h.kube.apply(
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "OCISource",
            "metadata": {"name": "apps", "namespace": h.namespace},
            "spec": {
                "url": f"oci://{registry.host}/{repo}",
                "ref": {"semver": "1.x"},
                "interval": "2s",
                "secretRef": {"name": "registry-auth"},
            },
        },
        field_manager="gitmoor-tests",
    )
    await h.sync(
        "apps",
        "apps",
        "deploy",
        sourceRef={"kind": "OCISource", "name": "apps"},
        targetNamespace=h.namespace,
        atomic=True,
        timeout="8s",
    )

    def at(version: str):
        def accept(o: dict) -> bool:
            applied = str((o.get("status") or {}).get("lastAppliedRevision", ""))
            return (
                applied.startswith(f"{version}@sha256:")
                and cond.is_true(o, cond.READY)
                and cond.is_true(o, cond.HEALTHY)
            )

        return accept

    sync = await h.wait_for("Sync", "apps", at("1.0.0"), what="Sync apps at 1.0.0")
    source = await h.get("OCISource", "apps")
    assert source is not None
    assert cond.is_true(source, cond.READY)
    artifact = source["status"]["artifact"]
    assert artifact["revision"] == sync["status"]["lastAppliedRevision"]
    assert artifact["url"] == f"oci://{registry.host}/{repo}"
    live = await h.wait_for_object("v1", "ConfigMap", "settings", lambda o: True)
    assert live["data"] == {"version": "1.0.0"}

    # A newer artifact in range: the Sync moves on the next check.
    newer = pusher.push(repo, "1.1.0", files("1.1.0"))
    upgraded = await h.wait_for("Sync", "apps", at("1.1.0"), what="Sync apps at 1.1.0")
    live = await h.wait_for_object(
        "v1", "ConfigMap", "settings", lambda o: o["data"]["version"] == "1.1.0"
    )
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="apps", namespace=h.namespace)
    assert f"1.1.0@{newer}" in [r.revision for r in records]

    # An unsafe one is refused by name; the Sync keeps running 1.1.0.
    link = tarfile.TarInfo("deploy/cm.yaml")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    pusher.push(repo, "1.2.0", layer=tar_gz_with([link], {}))
    refused = await h.wait_condition(
        "OCISource", "apps", cond.READY, "False", reason="InvalidArtifact"
    )
    message = cond.get_condition(refused, cond.READY)["message"]  # type: ignore[index]
    assert "entry 'deploy/cm.yaml' is a link: refused" in message
    assert refused["status"]["artifact"]["revision"] == f"1.1.0@{newer}"
    sync = await h.get("Sync", "apps")
    assert sync is not None
    assert at("1.1.0")(sync)

    # One that never gets healthy is applied, then 1.1.0 is restored.
    pusher.push(repo, "1.3.0", files("1.3.0", UNSCHEDULABLE))
    sync = await h.wait_rolled_back("apps", upgraded["status"]["lastAppliedRevision"])
    assert sync["status"]["lastFailedRevision"].startswith("1.3.0@sha256:")
    web = await h.wait_available("web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.1.0"
    live = await h.wait_for_object("v1", "ConfigMap", "settings", lambda o: True)
    assert live["data"] == {"version": "1.1.0"}
