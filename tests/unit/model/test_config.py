"""Configuration files: GitSource and Sync documents, validated, with every problem reported by
file, line, object and field."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from gitmoor.model.config import ConfigError, load_documents, to_document
from gitmoor.model.resources import GitSource, Sync

SOURCE = """\
apiVersion: gitmoor.io/v1alpha1
kind: GitSource
metadata:
  name: apps
  namespace: apps
spec:
  url: https://git.example.com/org/apps.git
  ref:
    branch: main
"""

SYNC = """\
apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata:
  name: web
  namespace: apps
  labels:
    team: web
spec:
  sourceRef:
    name: apps
  path: ./web
  interval: 2m
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_documents(text, source="gitmoor.yaml")
    return [str(p) for p in caught.value.problems]


def test_documents_load_in_file_order_with_model_defaults() -> None:
    loaded = load_documents(f"---\n{SOURCE}---\n{SYNC}---\n", source="gitmoor.yaml")
    assert [type(r) for r in loaded] == [GitSource, Sync]
    source, sync = loaded
    assert isinstance(source, GitSource)
    assert isinstance(sync, Sync)
    assert source.spec.ref.branch == "main"
    assert source.spec.interval == "1m"
    assert sync.spec.interval == "2m"
    assert sync.spec.prune is True
    assert sync.metadata.namespace == "apps"


def test_an_empty_file_holds_no_documents() -> None:
    assert load_documents("") == []
    assert load_documents("---\n# nothing yet\n---\n") == []


def test_a_bad_field_is_reported_with_file_line_object_and_field() -> None:
    text = SOURCE + "---\n" + SYNC.replace("interval: 2m", "interval: 5 minutes")
    assert _problems(text) == [
        "gitmoor.yaml:22: Sync/apps/web: spec.interval: "
        "invalid duration '5 minutes': expected e.g. 30s, 5m, 1h30m"
    ]


def test_a_sync_needs_a_source_or_a_chart_with_inline_values() -> None:
    sync = "apiVersion: gitmoor.io/v1alpha1\nkind: Sync\nmetadata: {name: web}\nspec:\n"
    cases = {
        "  path: ./web\n": "sourceRef is required (without one, chartRef and helm.values)",
        "  chartRef: {name: web}\n  path: ./web\n": "path is a directory of the sourceRef's",
        "  chartRef: {name: web}\n  helm: {valuesFiles: [v.yaml]}\n": "read from Git",
        "  chartRef: {name: web}\n  decryption: {secretRef: {name: k}}\n": "set sourceRef",
    }
    for spec, words in cases.items():
        with pytest.raises(ConfigError) as caught:
            load_documents(sync + spec, source="gitmoor.yaml")
        assert words in str(caught.value), spec
    (loaded,) = load_documents(sync + "  chartRef: {name: web}\n  helm: {values: {a: 1}}\n")
    assert loaded.spec.source_ref is None


def test_every_problem_of_the_file_is_reported_at_once() -> None:
    text = textwrap.dedent("""\
        apiVersion: gitmoor.io/v1alpha1
        kind: GitSource
        metadata:
          name: apps
        spec:
          url: https://git.example.com/org/apps.git
          ref:
            branch: main
            tag: v1.0.0
          intervall: 1m
        ---
        apiVersion: gitmoor.io/v1alpha1
        kind: Sync
        metadata:
          name: web
        spec:
          path: ../elsewhere
          healthChecks:
            - apiVersion: apps/v1
              kind: Deployment
              name: Web
        """)
    with pytest.raises(ConfigError) as caught:
        load_documents(text, source="gitmoor.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "gitmoor.yaml:7: GitSource/default/apps: spec.ref: "
        "ref takes one of branch, tag, semver, commit; got branch, tag",
        "gitmoor.yaml:10: GitSource/default/apps: spec.intervall: unknown field",
        "gitmoor.yaml:21: Sync/default/web: spec.healthChecks[0].name: 'Web' is not a name of "
        "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ]
    # One message carries them all, one per line.
    assert str(caught.value).count("\n") == len(caught.value.problems) - 1
    first = caught.value.problems[0]
    assert (first.source, first.line, first.subject, first.field) == (
        "gitmoor.yaml",
        7,
        "GitSource/default/apps",
        "spec.ref",
    )


def test_documents_that_are_not_gitmoor_resources_are_named_by_position() -> None:
    text = "- just\n- a list\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    assert _problems(text) == [
        "gitmoor.yaml:1: document 1: expected a mapping",
        "gitmoor.yaml:5: Deployment/default/web: kind: expected GitSource, ChartSource, "
        "OCISource or Sync (gitmoor.io/v1alpha1), got 'Deployment'",
    ]


def test_a_missing_name_and_a_wrong_api_version_are_reported() -> None:
    text = SOURCE.replace("gitmoor.io/v1alpha1", "gitmoor.io/v1").replace("  name: apps\n", "")
    assert _problems(text) == [
        "gitmoor.yaml:1: document 1: apiVersion: Input should be 'gitmoor.io/v1alpha1'",
        "gitmoor.yaml:3: document 1: metadata.name: required field is missing",
    ]


def test_yaml_syntax_errors_name_the_line() -> None:
    (problem,) = _problems(SOURCE + "---\nkind: Sync\nspec: [unclosed\nmetadata: {}\n")
    assert problem.startswith("gitmoor.yaml:13: invalid YAML: ")


def test_tags_that_would_build_objects_are_refused() -> None:
    text = SOURCE.replace("  url: https", "  url: !!python/object/apply:os.getcwd []\n  x: https")
    (problem,) = _problems(text)
    assert problem.startswith("gitmoor.yaml:7: document 1: invalid YAML: could not determine")


def test_duplicate_keys_and_duplicate_objects_are_refused() -> None:
    text = SOURCE.replace("  ref:\n", "  url: https://other.example.com/x.git\n  ref:\n")
    assert _problems(text) == [
        "gitmoor.yaml:8: GitSource/apps/apps: spec.url: duplicate key: YAML keeps only the last"
    ]
    assert _problems(SOURCE + "---\n" + SOURCE) == [
        "gitmoor.yaml:11: GitSource/apps/apps: defined twice (first on line 1)"
    ]


def test_to_document_is_what_to_apply() -> None:
    source, sync = load_documents(SOURCE + "---\n" + SYNC)
    doc = to_document(sync)
    assert doc["apiVersion"] == "gitmoor.io/v1alpha1"
    assert doc["kind"] == "Sync"
    assert doc["metadata"] == {"name": "web", "namespace": "apps", "labels": {"team": "web"}}
    assert doc["spec"]["sourceRef"] == {"kind": "GitSource", "name": "apps"}
    assert doc["spec"]["interval"] == "2m"
    assert "status" not in doc
    assert "targetNamespace" not in doc["spec"]  # unset stays unset, never null
    # The document loads back into the same resource.
    assert load_documents(yaml.safe_dump_all([to_document(source), doc])) == [source, sync]


def test_to_document_drops_status_and_what_the_api_server_set() -> None:
    live = yaml.safe_load(SOURCE)
    live["metadata"].update(
        uid="0b6f5c1e-1111-2222-3333-444455556666",
        resourceVersion="812",
        generation=3,
        creationTimestamp="2026-01-02T03:04:05Z",
        managedFields=[{"manager": "gitmoor"}],
        annotations={"note": "kept"},
    )
    live["status"] = {"observedGeneration": 3, "conditions": []}
    doc = to_document(GitSource.model_validate(live))
    assert doc["metadata"] == {"name": "apps", "namespace": "apps", "annotations": {"note": "kept"}}
    assert "status" not in doc


def test_checks_of_a_whole_spec_point_at_the_spec() -> None:
    text = SOURCE + "---\n" + SYNC.replace("path: ./web", "path: ../elsewhere")
    assert _problems(text) == [
        "gitmoor.yaml:18: Sync/apps/web: spec: "
        "path '../elsewhere' must stay inside the source (no '..', not absolute)"
    ]
