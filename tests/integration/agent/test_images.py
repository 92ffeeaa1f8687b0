"""Image update automation on real parts: images pushed to Debian's docker-registry (TLS,
htpasswd) through the Distribution API, the config repository on the test Git servers (HTTPS
and SSH), commits signed and checked with `git verify-commit`, the Sync applying the commit to
the real control plane, and the ledger linking push, commit and deployment."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml

from gitmoor.ledger import Ledger
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import conditions as cond
from testenv.gitserver import GitServers, Repo, Worktree
from testenv.images import ImagePusher, protect_branch
from testenv.ports import free_port
from testenv.registry import Registry
from testenv.signing import openpgp_signer
from testenv.throttle import ThrottlingProxy
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness, Obj
from tests.integration.gitmoor_process import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

DEPLOYMENT = """\
# The web front end: its image follows the policy below.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep this comment
  namespace: {ns}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: main
          image: {image}:1.0.0 # {{"$imagepolicy": "{ns}:web"}}
          args: ["--port",   "8080"]
"""


async def _apply(h: AgentHarness, kind: str, name: str, spec: dict[str, object]) -> Obj:
    return await h.kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": h.namespace},
            "spec": spec,
        },
        field_manager="gitmoor-tests",
    )


async def _registry_secrets(h: AgentHarness, registry: Registry) -> None:
    auths = {
        "auths": {registry.host: {"username": registry.username, "password": registry.password}}
    }
    await h.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry-auth", "namespace": h.namespace},
            "stringData": {".dockerconfigjson": json.dumps(auths)},
        },
        field_manager="gitmoor-tests",
    )
    await h.secret("registry-ca", {"ca.crt": registry.ca_path.read_text()})


async def _image_chain(
    h: AgentHarness, registry: Registry, image: str, *, interval: str = "2s"
) -> None:
    await _registry_secrets(h, registry)
    await _apply(
        h,
        "ImageRepository",
        "web",
        {
            "image": image,
            "interval": interval,
            "secretRef": {"name": "registry-auth"},
            "certSecretRef": {"name": "registry-ca"},
        },
    )
    await _apply(
        h,
        "ImagePolicy",
        "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": "^1.0.0"}}},
    )


def _automation(push: str = "main", **commit: object) -> dict[str, object]:
    return {
        "sourceRef": {"name": "config"},
        "interval": "2s",
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "push": {"branch": push},
            "commit": {"author": {"name": "Image Bot", "email": "bot@example.test"}, **commit},
        },
        "update": {"path": "./deploy"},
    }


async def _event(h: AgentHarness, kind: str, name: str, reason: str, words: str) -> None:
    """An Event of `reason` mentioning `words` was recorded (Events follow the status write)."""

    async def probe() -> list[Obj]:
        return await h.events(kind, name)

    await eventually(
        probe,
        lambda events: any(e["reason"] == reason and words in e["message"] for e in events),
        within=30,
        what=f"a {reason} Event of {kind} {name}",
    )


def _clone(servers: GitServers, repo: Repo, into: Path) -> Worktree:
    return Worktree.clone(repo.https_url, into, env=servers.https_env())


async def test_a_pushed_tag_becomes_a_signed_commit_that_the_sync_applies_and_the_ledger_links(
    harness: AgentHarness,
    git_servers: GitServers,
    oci_registry: Registry,
    tmp_path: Path,
) -> None:
    h, ns = harness, harness.namespace
    pusher = ImagePusher(oci_registry)
    repository = f"team/web-{secrets.token_hex(4)}"
    image = f"{oci_registry.host}/{repository}"
    pusher.push(repository, "1.0.0", created=datetime.now(UTC) - timedelta(hours=2))
    pusher.push(repository, "not-semver", created=datetime.now(UTC) - timedelta(hours=2))

    repo, tree = h.repo(git_servers, f"cfg-{secrets.token_hex(4)}")
    original = DEPLOYMENT.format(ns=ns, image=image)
    first = tree.commit("web", {"deploy/web.yaml": original, "README.md": "config\n"})
    tree.push()
    await h.https_secret(git_servers, "git-auth")
    await h.source("config", repo.https_url, ref={"branch": "main"}, secretRef={"name": "git-auth"})
    await h.sync("web", "config", "./deploy")
    await h.wait_applied("web", first)

    signer = openpgp_signer(tmp_path / "signer", "Image Bot", "bot@example.test")
    try:
        exported = await asyncio.to_thread(
            subprocess.run,
            ["gpg", "--batch", "--export-secret-keys", "--armor", signer.fingerprint],
            env={**os.environ, **signer.env},
            capture_output=True,
            check=True,
        )
        private = exported.stdout.decode()
        await h.secret("signing", {"git.asc": private})
        await _image_chain(h, oci_registry, image)
        await _apply(
            h,
            "ImageUpdateAutomation",
            "web",
            _automation(signingKey={"secretRef": {"name": "signing"}}),
        )
        policy = await h.wait_for(
            "ImagePolicy",
            "web",
            lambda o: ((o.get("status") or {}).get("latestRef") or {}).get("tag") == "1.0.0",
        )
        assert policy["status"]["latestRef"]["digest"].startswith("sha256:")
        scanned = await h.get("ImageRepository", "web")
        assert scanned is not None
        assert scanned["status"]["lastScanResult"]["tagCount"] == 2
        # Nothing to change: no commit.
        automation = await h.wait_for(
            "ImageUpdateAutomation", "web", lambda o: cond.is_true(o, cond.READY)
        )
        assert "lastPushCommit" not in automation["status"]

        before_update = datetime.now(UTC)
        built = before_update.replace(microsecond=0) - timedelta(hours=1)
        pushed = pusher.push(repository, "1.1.0", created=built)
        automation = await h.wait_for(
            "ImageUpdateAutomation",
            "web",
            lambda o: bool((o.get("status") or {}).get("lastPushCommit")),
            what="the update commit",
        )
        commit = automation["status"]["lastPushCommit"]

        check = _clone(git_servers, repo, tmp_path / "check")
        assert check.head() == commit
        assert check.rev_parse("HEAD~1") == first  # one commit for one update
        # Only the marked scalar changed, byte for byte.
        written = (tmp_path / "check" / "deploy" / "web.yaml").read_text()
        assert written == original.replace(f"{image}:1.0.0 #", f"{image}:1.1.0 #")
        verify_env = {**os.environ, **signer.env}
        result = await asyncio.to_thread(
            subprocess.run,
            ["git", "verify-commit", "--raw", commit],
            cwd=tmp_path / "check",
            env=verify_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert f"VALIDSIG {signer.fingerprint}" in result.stderr
        author = check.git("log", "-1", "--format=%an <%ae>", commit).stdout.strip()
        assert author == "Image Bot <bot@example.test>"
    finally:
        signer.stop()

    await h.wait_applied("web", commit)
    live = await h.wait_for_object("apps/v1", "Deployment", "web", lambda o: True)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image}:1.1.0"
    policy = await h.get("ImagePolicy", "web")
    assert policy is not None
    assert policy["status"]["latestRef"]["digest"] == pushed.digest
    assert policy["status"]["observedPreviousRef"]["tag"] == "1.0.0"

    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        (trail,) = await ledger.image_trail(f"{image}:1.1.0")
        assert trail.update.commit == commit
        assert trail.update.pushed_at == built
        assert (trail.update.old_tag, trail.update.new_tag) == ("1.0.0", "1.1.0")
        assert trail.update.digest == pushed.digest
        assert [(a.sync_namespace, a.sync_name) for a in trail.applied] == [(ns, "web")]
        assert trail.applied[0].applied_at >= trail.update.committed_at
        figures = await ledger.dora(since=before_update)
        # One deployment: the update's, whose lead time starts at the image's push, an hour
        # before the automation's commit (from the commit it would be seconds).
        assert figures.deployments == 1
        assert figures.lead_time_median is not None
        assert timedelta(hours=1) <= figures.lead_time_median < timedelta(hours=1, minutes=5)
        # The agent sealed the update row into its cluster's audit chain.
        statuses = await ledger.verify()
        assert all(s.ok for s in statuses), statuses
        assert sum(s.image_updates for s in statuses) == 1

    # `gitmoor where IMAGE`: pushed, committed, applied; `gitmoor images`: the whole chain.
    code, out, err = await gitmoor(
        "where", f"{image}:1.1.0", "--ledger", h.ledger_url, kubeconfig=h.kubeconfig
    )
    assert code == 0, err
    trail_lines = out.split("\n\n", 1)[1].splitlines()
    assert trail_lines[0].split() == ["IMAGE", "PUSHED", "COMMITTED", "COMMIT", "APPLIED"]
    assert trail_lines[1].startswith(f"{image}:1.1.0")
    assert commit[:10] in trail_lines[1]
    assert built.strftime("%Y-%m-%d %H:%M") in trail_lines[1]
    # The same trail for scripts: on the deployment whose Sync applied the update commit.
    code, out, err = await gitmoor(
        "where", f"{image}:1.1.0", "--ledger", h.ledger_url, "-o", "json", kubeconfig=h.kubeconfig
    )
    assert code == 0, err
    (deployed,) = json.loads(out)
    (update,) = deployed["image_updates"]
    assert (update["commit"], update["automation"], update["policy"]) == (
        commit,
        f"{ns}/web",
        f"{ns}/web",
    )
    assert datetime.fromisoformat(update["pushed_at"]) == built
    assert [a["sync"] for a in update["applied"]] == [f"{ns}/web"]
    code, out, err = await gitmoor(
        "where", f"{image}:1.1.0", "--ledger", h.ledger_url, "-o", "yaml", kubeconfig=h.kubeconfig
    )
    assert code == 0, err
    assert yaml.safe_load(out) == [deployed]
    code, out, err = await gitmoor("images", "-n", ns, "-o", "json", kubeconfig=h.kubeconfig)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["repositories"][0]["tags"] == 3
    assert (shown["policies"][0]["tag"], shown["policies"][0]["previous"]) == ("1.1.0", "1.0.0")
    assert shown["automations"][0]["last_commit"] == commit
    code, out, err = await gitmoor("images", "-n", ns, kubeconfig=h.kubeconfig)
    assert code == 0, err
    assert "imagepolicy/web" in out
    assert commit[:7] in out


async def test_bad_input_is_a_condition_and_an_event_and_nothing_is_written(
    harness: AgentHarness,
    git_servers: GitServers,
    oci_registry: Registry,
    tmp_path: Path,
) -> None:
    """A marker naming no policy, a protected branch, wrong registry credentials: each says so
    on the resource, and the repository keeps its head."""
    h, ns = harness, harness.namespace
    pusher = ImagePusher(oci_registry)
    repository = f"team/bad-{secrets.token_hex(4)}"
    image = f"{oci_registry.host}/{repository}"
    pusher.push(repository, "1.0.0", created=datetime.now(UTC))
    pusher.push(repository, "1.2.0", created=datetime.now(UTC))

    repo, tree = h.repo(git_servers, f"bad-{secrets.token_hex(4)}")
    stray = 'data:\n  image: x:1 # {"$imagepolicy": "' + ns + ':nope"}\n'
    head = tree.commit(
        "cfg",
        {
            "deploy/web.yaml": DEPLOYMENT.format(ns=ns, image=image),
            "deploy/stray.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n" + stray,
            "elsewhere/web.yaml": DEPLOYMENT.format(ns=ns, image=image),
        },
    )
    tree.push()
    await h.ssh_secret(git_servers, "git-ssh")
    await h.source("config", repo.ssh_url, ref={"branch": "main"}, secretRef={"name": "git-ssh"})
    await _image_chain(h, oci_registry, image)
    await _apply(h, "ImageUpdateAutomation", "web", _automation())

    missing = await h.wait_condition(
        "ImageUpdateAutomation", "web", cond.READY, "False", reason="PolicyNotFound"
    )
    assert "deploy/stray.yaml:5" in cond.get_condition(missing, cond.READY)["message"]  # type: ignore[index]
    await _event(h, "ImageUpdateAutomation", "web", "PolicyNotFound", "deploy/stray.yaml:5")
    assert _clone(git_servers, repo, tmp_path / "a").head() == head

    # A registry nobody answers at: its own condition and Event.
    await _apply(h, "ImageRepository", "down", {"image": f"127.0.0.1:{free_port()}/team/x"})
    down = await h.wait_condition(
        "ImageRepository", "down", cond.READY, "False", reason="RegistryUnavailable"
    )
    assert "127.0.0.1" in cond.get_condition(down, cond.READY)["message"]  # type: ignore[index]
    await _event(h, "ImageRepository", "down", "RegistryUnavailable", "127.0.0.1")

    # The stray marker goes; now the branch is protected by a pre-receive hook.
    protect_branch(repo.path, "main", except_committer=tree.author_email)
    tree.remove("deploy/stray.yaml")
    tree.commit("no stray", {})
    fixed = tree.head()
    tree.push()
    refused = await h.wait_for(
        "ImageUpdateAutomation",
        "web",
        lambda o: (cond.get_condition(o, cond.READY) or {}).get("reason") == "PushRefused",
        what="PushRefused",
    )
    assert "protected branch" in cond.get_condition(refused, cond.READY)["message"]  # type: ignore[index]
    assert _clone(git_servers, repo, tmp_path / "b").head() == fixed
    await _event(h, "ImageUpdateAutomation", "web", "PushRefused", "protected branch")

    # Once the branch takes pushes again: the markers under the path are updated, the one
    # outside it is named in a Warning and left as it was.
    (repo.path / "hooks" / "pre-receive").unlink()
    done = await h.wait_for(
        "ImageUpdateAutomation",
        "web",
        lambda o: bool((o.get("status") or {}).get("lastPushCommit")),
        what="the update commit",
    )
    assert "elsewhere/web.yaml:16" in cond.get_condition(done, cond.READY)["message"]  # type: ignore[index]
    await _event(h, "ImageUpdateAutomation", "web", "MarkersOutsidePath", "elsewhere/web.yaml:16")
    check = _clone(git_servers, repo, tmp_path / "c")
    assert f"{image}:1.2.0 #" in (tmp_path / "c" / "deploy" / "web.yaml").read_text()
    assert f"{image}:1.0.0 #" in (tmp_path / "c" / "elsewhere" / "web.yaml").read_text()
    assert check.rev_parse("HEAD~1") == fixed

    # Wrong registry credentials: the repository says so, the policy keeps its choice.
    await h.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry-auth", "namespace": ns},
            "stringData": {
                ".dockerconfigjson": json.dumps(
                    {"auths": {oci_registry.host: {"username": "x", "password": "wrong"}}}
                )
            },
        },
        field_manager="gitmoor-tests",
    )
    denied = await h.wait_for(
        "ImageRepository",
        "web",
        lambda o: (cond.get_condition(o, cond.READY) or {}).get("reason") == "AuthenticationFailed",
        what="AuthenticationFailed",
    )
    message = cond.get_condition(denied, cond.READY)["message"]  # type: ignore[index]
    assert "wrong" not in message
    policy = await h.get("ImagePolicy", "web")
    assert policy is not None
    assert policy["status"]["latestRef"]["tag"] == "1.2.0"

    # A range matching nothing is its own condition.
    await _apply(
        h,
        "ImagePolicy",
        "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": "^9.0.0"}}},
    )
    await h.secret("registry-ca", {"ca.crt": oci_registry.ca_path.read_text()})
    await _registry_secrets(h, oci_registry)
    none = await h.wait_for(
        "ImagePolicy",
        "web",
        lambda o: (cond.get_condition(o, cond.READY) or {}).get("reason") == "NoMatchingTag",
        what="NoMatchingTag",
    )
    assert "^9.0.0" in cond.get_condition(none, cond.READY)["message"]  # type: ignore[index]


async def test_a_registry_notification_scans_at_once(harness: AgentHarness, tmp_path: Path) -> None:
    """docker-registry configured to notify gitmoor's webhook (Bearer token from the webhook
    Secret's `registry` key): a push is scanned at once, though the interval is an hour; a
    notification with the wrong token is refused."""
    h = harness
    token = secrets.token_urlsafe(16)
    await h.secret("gitmoor-webhooks", {"registry": token})
    await h.stop()
    await h.start(http=True)
    with Registry(tmp_path / "notifying", notify=(f"{h.http_url}/hooks/registry", token)) as reg:
        pusher = ImagePusher(reg)
        repository = f"team/hooked-{secrets.token_hex(4)}"
        image = f"{reg.host}/{repository}"
        pusher.push(repository, "1.0.0", created=datetime.now(UTC))
        await _image_chain(h, reg, image, interval="1h")
        policy = await h.wait_for(
            "ImagePolicy",
            "web",
            lambda o: ((o.get("status") or {}).get("latestRef") or {}).get("tag") == "1.0.0",
        )
        assert policy["status"]["latestRef"]["name"] == image

        pusher.push(repository, "1.3.0", created=datetime.now(UTC))
        await h.wait_for(
            "ImagePolicy",
            "web",
            lambda o: ((o.get("status") or {}).get("latestRef") or {}).get("tag") == "1.3.0",
            what="the pushed tag, through the registry's notification",
        )
        scanned = await h.get("ImageRepository", "web")
        assert scanned is not None
        assert scanned["status"]["lastScanResult"]["tagCount"] == 2

    body = json.dumps({"image": image, "tag": "9.9.9"}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{h.http_url}/hooks/registry",
            data=body,
            headers={"Authorization": "Bearer wrong", "Content-Type": "application/json"},
        ) as answer,
    ):
        assert answer.status == 401


async def test_a_throttled_registry_is_retried_when_its_retry_after_says(
    harness: AgentHarness, oci_registry: Registry, tmp_path: Path
) -> None:
    """A registry answering 429 with `Retry-After: 1` (a throttling proxy in front of the real
    one): the repository says RegistryUnavailable with the wait, and scans again after it, not
    after its hour-long interval."""
    h = harness
    repository = f"team/throttled-{secrets.token_hex(4)}"
    ImagePusher(oci_registry).push(repository, "1.0.0", created=datetime.now(UTC))
    with ThrottlingProxy(tmp_path / "throttle", oci_registry, first=2, retry_after=1) as proxy:
        auths = {
            "auths": {
                proxy.host: {"username": oci_registry.username, "password": oci_registry.password}
            }
        }
        await h.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "proxy-auth", "namespace": h.namespace},
                "stringData": {".dockerconfigjson": json.dumps(auths)},
            },
            field_manager="gitmoor-tests",
        )
        await h.secret("proxy-ca", {"ca.crt": proxy.ca_path.read_text()})
        await _apply(
            h,
            "ImageRepository",
            "throttled",
            {
                "image": f"{proxy.host}/{repository}",
                "interval": "1h",
                "secretRef": {"name": "proxy-auth"},
                "certSecretRef": {"name": "proxy-ca"},
            },
        )
        throttled = await h.wait_condition(
            "ImageRepository", "throttled", cond.READY, "False", reason="RegistryUnavailable"
        )
        message = cond.get_condition(throttled, cond.READY)["message"]  # type: ignore[index]
        assert "429" in message
        assert "retry in 1s (Retry-After)" in message
        await _event(h, "ImageRepository", "throttled", "RegistryUnavailable", "retry in 1s")
        # Scanned once the registry lets it: the interval (an hour) did not bring this.
        scanned = await h.wait_condition("ImageRepository", "throttled", cond.READY, "True")
        assert scanned["status"]["lastScanResult"]["tagCount"] == 1
        tags = f"/v2/{repository}/tags/list"
        assert proxy.throttled == [tags, tags]
        # Two refused, then the registry's own 401 challenge and the answer: no extra tries.
        assert proxy.counts[tags] == 4
