"""Sync documents read for the PATHs they name: the repository's own files (`scan_repository`)
and `--sync FILE|DIR` (`read_sync_files`). Each case is a small tree of files written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.validate.syncfiles import read_sync_files, scan_repository

WEB = """\
apiVersion: gitmoor.io/v1alpha1
kind: Sync
metadata: {name: web, namespace: fleet}
spec: {sourceRef: {name: repo}, path: ./apps/web, targetNamespace: web}
"""
API = WEB.replace("name: web,", "name: api,").replace("apps/web", "apps/api")
INVALID = WEB.replace("path: ./apps/web", "path: ./apps/web, interval: soon")
SOURCE = """\
apiVersion: gitmoor.io/v1alpha1
kind: GitSource
metadata: {name: repo, namespace: fleet}
spec: {url: https://git.example.com/repo.git}
"""
FLUX = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: flux-system}
spec: {sourceRef: {kind: GitRepository, name: repo}, path: ./apps/web, targetNamespace: web}
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SCANS = [
    pytest.param(
        {"clusters/prod/syncs.yaml": WEB}, ["fleet/web@clusters/prod/syncs.yaml:1"], id="one"
    ),
    pytest.param(
        {"clusters/prod/syncs.yaml": f"{SOURCE}---\n{CONFIGMAP}---\n{WEB}---\n{API}"},
        ["fleet/web@clusters/prod/syncs.yaml:10", "fleet/api@clusters/prod/syncs.yaml:15"],
        id="among other documents, each at its line",
    ),
    pytest.param(
        {
            "b/syncs.yml": API,
            "a/syncs.json": '{"apiVersion": "gitmoor.io/v1alpha1", "kind": '
            '"Sync", "metadata": {"name": "j"}, "spec": {"sourceRef": {"name": "r"}, "path": "x"}}',
        },
        ["default/j@a/syncs.json:1", "fleet/api@b/syncs.yml:1"],
        id="yml and json files; a Sync without namespace is in default",
    ),
    pytest.param({".github/syncs.yaml": WEB, "apps/.hidden.yaml": WEB}, [], id="hidden: skipped"),
    pytest.param(
        {"charts/shop/Chart.yaml": "name: shop\n", "charts/shop/templates/sync.yaml": WEB},
        [],
        id="a chart's templates are not read",
    ),
    pytest.param({"clusters/syncs.txt": WEB, "clusters/flux.yaml": FLUX}, [], id="not a Sync"),
    pytest.param(
        {
            "clusters/bad.yaml": INVALID,
            "clusters/broken.yaml": "gitmoor.io/v1alpha1: [\n",
            "clusters/ok.yaml": API,
        },
        ["fleet/api@clusters/ok.yaml:1"],
        id="invalid Syncs and broken files are left to their own validation",
    ),
]


@pytest.mark.parametrize(("files", "expected"), SCANS)
def test_scan_repository_finds_the_valid_syncs(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    write(tmp_path, files)
    found = scan_repository(tmp_path)
    assert [f"{s.key}@{s.origin}" for s in found.syncs] == expected
    assert found.problems == ()


GIVEN = [
    pytest.param({"fleet/syncs.yaml": WEB}, ["fleet/web"], [], id="a file"),
    pytest.param(
        {"fleet/a.yaml": WEB, "fleet/b/c.yaml": API},
        ["fleet/web", "fleet/api"],
        [],
        id="a directory",
    ),
    pytest.param(
        {"fleet/syncs.yaml": f"{WEB}---\n{INVALID}"},
        ["fleet/web"],
        ["fleet/syncs.yaml:6: Sync/web: spec.interval: "],
        id="an invalid Sync is an error at its field",
    ),
    pytest.param(
        {"fleet/syncs.yaml": "kind: Sync\napiVersion: gitmoor.io/v1alpha1\nmetadata: [\n"},
        [],
        ["fleet/syncs.yaml:4: invalid YAML: "],
        id="broken YAML is an error at its line",
    ),
]


@pytest.mark.parametrize(("files", "expected", "problems"), GIVEN)
def test_sync_files_given_are_read_and_their_mistakes_reported(
    tmp_path: Path, files: dict[str, str], expected: list[str], problems: list[str]
) -> None:
    write(tmp_path, files)
    given = [tmp_path / "fleet"] if len(files) > 1 else [tmp_path / next(iter(files))]
    found = read_sync_files(given, tmp_path)
    assert [str(s.key) for s in found.syncs] == expected
    assert len(found.problems) == len(problems)
    for problem, start in zip(found.problems, problems, strict=True):
        assert str(problem).startswith(start), str(problem)
        assert problem.check == "sync-files"


def test_a_missing_file_given_is_an_error(tmp_path: Path) -> None:
    [problem] = read_sync_files([tmp_path / "gone.yaml"], tmp_path).problems
    assert str(problem) == "gone.yaml: cannot read: No such file or directory"
