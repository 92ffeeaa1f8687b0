"""The image automation resources load through `load_documents` (as `validate` and `run
--config` read them) and refuse what cannot work, naming the field."""

from __future__ import annotations

import pytest

from gitmoor.model.config import ConfigError, load_documents
from gitmoor.model.images import ImagePolicy, ImageRepository, ImageUpdateAutomation

DOCS = """\
apiVersion: gitmoor.io/v1alpha1
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec:
  image: ghcr.io/org/web
  interval: 1m
  secretRef: {name: ghcr}
---
apiVersion: gitmoor.io/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}
  policy: {numerical: {order: asc}}
---
apiVersion: gitmoor.io/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: apps, namespace: apps}
spec:
  sourceRef: {name: config}
  git:
    checkout: {ref: {branch: main}}
    push: {branch: image-updates}
    commit:
      author: {name: bot, email: bot@example.com}
      signingKey: {secretRef: {name: signing}}
  update: {path: ./clusters/prod}
"""


def test_the_three_kinds_load() -> None:
    repo, policy, automation = load_documents(DOCS)
    assert isinstance(repo, ImageRepository)
    assert repo.spec.exclusion_list == [r"^.*\.sig$"]
    assert isinstance(policy, ImagePolicy)
    assert policy.spec.policy.numerical is not None
    assert isinstance(automation, ImageUpdateAutomation)
    assert automation.spec.git.push is not None
    assert automation.spec.git.push.branch == "image-updates"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("image: ghcr.io/org/web", "image: ghcr.io/org/web:1.0", "without scheme, tag or digest"),
        ("policy: {numerical: {order: asc}}", "policy: {}", "exactly one of"),
        (
            "policy: {numerical: {order: asc}}",
            "policy: {numerical: {}, alphabetical: {}}",
            "exactly one of",
        ),
        ("pattern: '^main", "pattern: '(^main", "not a regular expression"),
        ("path: ./clusters/prod", "path: ../other", "must stay inside the repository"),
    ],
)
def test_what_cannot_work_is_refused(old: str, new: str, message: str) -> None:
    assert old in DOCS
    with pytest.raises(ConfigError, match=message):
        load_documents(DOCS.replace(old, new))
