"""The GitSource `ignore` field follows gitignore rules, and `.git` is always left out."""

import pytest

from gitmoor.sources.ignore import IgnoreRules

RULES = """
# comments and blank lines are allowed

docs/
*.md
!README.md
/root-only.txt
sub/*
!sub/keep
build/**/*.tmp
"""


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("app/deploy.yaml", False),
        ("docs/guide.txt", True),
        ("nested/docs/guide.txt", True),
        ("notes.md", True),
        ("app/notes.md", True),
        ("README.md", False),
        ("app/README.md", False),
        ("root-only.txt", True),
        ("app/root-only.txt", False),
        ("sub/file", True),
        ("sub/dir/file", True),
        ("sub/keep", False),
        ("sub/keep/inner", False),
        ("build/a/b/x.tmp", True),
        ("build/x.yaml", False),
    ],
)
def test_gitignore_patterns(path: str, ignored: bool) -> None:
    assert IgnoreRules(RULES).ignores(path) is ignored


def test_a_negation_cannot_reach_into_an_ignored_directory() -> None:
    # As in Git: once docs/ is ignored, nothing below it comes back.
    rules = IgnoreRules("docs/\n!docs/keep.md\n")
    assert rules.ignores("docs/keep.md")
    assert rules.ignores("docs/deep/keep.md")


def test_a_negation_works_for_files_matched_by_a_glob() -> None:
    rules = IgnoreRules("docs/*\n!docs/keep.md\n")
    assert not rules.ignores("docs/keep.md")
    assert rules.ignores("docs/other.md")
    assert rules.ignores("docs/sub/keep.md")  # docs/sub itself matches docs/*


@pytest.mark.parametrize("patterns", [None, "", "*.log"])
@pytest.mark.parametrize("path", [".git/config", "vendor/.git/HEAD", "a/.GIT/x", ".git"])
def test_dot_git_is_always_ignored(patterns: str | None, path: str) -> None:
    assert IgnoreRules(patterns).ignores(path)


def test_no_patterns_keep_everything_else() -> None:
    rules = IgnoreRules(None)
    assert not rules.ignores("app/deploy.yaml")
    assert not rules.ignores(".gitignore")
    assert not rules.ignores(".github/workflows/ci.yaml")
