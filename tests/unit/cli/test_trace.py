"""`gitmoor trace`: how KIND/NAME is read (a case table), bad spellings as usage errors, and the
text at 80 columns."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gitmoor.cli.app import app
from gitmoor.cli.trace import render_trace
from gitmoor.commands.trace import Target, TargetError, Trace, parse_target

READ: dict[tuple[str, str | None], Target] = {
    ("deployment/web", None): Target("deployment", "web"),
    ("Deployment/web", None): Target("Deployment", "web"),
    ("deploy/web", None): Target("deploy", "web"),
    ("deployment", "web"): Target("deployment", "web"),
    ("deployments.apps/web", None): Target("deployments", "web", "apps"),
    ("deployments.v1.apps/web", None): Target("deployments", "web", "apps", "v1"),
    ("v1/ConfigMap/settings", None): Target("ConfigMap", "settings", "", "v1"),
    ("apps/v1/Deployment/web", None): Target("Deployment", "web", "apps", "v1"),
    ("apps/deployment/web", None): Target("deployment", "web", "apps"),
    ("gitmoor.io/v1alpha1/Sync/app", None): Target("Sync", "app", "gitmoor.io", "v1alpha1"),
    ("ingresses.networking.k8s.io/site", None): Target("ingresses", "site", "networking.k8s.io"),
    ("cm/web.config", None): Target("cm", "web.config"),
}


@pytest.mark.parametrize(("text", "name"), list(READ))
def test_kind_and_name_are_read_like_kubectl(text: str, name: str | None) -> None:
    assert parse_target(text, name) == READ[(text, name)]


REFUSED = [
    ("web", None, "expected KIND/NAME"),
    ("deployment/", None, "expected KIND/NAME"),
    ("/web", None, "expected KIND/NAME"),
    ("a/b/c/d/e", None, "expected KIND/NAME"),
    ("deployment/web", "other", "expected KIND/NAME"),
    ("deploy-ment/web", None, "is not a kind"),
    ("deployment/Web_1", None, "not a valid Kubernetes name"),
    ("Apps/v1/Deployment/web", None, "is not an API group"),
    ("apps/one/Deployment/web", None, "is not an API version"),
]


@pytest.mark.parametrize(("text", "name", "says"), REFUSED)
def test_other_spellings_are_refused_with_the_forms_that_work(
    text: str, name: str | None, says: str
) -> None:
    with pytest.raises(TargetError, match=says):
        parse_target(text, name)


def test_a_bad_spelling_is_a_usage_error_before_any_cluster_is_asked() -> None:
    result = CliRunner().invoke(app, ["trace", "web"], env={"KUBECONFIG": "/nonexistent"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid value for KIND/NAME: 'web': expected")
    assert "Traceback" not in result.output


FOUND = Trace(
    object={
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "team-frontend-production",
        "name": "web-frontend",
        "health": "InProgress",
        "message": "Deployment/team-frontend-production/web-frontend: 1 of 3 replicas "
        "available, waiting for the rollout of revision 7 to finish",
    },
    sync={
        "namespace": "team-frontend-production",
        "name": "frontend",
        "path": "apps/frontend/overlays/production",
        "ready": "True",
        "reason": "ReconciliationSucceeded",
        "message": "Applied revision: main@sha1:" + "a" * 40,
        "lastAppliedRevision": "main@sha1:" + "a" * 40,
        "inInventory": True,
    },
    source={
        "namespace": "gitmoor-system",
        "name": "platform",
        "url": "https://git.example.com/platform/a-very-long-repository-name-for-the-team.git",
        "ref": "branch main",
        "revision": "main@sha1:" + "a" * 40,
    },
    commit={
        "revision": "main@sha1:" + "a" * 40,
        "sha": "a" * 40,
        "author": "Jane Doe <jane.doe@example.com>",
        "subject": "frontend: three replicas, and a much longer subject line than fits",
    },
    change={
        "id": 42,
        "action": "configured",
        "cluster": "prod-eu-1",
        "environment": "production",
        "revision": "main@sha1:" + "a" * 40,
        "author": "Jane Doe <jane.doe@example.com>",
        "subject": "frontend: three replicas, and a much longer subject line than fits",
        "commitTime": None,
        "trigger": "webhook",
        "result": "applied",
        "startedAt": "2026-11-30T10:00:00+00:00",
        "finishedAt": None,
    },
    ledger="sqlite:///var/lib/gitmoor/ledger.db",
)


@pytest.mark.parametrize("width", [80, 200])
def test_the_trace_fits_the_width(width: int) -> None:
    lines = render_trace(FOUND, width)
    for line in lines:
        assert len(line) <= width, line
    labels = [line.split(":", 1)[0] for line in lines if line]
    assert labels == [
        "Object",
        "Health",
        "Sync",
        "Path",
        "Ready",
        "GitSource",
        "URL",
        "Ref",
        "Revision",
        "Commit",
        "Author",
        "Last change",
        "Revision",
        "Commit",
        "Where",
    ]
    assert "Revision:    main@sha1:" + "a" * 40 + " (applied)" in lines


def test_an_unreachable_ledger_is_one_line_and_the_rest_is_printed() -> None:
    away = Trace(
        object=FOUND.object,
        sync=FOUND.sync,
        source=FOUND.source,
        commit=FOUND.commit,
        ledger="sqlite:///nowhere/ledger.db",
        ledger_problem="no ledger at /nowhere/ledger.db",
    )
    lines = render_trace(away, None)
    assert lines[-1] == "Last change: ledger not reachable: no ledger at /nowhere/ledger.db"
    assert any(line.startswith("URL:") for line in lines)
