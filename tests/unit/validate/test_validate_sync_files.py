"""Sync documents read for the PATHs they name: the repository's own files (`scan_repository`)
and `--sync FILE|DIR` (`read_sync_files`). Each case is a small tree of files written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.migrate import MARKERS, as_syncs
from gitmoor.validate.syncfiles import Foreign, read_sync_files, scan_repository

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


FOREIGN = Foreign(as_syncs, MARKERS)
HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: shop, namespace: flux-system}
spec:
  interval: 5m
  targetNamespace: shop
  chart: {spec: {chart: ./charts/shop, sourceRef: {kind: GitRepository, name: repo}}}
  values: {replicas: 2}
"""
APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: api, namespace: argocd}
spec:
  source: {repoURL: "https://git.example.com/repo.git", path: apps/api}
  destination: {server: https://kubernetes.default.svc, namespace: api}
  syncPolicy: {automated: {}}
"""
REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: flux-system}
spec: {interval: 5m, url: https://git.example.com/repo.git}
"""


def test_flux_and_argo_cd_documents_count_as_the_syncs_import_makes_of_them(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "clusters/prod/flux.yaml": f"{REPOSITORY}---\n{FLUX}---\n{HELM_RELEASE}",
            "clusters/prod/argo.yaml": APPLICATION,
        },
    )
    assert scan_repository(tmp_path).syncs == ()  # only with the conversion
    found = scan_repository(tmp_path, FOREIGN).syncs
    summary = [(s.kind, str(s.key), s.origin, s.path, s.sync.spec.target_namespace) for s in found]
    assert summary == [
        ("Application", "argocd/api", "clusters/prod/argo.yaml:1", "apps/api", "api"),
        ("Kustomization", "flux-system/web", "clusters/prod/flux.yaml:6", "apps/web", "web"),
        ("HelmRelease", "flux-system/shop", "clusters/prod/flux.yaml:11", "charts/shop", "shop"),
    ]
    shop = found[2].render_spec()
    assert (shop.release_name, shop.namespace, dict(shop.values)) == (
        "shop-shop",
        "shop",
        {"replicas": 2},
    )
    given = read_sync_files([tmp_path / "clusters" / "prod" / "flux.yaml"], tmp_path, FOREIGN)
    assert [s.kind for s in given.syncs] == ["Kustomization", "HelmRelease"]
