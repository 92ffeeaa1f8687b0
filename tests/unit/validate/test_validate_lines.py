"""Problems point at the offending field's line, and print as `file:line: object: field: ...`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitmoor.validate.lines import Locator
from gitmoor.validate.problems import Problem, Severity, field_path, parse_field_path, sort_key

MANIFESTS = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: first
    data:
      a: "1"
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
            - name: web
              image: nginx
            - name: sidecar
              port: 80
    ---
    apiVersion: v1
    kind: List
    items:
      - apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          ports: []
    """
)


@pytest.fixture
def locator(tmp_path: Path) -> Locator:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "all.yaml").write_text(MANIFESTS)
    return Locator(tmp_path)


def deployment() -> dict[str, object]:
    return {"kind": "Deployment", "metadata": {"name": "web"}}


def test_a_field_is_found_by_the_document_line_and_its_path(locator: Locator) -> None:
    file = Path("apps/all.yaml")
    path = ("spec", "template", "spec", "containers", 1, "port")
    assert locator.line(file, deployment(), 8, path) == 19
    assert locator.line(file, deployment(), 8, ("spec", "template", "spec", "containers", 1)) == 18


def test_a_missing_field_points_at_the_deepest_part_that_exists(locator: Locator) -> None:
    file = Path("apps/all.yaml")
    assert locator.line(file, deployment(), 8, ("spec", "selector")) == 12
    assert locator.line(file, deployment(), 8, ("metadata", "namespace")) == 10
    assert locator.line(file, deployment(), 8, ()) == 8


def test_items_of_a_list_are_objects_with_lines_of_their_own(locator: Locator) -> None:
    service = {"kind": "Service", "metadata": {"name": "web"}}
    assert locator.line(Path("apps/all.yaml"), service, 24, ("spec", "ports")) == 29


def test_an_object_without_a_line_is_found_by_kind_and_name(locator: Locator) -> None:
    assert locator.line(Path("apps/all.yaml"), deployment(), None, ("spec",)) == 12
    unknown = {"kind": "Deployment", "metadata": {"name": "api"}}
    assert locator.line(Path("apps/all.yaml"), unknown, None, ("spec",)) is None


def test_files_that_cannot_be_read_or_parsed_keep_the_document_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: x\n bad: [\n")
    locator = Locator(tmp_path)
    assert locator.line(Path("bad.yaml"), {}, 1, ("metadata", "name")) == 1
    assert locator.line(Path("gone.yaml"), {}, 4, ("spec",)) == 4
    template = "metadata:\n  name: {{ .Release.Name }}\n"
    (tmp_path / "t.yaml").write_text(template)
    assert locator.line(Path("t.yaml"), deployment(), None, ("spec",)) is None


def test_problems_read_file_line_object_field_message() -> None:
    problem = Problem("apps/web.yaml", 7, "Deployment/web/web", "spec.replicas", "bad")
    assert str(problem) == "apps/web.yaml:7: Deployment/web/web: spec.replicas: bad"
    warning = Problem("a.yaml", None, "", "", "odd", Severity.WARNING)
    assert str(warning) == "a.yaml: warning: odd"


def test_problems_sort_by_file_then_line() -> None:
    problems = [
        Problem("b.yaml", 1, "", "", "x"),
        Problem("a.yaml", 10, "", "", "x"),
        Problem("a.yaml", 9, "", "", "x"),
        Problem("a.yaml", None, "", "", "x"),
    ]
    ordered = [p.where for p in sorted(problems, key=sort_key)]
    assert ordered == ["a.yaml", "a.yaml:9", "a.yaml:10", "b.yaml:1"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "containers", 0, "image"), "spec.containers[0].image"),
        (("metadata", "annotations", "gitmoor.io/order"), "metadata.annotations[gitmoor.io/order]"),
        (("spec", "dependsOn", 1), "spec.dependsOn[1]"),
    ],
)
def test_field_paths_print_and_parse_back(path: tuple[str | int, ...], text: str) -> None:
    assert field_path(path) == text
    assert parse_field_path(text) == path
