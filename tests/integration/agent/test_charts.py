"""Charts from their vendors: a ChartSource resolves a chart in a real Helm repository (nginx,
TLS, basic auth; charts packaged and indexed with the Helm SDK), a Sync with chartRef renders it
with values from Git, and the agent follows new versions, keeps the last release through
failures, and says what is wrong."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitmoor.ledger import Ledger
from gitmoor.reconcile import conditions as cond
from testenv.chartrepo import ChartRepository
from testenv.gitserver import GitServers
from testenv.registry import Registry
from testenv.wait import eventually
from tests.integration.agent.harness import AgentHarness, Obj
from tests.integration.gitmoor_process import gitmoor

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | quote }}
  chart: {{ .Chart.Version | quote }}
"""


VALUES = "greeting: from-the-chart\ncolor: grey\n"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers: [{name: main, image: "nginx:{{ .Chart.AppVersion | default "1.27" }}"}]
"""
# No node has this label: the Deployment of this chart version never becomes Available.
STUCK = DEPLOYMENT + "      nodeSelector: {no-such-label: anywhere}\n"


def _publish(repo: ChartRepository, name: str, version: str) -> None:
    repo.publish("web", version, templates={"cm.yaml": CONFIGMAP}, values=VALUES, repo=name)


async def _chart_source(
    h: AgentHarness, repo: ChartRepository, name: str, version: str, **spec: object
) -> Obj:
    return await h.kube.apply(
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "ChartSource",
            "metadata": {"name": "web", "namespace": h.namespace},
            "spec": {
                "url": f"{repo.url}/{name}",
                "chart": "web",
                "version": version,
                "interval": "2s",
                "secretRef": {"name": "charts-auth"},
                **spec,
            },
        },
        field_manager="gitmoor-tests",
    )


async def _chart_secret(h: AgentHarness, repo: ChartRepository, password: str = "") -> None:
    await h.secret(
        "charts-auth",
        {
            "username": repo.username,
            "password": password or repo.password,
            "ca.crt": repo.ca_path.read_text(),
        },
    )


def _downloads(repo: ChartRepository, name: str) -> list[str]:
    return [r for r in repo.requests() if r.startswith(f"GET /{name}/") and ".tgz" in r]


async def _values_repo(h: AgentHarness, git_servers: GitServers, name: str) -> str:
    repo, tree = h.repo(git_servers, name)
    sha = tree.commit("values", {"values/prod/values.yaml": "color: blue\n"})
    tree.push()
    await h.source("values", repo.file_url)
    return sha


def _at_chart(version: str) -> Callable[[Obj], bool]:
    """A Sync Ready and Healthy at chart `web` `version` (from a ChartSource)."""

    def accept(o: Obj) -> bool:
        applied = str((o.get("status") or {}).get("lastAppliedRevision", ""))
        return (
            applied.startswith(f"web@{version}@sha256:")
            and cond.is_true(o, cond.READY)
            and cond.is_true(o, cond.HEALTHY)
        )

    return accept


async def _settings(h: AgentHarness, release: str) -> dict[str, str]:
    """The data of the chart's ConfigMap of `release`."""
    live = await h.kube.get("v1", "ConfigMap", f"{release}-settings", h.namespace)
    assert live is not None
    return dict(live["data"])


async def test_a_chart_in_range_renders_with_values_from_git_and_follows_new_versions(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, ns, repo = harness, harness.namespace, chart_repository
    name = f"c{secrets.token_hex(4)}"
    _publish(repo, name, "1.0.0")
    _publish(repo, name, "1.1.0")
    _publish(repo, name, "2.0.0")  # out of range
    sha = await _values_repo(h, git_servers, unique_name)
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "^1.0.0")
    await h.sync(
        "web",
        "values",
        "values/prod",
        chartRef={"name": "web"},
        helm={"valuesFiles": ["values.yaml"], "values": {"greeting": "hello"}},
    )

    sync = await h.wait_applied("web", sha)
    chart = await h.get("ChartSource", "web")
    assert chart is not None
    artifact = chart["status"]["artifact"]
    assert (artifact["chart"], artifact["version"]) == ("web", "1.1.0")
    assert artifact["revision"] == f"web@1.1.0@{artifact['digest']}"
    assert cond.is_true(chart, cond.READY)
    assert sync["status"]["lastAppliedRevision"] == f"{artifact['revision']};main@sha1:{sha}"
    live = await h.wait_for_object("v1", "ConfigMap", "web-settings", lambda o: True)
    assert live["data"] == {"greeting": "hello", "color": "blue", "chart": "1.1.0"}
    assert live["metadata"]["namespace"] == ns

    # Unchanged: every check of the index is a 304 and nothing is downloaded again.
    checks = len([r for r in repo.requests() if r == f"GET /{name}/index.yaml 304"])
    await h.wait_for(
        "ChartSource",
        "web",
        lambda o: (
            len([r for r in repo.requests() if r == f"GET /{name}/index.yaml 304"]) >= checks + 2
        ),
        what="two more checks of an unchanged index",
    )
    assert _downloads(repo, name) == [f"GET /{name}/web-1.1.0.tgz 200"]

    # A new version in range upgrades on the next interval; status and ledger say which.
    _publish(repo, name, "1.2.0")
    sync = await h.wait_for(
        "Sync",
        "web",
        lambda o: (
            "web@1.2.0@" in str((o.get("status") or {}).get("lastAppliedRevision", ""))
            and cond.is_true(o, cond.READY)
        ),
        what="Sync web at chart 1.2.0",
    )
    live = await h.wait_for_object("v1", "ConfigMap", "web-settings", lambda o: True)
    assert live["data"]["chart"] == "1.2.0"
    assert _downloads(repo, name) == [
        f"GET /{name}/web-1.1.0.tgz 200",
        f"GET /{name}/web-1.2.0.tgz 200",
    ]
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        records = await ledger.history(sync="web", namespace=ns)
    revisions = [r.revision for r in records]
    assert any(r.startswith("web@1.2.0@sha256:") and r.endswith(sha) for r in revisions)
    assert any(r.startswith("web@1.1.0@sha256:") for r in revisions)


async def test_refused_credentials_are_a_clear_condition_and_the_release_keeps_running(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"
    _publish(repo, name, "1.0.0")
    sha = await _values_repo(h, git_servers, unique_name)
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.0.0")
    await h.sync("web", "values", "values/prod", chartRef={"name": "web"})
    applied = await h.wait_applied("web", sha)

    wrong = "wrong-" + secrets.token_hex(6)
    await _chart_secret(h, repo, password=wrong)
    _publish(repo, name, "1.0.1")  # the index changes: the next check must authenticate
    chart = await h.wait_condition(
        "ChartSource", "web", cond.READY, "False", reason="AuthenticationFailed"
    )
    message = cond.get_condition(chart, cond.READY)["message"]  # type: ignore[index]
    assert message == (
        f"{repo.url}/{name}/index.yaml answered 401 Unauthorized: the repository refused the "
        "credentials of spec.secretRef"
    )
    assert chart["status"]["artifact"]["version"] == "1.0.0"  # the chart in use stays
    # The agent creates its events just after the status write that the wait saw.
    events = await eventually(
        lambda: h.events("ChartSource", "web"),
        lambda found: any(e["reason"] == "AuthenticationFailed" for e in found),
        within=30,
        what="the AuthenticationFailed event",
    )
    assert all(wrong not in str(e) for e in events)
    # The Sync keeps its release: still Ready at what it applied.
    sync = await h.get("Sync", "web")
    assert sync is not None
    assert cond.is_true(sync, cond.READY)
    assert sync["status"]["lastAppliedRevision"] == applied["status"]["lastAppliedRevision"]
    assert await h.kube.get("v1", "ConfigMap", "web-settings", h.namespace) is not None

    # A corrected Secret is picked up at the next try, without a restart or a spec change.
    await _chart_secret(h, repo)
    await h.wait_condition("ChartSource", "web", cond.READY, "True", reason="Succeeded")

    # Credentials accepted, access denied (403): as clear, and the release still kept.
    await _chart_source(h, repo, f"forbidden/{name}", "1.0.0")
    chart = await h.wait_condition(
        "ChartSource", "web", cond.READY, "False", reason="AuthenticationFailed"
    )
    message = cond.get_condition(chart, cond.READY)["message"]  # type: ignore[index]
    assert message.startswith(f"{repo.url}/forbidden/{name}/index.yaml answered 403 Forbidden")
    assert chart["status"]["artifact"]["version"] == "1.0.0"
    assert await h.kube.get("v1", "ConfigMap", "web-settings", h.namespace) is not None


async def test_an_archive_that_is_not_what_the_index_says_is_refused_by_name(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"
    archive = repo.publish(
        "web", "1.0.0", templates={"cm.yaml": CONFIGMAP}, values=VALUES, repo=name
    )
    data = bytearray(archive.read_bytes())
    data[-5] ^= 0xFF  # changed on the server after it was indexed
    archive.write_bytes(bytes(data))
    await _values_repo(h, git_servers, unique_name)
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.0.0")
    await h.sync("web", "values", "values/prod", chartRef={"name": "web"})

    chart = await h.wait_condition(
        "ChartSource", "web", cond.READY, "False", reason="DigestMismatch"
    )
    assert cond.is_true(chart, cond.STALLED)
    assert "the index says sha256:" in cond.get_condition(chart, cond.READY)["message"]  # type: ignore[index]
    sync = await h.wait_for(
        "Sync",
        "web",
        lambda o: (
            "has no chart yet" in str((cond.get_condition(o, cond.READY) or {}).get("message"))
        ),
        what="Sync waiting for its chart",
    )
    assert not (sync.get("status") or {}).get("lastAttemptedRevision")
    assert await h.kube.get("v1", "ConfigMap", "web-settings", h.namespace) is None


async def test_a_range_matching_nothing_is_a_clear_condition_and_the_sync_waits(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"
    _publish(repo, name, "1.0.0")
    _publish(repo, name, "1.1.0-rc.1")
    await _values_repo(h, git_servers, unique_name)
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, ">=1.1.0 <2.0.0")
    await h.sync("web", "values", "values/prod", chartRef={"name": "web"})

    chart = await h.wait_condition(
        "ChartSource", "web", cond.READY, "False", reason="VersionNotFound"
    )
    assert cond.get_condition(chart, cond.READY)["message"] == (  # type: ignore[index]
        f"no version of chart 'web' in {repo.url}/{name} matches '>=1.1.0 <2.0.0'; the newest "
        "are 1.1.0-rc.1, 1.0.0"
    )
    waiting = f"ChartSource {h.namespace}/web has no chart yet: no version of chart 'web'"

    def waits_for_the_chart(o: Obj) -> bool:
        ready = cond.get_condition(o, cond.READY) or {}
        return ready.get("reason") == "SourceNotReady" and str(ready.get("message", "")).startswith(
            waiting
        )

    # (First it may wait for its GitSource, for a moment.)
    sync = await h.wait_for("Sync", "web", waits_for_the_chart, what="Sync waiting for its chart")
    assert not (sync.get("status") or {}).get("lastAttemptedRevision")
    assert _downloads(repo, name) == []

    # Published later: the Sync deploys it without being touched.
    _publish(repo, name, "1.1.0")
    await h.wait_for(
        "Sync",
        "web",
        lambda o: (
            "web@1.1.0@" in str((o.get("status") or {}).get("lastAppliedRevision", ""))
            and cond.is_true(o, cond.READY)
        ),
        what="Sync web at chart 1.1.0",
    )


async def test_a_chart_in_git_gets_its_dependencies_from_the_repository_with_its_credentials(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"
    _publish(repo, name, "1.0.0")
    url = f"{repo.url}/{name}"
    # The repository's credentials: from the ChartSource of that URL (Secret charts-auth).
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.0.0")
    git, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "an app with a vendor chart as dependency",
        {
            "app/Chart.yaml": (
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                f"- name: web\n  version: 1.x\n  repository: {url}\n"
                "- name: web\n  alias: canary\n  version: 1.x\n"
                f"  repository: {url}\n  condition: canary.enabled\n"
            ),
            "app/values.yaml": "web: {color: green}\ncanary: {enabled: false}\n",
            "app/templates/cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: b}\n"
            ),
        },
    )
    tree.push()
    await h.source("apps", git.file_url)
    await h.sync("app", "apps", "app")

    # (Were the disabled alias rendered, app-settings would be declared twice.)
    sync = await h.wait_applied("app", sha)
    assert cond.is_true(sync, cond.READY)
    live = await h.wait_for_object("v1", "ConfigMap", "app-settings", lambda o: True)
    assert live["data"]["color"] == "green"

    # A dependency that cannot be resolved: a clear condition naming it and its repository.
    tree.commit(
        "a dependency out of reach",
        {
            "app/Chart.yaml": (
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                f"- name: web\n  version: ^9.0.0\n  repository: {url}\n"
            )
        },
    )
    tree.push()
    failed = await h.wait_condition(
        "Sync", "app", cond.READY, "False", reason="DependencyNotResolved"
    )
    message = cond.get_condition(failed, cond.READY)["message"]  # type: ignore[index]
    assert f"dependency web ^9.0.0 from {url}: no version of chart 'web'" in message
    assert await h.kube.get("v1", "ConfigMap", "app-settings", h.namespace) is not None


async def test_a_published_chart_gets_the_dependencies_it_does_not_package_and_rolls_back(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    """A vendor chart in the HTTP repository whose Chart.yaml lists a dependency it was
    packaged without: the dependency comes from its repository, with the credentials of the
    ChartSource of that URL, and renders under the values the Sync gives it from Git."""
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"
    url = f"{repo.url}/{name}"
    db_configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-db'}\n"
        "data: {color: '{{ .Values.color }}', chart: '{{ .Chart.Version }}'}\n"
    )
    repo.publish("db", "1.2.0", templates={"cm.yaml": db_configmap}, values=VALUES, repo=name)
    repo.publish(
        "web",
        "1.0.0",
        templates={"cm.yaml": CONFIGMAP},
        values=VALUES,
        repo=name,
        dependencies=[{"name": "db", "version": "1.x", "repository": url}],
    )
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.x")
    git, tree = h.repo(git_servers, unique_name)
    tree.commit("values", {"values/values.yaml": "color: blue\ndb: {color: red}\n"})
    tree.push()
    await h.source("values", git.file_url)
    await h.sync(
        "web",
        "values",
        "values",
        chartRef={"name": "web"},
        helm={"valuesFiles": ["values.yaml"]},
        atomic=True,
        timeout="6s",
    )

    good = await h.wait_for("Sync", "web", _at_chart("1.0.0"))
    assert (await _settings(h, "web"))["color"] == "blue"
    # The dependency renders in the parent's release, under its own key of the values.
    db = await h.kube.get("v1", "ConfigMap", "web-db", h.namespace)
    assert db is not None
    assert db["data"] == {"color": "red", "chart": "1.2.0"}
    found = [r for r in repo.requests() if r.startswith(f"GET /{name}/db-1.2.0.tgz")]
    assert found, "the dependency was not downloaded from its repository"

    # A newer version, with a newer dependency, is applied; it never becomes healthy, so the
    # atomic Sync restores 1.0.0 and its dependency 1.2.0.
    repo.publish("db", "1.3.0", templates={"cm.yaml": db_configmap}, values=VALUES, repo=name)
    repo.publish(
        "web",
        "1.1.0",
        templates={"cm.yaml": CONFIGMAP, "web.yaml": STUCK},
        values=VALUES,
        repo=name,
        dependencies=[{"name": "db", "version": "1.x", "repository": url}],
    )
    sync = await h.wait_rolled_back("web", good["status"]["lastAppliedRevision"])
    assert sync["status"]["lastFailedRevision"].startswith("web@1.1.0@sha256:")
    db = await h.kube.get("v1", "ConfigMap", "web-db", h.namespace)
    assert db is not None
    assert db["data"] == {"color": "red", "chart": "1.2.0"}
    assert await h.kube.get("apps/v1", "Deployment", "web", h.namespace) is None


async def test_an_atomic_sync_rolls_back_to_the_previous_chart_version_and_values(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    h, repo, ns = harness, chart_repository, harness.namespace
    name = f"c{secrets.token_hex(4)}"
    repo.publish(
        "web",
        "1.0.0",
        templates={"cm.yaml": CONFIGMAP, "web.yaml": DEPLOYMENT},
        values=VALUES,
        repo=name,
    )
    sha = await _values_repo(h, git_servers, unique_name)
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.x")
    await h.sync(
        "web",
        "values",
        "values/prod",
        chartRef={"name": "web"},
        helm={"valuesFiles": ["values.yaml"]},
        atomic=True,
        timeout="8s",
    )
    good = await h.wait_applied("web", sha)
    await h.wait_condition("Sync", "web", cond.HEALTHY, "True")
    healthy = good["status"]["lastAppliedRevision"]
    assert healthy.startswith("web@1.0.0@sha256:")

    # 1.1.0 cannot become healthy: the Sync applies it, then restores 1.0.0 with its values.
    repo.publish(
        "web",
        "1.1.0",
        templates={"cm.yaml": CONFIGMAP, "web.yaml": STUCK},
        values=VALUES,
        repo=name,
    )
    sync = await h.wait_rolled_back("web", healthy)
    assert sync["status"]["lastFailedRevision"].startswith("web@1.1.0@sha256:")
    web = await h.kube.get("apps/v1", "Deployment", "web", ns)
    assert web is not None
    assert "nodeSelector" not in web["spec"]["template"]["spec"]
    settings = await h.kube.get("v1", "ConfigMap", "web-settings", ns)
    assert settings is not None
    assert settings["data"] == {"greeting": "from-the-chart", "color": "blue", "chart": "1.0.0"}
    assert h.ledger_url is not None
    async with await Ledger.open(h.ledger_url) as ledger:
        [running] = await ledger.where("chart:web@1.x")
    assert (running.sync, running.revision) == (f"{ns}/web", healthy)


async def test_a_chart_from_an_oci_registry_with_values_from_git_upgrades_and_rolls_back(
    harness: AgentHarness,
    git_servers: GitServers,
    oci_registry: Registry,
    unique_name: str,
) -> None:
    """oci:// chart, values from Git, atomic: Ready and Healthy, a newer version in range
    upgrades, one that never gets healthy is rolled back to the one before."""
    h, registry, ns = harness, oci_registry, harness.namespace
    path = f"p{secrets.token_hex(4)}"

    def push(version: str, web: str = DEPLOYMENT) -> None:
        templates = {"cm.yaml": CONFIGMAP, "web.yaml": web}
        registry.push("web", version, repo=path, templates=templates, values=VALUES)

    push("1.0.0")
    push("2.0.0")  # out of range
    sha = await _values_repo(h, git_servers, unique_name)
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
            "kind": "ChartSource",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "url": f"oci://{registry.host}/{path}",
                "chart": "web",
                "version": "1.x",
                "interval": "2s",
                "secretRef": {"name": "registry-auth"},
            },
        },
        field_manager="gitmoor-tests",
    )
    await h.sync(
        "web",
        "values",
        "values/prod",
        chartRef={"name": "web"},
        helm={"valuesFiles": ["values.yaml"]},
        atomic=True,
        timeout="8s",
    )
    sync = await h.wait_applied("web", sha)
    assert str(sync["status"]["lastAppliedRevision"]).startswith("web@1.0.0@sha256:")
    await h.wait_for("Sync", "web", _at_chart("1.0.0"), what="Sync web healthy at 1.0.0")
    assert await _settings(h, "web") == {
        "greeting": "from-the-chart",
        "color": "blue",
        "chart": "1.0.0",
    }

    push("1.1.0")
    upgraded = await h.wait_for("Sync", "web", _at_chart("1.1.0"), what="Sync web at 1.1.0")
    healthy = upgraded["status"]["lastAppliedRevision"]
    assert healthy.endswith(f";main@sha1:{sha}")
    assert (await _settings(h, "web"))["chart"] == "1.1.0"

    push("1.2.0", STUCK)
    sync = await h.wait_rolled_back("web", healthy)
    assert sync["status"]["lastFailedRevision"].startswith("web@1.2.0@sha256:")
    await h.wait_available("web")
    assert await _settings(h, "web") == {
        "greeting": "from-the-chart",
        "color": "blue",
        "chart": "1.1.0",
    }


async def test_a_chart_in_git_takes_a_newer_dependency_at_its_next_render_and_rolls_back(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    """A chart in Git whose dependency (a range, no Chart.lock) comes from the HTTP
    repository, atomic: Ready and Healthy; a newer dependency version is taken at the next
    render (here a new commit; else the hourly full reconcile); one that never gets healthy
    is rolled back to the commit, and so the dependency version, before."""
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"

    def publish(version: str, web: str = DEPLOYMENT) -> None:
        templates = {"cm.yaml": CONFIGMAP, "web.yaml": web}
        repo.publish("web", version, templates=templates, values=VALUES, repo=name)

    publish("1.0.0")
    publish("2.0.0")  # out of range
    # The repository's credentials: from the ChartSource of that URL (Secret charts-auth).
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.0.0")
    git, tree = h.repo(git_servers, unique_name)
    chart = (
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
        f"- name: web\n  version: 1.x\n  repository: {repo.url}/{name}\n"
    )

    def commit(color: str) -> str:
        # Only the values change: the dependency's version is whatever the range admits.
        values = f"web: {{color: {color}}}\n"
        sha = tree.commit(color, {"app/Chart.yaml": chart, "app/values.yaml": values})
        tree.push()
        return sha

    sha = commit("green")
    await h.source("apps", git.file_url)
    await h.sync("app", "apps", "app", atomic=True, timeout="8s")
    await h.wait_applied("app", sha)
    await h.wait_condition("Sync", "app", cond.HEALTHY, "True")
    assert await _settings(h, "app") == {
        "greeting": "from-the-chart",
        "color": "green",
        "chart": "1.0.0",
    }

    publish("1.1.0")
    sha = commit("teal")
    upgraded = await h.wait_applied("app", sha)
    await h.wait_condition("Sync", "app", cond.HEALTHY, "True")
    assert (await _settings(h, "app"))["chart"] == "1.1.0"

    publish("1.2.0", STUCK)
    stuck = commit("red")
    sync = await h.wait_rolled_back("app", upgraded["status"]["lastAppliedRevision"])
    assert sync["status"]["lastFailedRevision"].endswith(stuck)
    await h.wait_available("app")
    assert await _settings(h, "app") == {
        "greeting": "from-the-chart",
        "color": "teal",
        "chart": "1.1.0",
    }


async def test_a_full_reconcile_takes_a_newer_dependency_and_rolls_back_at_the_same_commit(
    harness: AgentHarness,
    git_servers: GitServers,
    chart_repository: ChartRepository,
    unique_name: str,
) -> None:
    """Without a new commit, a full reconcile (hourly, or `gitmoor sync` as here) renders the
    chart again and takes a newer dependency in range: the same revision then runs other
    objects, so an atomic Sync keeps those as what it restores, and a newer dependency that
    never gets healthy is rolled back to them (not to the first render of the commit)."""
    h, repo = harness, chart_repository
    name = f"c{secrets.token_hex(4)}"

    def publish(version: str, web: str = DEPLOYMENT) -> None:
        templates = {"cm.yaml": CONFIGMAP, "web.yaml": web}
        repo.publish("web", version, templates=templates, values=VALUES, repo=name)

    publish("1.0.0")
    await _chart_secret(h, repo)
    await _chart_source(h, repo, name, "1.0.0")
    git, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "app with web 1.x",
        {
            "app/Chart.yaml": (
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                f"- name: web\n  version: 1.x\n  repository: {repo.url}/{name}\n"
            )
        },
    )
    tree.push()
    await h.source("apps", git.file_url)
    await h.sync("app", "apps", "app", atomic=True, timeout="8s")
    applied = await h.wait_applied("app", sha)
    revision = applied["status"]["lastAppliedRevision"]
    await h.wait_condition("Sync", "app", cond.HEALTHY, "True")
    assert (await _settings(h, "app"))["chart"] == "1.0.0"

    publish("1.1.0")
    sync = await h.reconcile_now("app")
    assert cond.is_true(sync, cond.READY)
    assert cond.is_true(sync, cond.HEALTHY)
    assert sync["status"]["lastAppliedRevision"] == revision
    assert (await _settings(h, "app"))["chart"] == "1.1.0"

    publish("1.2.0", STUCK)
    await h.reconcile_now("app")
    sync = await h.wait_rolled_back("app", revision)
    assert sync["status"]["lastFailedRevision"] == revision
    message = cond.get_condition(sync, cond.READY)["message"]  # type: ignore[index]
    assert message.endswith(f"restored {revision} as it rendered before")
    await h.wait_available("app")
    assert (await _settings(h, "app"))["chart"] == "1.1.0"


async def test_a_flux_helmrelease_of_a_helm_repository_imports_and_deploys_without_git(
    harness: AgentHarness, chart_repository: ChartRepository, tmp_path: Path
) -> None:
    """`gitmoor import` of a HelmRepository and its HelmRelease: a ChartSource and a Sync with
    chartRef, values inline and no sourceRef; applied, the agent deploys the chart."""
    h, ns, repo = harness, harness.namespace, chart_repository
    name = f"c{secrets.token_hex(4)}"
    _publish(repo, name, "1.0.0")
    _publish(repo, name, "1.1.0")
    await _chart_secret(h, repo)
    flux = tmp_path / "flux.yaml"
    flux.write_text(
        f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: vendor, namespace: {ns}}}
spec: {{url: "{repo.url}/{name}", interval: 2s, secretRef: {{name: charts-auth}}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: web, namespace: {ns}}}
spec:
  interval: 30s
  values: {{greeting: imported}}
  chart:
    spec: {{chart: web, version: "1.0.x", sourceRef: {{kind: HelmRepository, name: vendor}}}}
"""
    )
    code, out, err = await gitmoor("import", "-f", flux, kubeconfig=h.kubeconfig)
    assert code == 0, err
    assert "as 0 GitSource(s), 1 ChartSource(s) and 1 Sync(s)" in err
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == ["ChartSource", "Sync"]
    assert "sourceRef" not in documents[1]["spec"]
    for document in documents:
        await h.kube.apply(document, field_manager="gitmoor-tests")

    sync = await h.wait_for(
        "Sync",
        "web",
        lambda o: cond.is_true(o, cond.READY),
        what="Sync web Ready from its chart alone",
    )
    assert sync["status"]["lastAppliedRevision"].startswith("web@1.0.0@sha256:")
    assert sync["status"]["shortRevision"] == "web@1.0.0"
    live = await h.wait_for_object("v1", "ConfigMap", "web-settings", lambda o: True)
    # Flux's release name (the HelmRelease's), its values inline, the chart's own defaults.
    assert live["data"] == {"greeting": "imported", "color": "grey", "chart": "1.0.0"}
