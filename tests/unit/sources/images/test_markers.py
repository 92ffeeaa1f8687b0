"""Marker edits change the marked scalar and nothing else, byte for byte."""

from __future__ import annotations

import pytest
import yaml

from gitmoor.sources.images.markers import Field, Image, find, parse_marker, plan, written

DEPLOYMENT = """\
# The web front end.   Comments, odd  spacing and key order stay.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.test/team/web:1.0.0 # {"$imagepolicy": "apps:web"}
          args: ["--port",   "8080"]   # flow style kept
        - name: sidecar
          image: "registry.test/team/side:0.1"   # {"$imagepolicy": "apps:side"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data:
  untouched: registry.test/team/web:1.0.0
"""

KUSTOMIZATION = """\
resources: [deployment.yaml]
images:
  - name: web
    newName: registry.test/team/web # {"$imagepolicy": "apps:web:name"}
    newTag: '1.0.0' # {"$imagepolicy": "apps:web:tag"}
    digest: sha256:0000 # {"$imagepolicy": "apps:web:digest"}
"""

VALUES = (
    "image:\r\n"
    '  repository: registry.test/team/web  # {"$imagepolicy": "apps:web:name"}\r\n'
    '  tag: 1.0.0 # {"$imagepolicy": "apps:web:tag"}\r\n'
)

WEB = Image("registry.test/team/web", "1.10", "sha256:" + "a" * 64)


def test_a_plain_manifest_changes_only_the_marked_scalar() -> None:
    result = plan(
        {"d.yaml": DEPLOYMENT.encode()}, {"apps/web": WEB, "apps/side": None}, namespace="apps"
    )
    expected = DEPLOYMENT.replace(
        "image: registry.test/team/web:1.0.0 #", "image: registry.test/team/web:1.10 #"
    )
    assert result.files == {"d.yaml": expected.encode()}
    assert [(c.line, c.old, c.new) for c in result.changes] == [
        (11, "registry.test/team/web:1.0.0", "registry.test/team/web:1.10")
    ]
    assert result.problems == ()
    assert result.seen == {"apps/web", "apps/side"}


def test_kustomization_images_keep_their_quoting_and_a_number_like_tag_stays_a_string() -> None:
    result = plan({"k.yaml": KUSTOMIZATION.encode()}, {"apps/web": WEB}, namespace="apps")
    text = result.files["k.yaml"].decode()
    assert text == KUSTOMIZATION.replace("'1.0.0'", "'1.10'").replace(
        "sha256:0000", WEB.digest or ""
    )
    assert yaml.safe_load(text)["images"][0]["newTag"] == "1.10"


def test_helm_values_with_crlf_line_endings() -> None:
    result = plan({"values.yaml": VALUES.encode()}, {"apps/web": WEB}, namespace="apps")
    text = result.files["values.yaml"].decode()
    # A plain 1.10 would read as a float: it is written quoted, the rest stays as it was.
    assert text == VALUES.replace("tag: 1.0.0 #", 'tag: "1.10" #')
    assert yaml.safe_load(text)["image"]["tag"] == "1.10"


def test_nothing_changes_when_the_values_are_already_there() -> None:
    done = plan({"d.yaml": DEPLOYMENT.encode()}, {"apps/web": WEB}, namespace="apps")
    again = plan(done.files, {"apps/web": WEB, "apps/side": None}, namespace="apps")
    assert again.files == {}
    assert again.changes == ()


def test_a_marker_naming_a_missing_policy_is_a_problem_with_its_place() -> None:
    result = plan({"d.yaml": DEPLOYMENT.encode()}, {"apps/web": WEB}, namespace="apps")
    assert [(p.where, p.message) for p in result.problems] == [
        ("d.yaml:14", "ImagePolicy apps/side does not exist")
    ]


def test_a_digest_marker_without_a_digest_is_a_problem() -> None:
    result = plan(
        {"k.yaml": KUSTOMIZATION.encode()},
        {"apps/web": Image("registry.test/team/web", "2.0.0")},
        namespace="apps",
    )
    assert [p.where for p in result.problems] == ["k.yaml:6"]


def test_files_that_are_not_yaml_or_have_no_marker_are_left_alone() -> None:
    files = {"bad.yaml": b'a: [\n# {"$imagepolicy": "apps:web"}\n', "plain.yaml": b"a: 1\n"}
    assert plan(files, {"apps/web": WEB}, namespace="apps").files == {}


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ('{"$imagepolicy": "ns:p"}', ("ns", "p", Field.IMAGE)),
        ('{"$imagepolicy": "ns:p:tag"}', ("ns", "p", Field.TAG)),
        ('{"$imagepolicy": "ns:p:name"}', ("ns", "p", Field.NAME)),
        ('{"$imagepolicy": "ns:p:digest"}', ("ns", "p", Field.DIGEST)),
        ('{"$imagepolicy": "p"}', ("here", "p", Field.IMAGE)),
        ('{"$imagepolicy": "ns:p:nonsense"}', None),
        ('{"$setter": "x"}', None),
        ("{not json", None),
    ],
)
def test_parse_marker(comment: str, expected: tuple[str, str, Field] | None) -> None:
    assert parse_marker(comment, namespace="here") == expected


def test_a_hash_inside_a_quoted_string_is_not_a_comment() -> None:
    text = 'a: "x # {\\"$imagepolicy\\": \\"apps:web\\"}"\n'
    assert list(find(text, "f.yaml")) == []


@pytest.mark.parametrize(
    ("value", "style", "out"),
    [
        ("1.2.3", "", "1.2.3"),
        ("1.10", "", '"1.10"'),
        ("true", "", '"true"'),
        ("it's", "'", "'it''s'"),
        ("a", '"', '"a"'),
    ],
)
def test_written(value: str, style: str, out: str) -> None:
    assert written(value, style) == out


def test_anchored_or_tagged_scalars_are_not_touched() -> None:
    text = (
        'a: &img r/web:1.0.0 # {"$imagepolicy": "apps:web"}\n'
        'b: !!str r/web:1.0.0 # {"$imagepolicy": "apps:web"}\n'
    )
    assert list(find(text, "f.yaml")) == []
