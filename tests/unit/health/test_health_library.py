"""The rule library (src/gitmoor/health/library/*.yaml): each project's rules judged on
fixtures shaped like the objects its controllers write (fixtures/library/*.yaml), and the rule
engine's promises (run-time failures are Unknown, user rules override)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitmoor.health import compute, exprs
from gitmoor.health.compute import explain
from gitmoor.health.coverage import markdown
from gitmoor.health.exprs import LIBRARY, RuleError, find, load_rules, sync_rules
from gitmoor.model import ObjectRef, Status
from gitmoor.model.resources import Sync
from tests.unit.health.cases import FIXTURES, cases

LIBRARY_SOURCE = Path(exprs.__file__).parent / "library"
LIBRARY_FILES = sorted(p.name for p in (FIXTURES / "library").glob("*.yaml"))
ALL_CASES = [c for name in LIBRARY_FILES for c in cases(f"library/{name}")]


@pytest.mark.parametrize(("obj", "status", "message"), ALL_CASES)
def test_library_rule(obj: dict[str, Any], status: str, message: str) -> None:
    health = compute(obj)
    assert (health.status.value, health.message) == (status, message)


def test_every_project_of_the_library_has_fixtures() -> None:
    shipped = {Path(v.origin.split("[")[0]).name for r in LIBRARY.values() for v in r.versions()}
    assert sorted(shipped) == LIBRARY_FILES


@pytest.mark.parametrize("name", sorted(p.name for p in LIBRARY_SOURCE.glob("*.yaml")))
def test_every_library_rule_compiles(name: str) -> None:
    # The agent loads the library without compiling it (each kind's rule compiles when one of
    # its objects is first judged): a rule that does not compile must fail here, not there.
    rules = load_rules((LIBRARY_SOURCE / name).read_text(), f"library/{name}", compile_now=True)
    assert rules


def test_every_distinct_rule_is_seen_current_and_not_current() -> None:
    """Rules shared by several kinds (YAML anchors) count once: their expressions are the same."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for param in ALL_CASES:
        obj = param.values[0]
        ref = ObjectRef.from_object(obj)
        rule = find(LIBRARY, ref.group, obj["apiVersion"].rpartition("/")[2], ref.kind)
        if rule is not None:
            key = tuple(p.source for _, _, p in rule.expressions)
            seen.setdefault(key, set()).add(param.values[1])
    distinct = {
        tuple(p.source for _, _, p in v.expressions): v
        for r in LIBRARY.values()
        for v in r.versions()
    }
    for key, rule in distinct.items():
        if key == ("true",):
            continue  # a kind that is fine once it exists: there is no other state to show
        states = seen.get(key, set())
        assert "Current" in states, f"{rule.origin}: no Current fixture"
        assert states - {"Current"}, f"{rule.origin}: no fixture that is not Current"
        if any(name == "failed" for name, _, _ in rule.expressions):
            assert "Failed" in states, f"{rule.origin}: no Failed fixture"
        if any(name == "unknown" for name, _, _ in rule.expressions):
            assert "Unknown" in states, f"{rule.origin}: no Unknown fixture"


def test_a_rule_that_fails_at_run_time_is_unknown_with_the_message() -> None:
    rules = load_rules(
        '- {apiVersion: example.com/v1, kind: Widget, current: "status.ready == true"}',
        "rules.yaml",
    )
    obj = {**_object("example.com/v1", "Widget"), "status": {}}
    health = compute(obj, rules=rules)
    assert health.status is Status.UNKNOWN
    assert health.message.startswith("health rule rules.yaml[0] (Widget) failed: ")
    assert "ready" in health.message


def test_a_user_rule_overrides_the_built_in_and_the_library_rule() -> None:
    certificate = cases("library/cert-manager.yaml")[0].values[0]
    assert compute(certificate).status is Status.CURRENT
    rules = load_rules(
        "- apiVersion: cert-manager.io/v1\n"
        "  kind: Certificate\n"
        "  failed: \"self.metadata.name == 'web-tls'\"\n"
        "  current: 'false'\n",
        "--health-rules team.yaml",
    )
    verdict = explain(certificate, rules=rules)
    assert verdict.health.status is Status.FAILED
    assert verdict.rule == (
        "--health-rules team.yaml[0] (Certificate); failed is true: self.metadata.name == 'web-tls'"
    )


def test_flux_style_expressions_see_the_top_level_fields() -> None:
    rules = load_rules(
        "- apiVersion: db.example.com/v1\n"
        "  kind: Database\n"
        "  inProgress: \"status.phase in ['Pending', 'Provisioning']\"\n"
        "  failed: \"status.phase == 'Failed'\"\n"
        "  current: \"status.phase == 'Running'\"\n",
        "spec.healthCheckExprs",
    )
    base = _object("db.example.com/v1", "Database")
    judged = {
        phase: compute({**base, "status": {"phase": phase}}, rules=rules).status
        for phase in ("Pending", "Failed", "Running", "Resizing")
    }
    assert judged == {
        "Pending": Status.IN_PROGRESS,
        "Failed": Status.FAILED,
        "Running": Status.CURRENT,
        "Resizing": Status.IN_PROGRESS,
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("- {apiVersion: a/v1, kind: K, current: 'status.x =='}", "does not compile"),
        ("- {apiVersion: a/v1, kind: K}", "missing current"),
        ("- {apiVersion: a/v1, kind: K, current: 'true', ready: 'true'}", "unknown field"),
        ("{apiVersion: a/v1}", "expected a list of rules"),
    ],
)
def test_bad_rule_files_are_refused_with_the_place(text: str, error: str) -> None:
    with pytest.raises(RuleError, match=error) as raised:
        load_rules(text, "rules.yaml")
    assert str(raised.value).startswith("rules.yaml")


def _object(api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "shop"}}


def test_a_syncs_own_rules_override_the_agent_wide_ones_kind_by_kind() -> None:
    agent_wide = load_rules(
        "- {apiVersion: db.example.com/v1, kind: Database, current: 'false'}\n"
        "- {apiVersion: db.example.com/v1, kind: Cache, current: 'true'}\n",
        "--health-rules team.yaml",
    )
    sync = Sync.model_validate(
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "Sync",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "sourceRef": {"name": "fleet"},
                "healthCheckExprs": [
                    {
                        "apiVersion": "db.example.com/v2",
                        "kind": "Database",
                        "failed": "status.phase == 'Failed'",
                        "current": "status.phase == 'Running'",
                    }
                ],
            },
        }
    )
    rules = sync_rules(sync.spec.health_check_exprs, agent_wide)
    assert {k: r.origin for k, r in rules.items()} == {
        ("db.example.com", "Database"): "spec.healthCheckExprs[0] (Database)",
        ("db.example.com", "Cache"): "--health-rules team.yaml[1] (Cache)",
    }
    database = {**_object("db.example.com/v1", "Database"), "status": {"phase": "Failed"}}
    assert compute(database, rules=rules).status is Status.FAILED


_MATCHING_RULES = load_rules(
    "- {apiVersion: db.example.com/v1, kind: Database, current: 'true'}\n"
    "- {apiVersion: db.example.com/v2, kind: Database, current: 'true'}\n"
    "- {apiVersion: db.example.com/v1, kind: '*', current: 'true'}\n"
    "- {apiVersion: '*.example.com/v1', kind: Cache, current: 'true'}\n"
    "- {apiVersion: '*.example.com/v1', kind: '*', current: 'true'}\n"
    "- {apiVersion: '*.eu.example.com/v1', kind: '*', current: 'true'}\n",
    "rules.yaml",
)


@pytest.mark.parametrize(
    ("api_version", "kind", "rule"),
    [
        # Exact version first; a version no rule names gets the kind's rule listed last.
        ("db.example.com/v1", "Database", "rules.yaml[0] (Database)"),
        ("db.example.com/v2", "Database", "rules.yaml[1] (Database)"),
        ("db.example.com/v3", "Database", "rules.yaml[1] (Database)"),
        # Then every kind of the group.
        ("db.example.com/v1", "Backup", "rules.yaml[2] (*)"),
        # Then a group family: the kind before "*", the longest suffix first.
        ("cache.example.com/v1", "Cache", "rules.yaml[3] (Cache)"),
        ("cache.example.com/v1", "Queue", "rules.yaml[4] (*)"),
        ("mq.eu.example.com/v1", "Queue", "rules.yaml[5] (*)"),
        ("mq.eu.example.com/v1", "Cache", "rules.yaml[5] (*)"),
        # A family is a suffix of dotted names, not the domain itself nor another domain.
        ("example.com/v1", "Queue", None),
        ("example.org/v1", "Queue", None),
        ("v1", "ConfigMap", None),
    ],
)
def test_which_rule_judges_an_object(api_version: str, kind: str, rule: str | None) -> None:
    group, _, version = api_version.rpartition("/")
    found = find(_MATCHING_RULES, group, version, kind)
    assert (found.origin if found else None) == rule


def test_a_user_rule_for_a_kind_overrides_the_librarys_version_specific_rules() -> None:
    cluster = cases("library/cluster-api.yaml")[0].values[0]
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    rules = load_rules(
        "- {apiVersion: cluster.x-k8s.io/v1beta2, kind: Cluster, current: 'false', failed: 'true'}",
        "--health-rules team.yaml",
    )
    assert compute(cluster).status is Status.CURRENT
    assert compute(cluster, rules=rules).status is Status.FAILED


def test_a_syncs_rules_for_a_kind_replace_every_version_of_the_agent_wide_ones() -> None:
    agent_wide = load_rules(
        "- {apiVersion: db.example.com/v1, kind: Database, current: 'true'}\n"
        "- {apiVersion: db.example.com/v2, kind: Database, current: 'true'}\n",
        "--health-rules team.yaml",
    )
    sync = Sync.model_validate(
        {
            "apiVersion": "gitmoor.io/v1alpha1",
            "kind": "Sync",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "sourceRef": {"name": "fleet"},
                "healthCheckExprs": [
                    {"apiVersion": "db.example.com/v2", "kind": "Database", "current": "false"}
                ],
            },
        }
    )
    rules = sync_rules(sync.spec.health_check_exprs, agent_wide)
    for version in ("v1", "v2"):
        found = find(rules, "db.example.com", version, "Database")
        assert found is not None
        assert found.origin == "spec.healthCheckExprs[0] (Database)"


@pytest.mark.parametrize("group", ["*example.com", "db.*.com", "*.*.com"])
def test_a_group_family_is_a_dotted_suffix(group: str) -> None:
    with pytest.raises(RuleError, match="a group family is written"):
        load_rules(f"- {{apiVersion: '{group}/v1', kind: '*', current: 'true'}}", "rules.yaml")


def test_the_readme_lists_the_library_as_it_is() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    start, end = "<!-- health-library:start -->\n", "<!-- health-library:end -->"
    listed = readme[readme.index(start) + len(start) : readme.index(end)]
    assert listed == markdown(), "run `python -m gitmoor.health.coverage` and paste it"


def test_rules_do_not_see_managed_fields() -> None:
    """They are not converted for CEL (the largest part of most live objects, never judged)."""
    rules = load_rules(
        "- {apiVersion: db.example.com/v1, kind: Database,"
        " failed: 'has(self.metadata.managedFields)', current: 'true'}",
        "rules.yaml",
    )
    obj = {**_object("db.example.com/v1", "Database"), "status": {}}
    obj["metadata"] = {**obj["metadata"], "managedFields": [{"manager": "kubectl"}]}
    assert compute(obj, rules=rules).status is Status.CURRENT
    assert obj["metadata"]["managedFields"] == [{"manager": "kubectl"}]


LIBRARY_DIR = Path(__file__).parents[3] / "src" / "gitmoor" / "health" / "library"


@pytest.mark.parametrize("file", sorted(p.name for p in LIBRARY_DIR.glob("*.yaml")))
def test_every_rule_names_the_documentation_it_follows(file: str) -> None:
    """Each rule (not a `<<:` copy of one) has a URL in the comment block above it."""
    lines = (LIBRARY_DIR / file).read_text().splitlines()
    undocumented = []
    for index, line in enumerate(lines):
        if not line.startswith("- ") or line.startswith(("- {<<:", "- <<:")):
            continue
        above = index - 1
        while above >= 0 and not lines[above].startswith("#"):
            above -= 1  # the lines of the rule before, if any
        comments = []
        while above >= 0 and lines[above].startswith("#"):
            comments.append(lines[above])
            above -= 1
        if not any("https://" in comment for comment in comments):
            undocumented.append(f"{file}:{index + 1}")
    assert not undocumented


def test_a_rules_file_may_say_unknown() -> None:
    """Beyond Flux's shape: tried after failed, before current."""
    rules = load_rules(
        "- apiVersion: db.example.com/v1\n"
        "  kind: Database\n"
        "  failed: \"status.phase == 'Failed'\"\n"
        "  unknown: \"status.phase in ['Failed', 'Lost']\"\n"
        "  current: \"status.phase in ['Running', 'Lost']\"\n",
        "rules.yaml",
    )
    base = _object("db.example.com/v1", "Database")
    judged = {
        phase: compute({**base, "status": {"phase": phase}}, rules=rules).status
        for phase in ("Failed", "Lost", "Running")
    }
    assert judged == {"Failed": Status.FAILED, "Lost": Status.UNKNOWN, "Running": Status.CURRENT}


def test_expressions_with_comments_and_lines_judge_as_written() -> None:
    rules = load_rules(
        "- apiVersion: db.example.com/v1\n"
        "  kind: Database\n"
        "  failed: |\n"
        "    status.phase == 'Failed' // the operator gave up\n"
        "  current: |\n"
        "    status.phase ==\n"
        "      'Running'\n",
        "rules.yaml",
    )
    base = _object("db.example.com/v1", "Database")
    judged = {
        phase: compute({**base, "status": {"phase": phase}}, rules=rules).status
        for phase in ("Failed", "Running", "Pending")
    }
    assert judged == {
        "Failed": Status.FAILED,
        "Running": Status.CURRENT,
        "Pending": Status.IN_PROGRESS,
    }
