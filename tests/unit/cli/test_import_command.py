"""`gitmoor import -f`: files, directories and stdin in; documents, files and the list of what
was not carried over out; the documented exit codes. (--from-cluster is tested against the
real control plane in tests/integration/test_import_cluster.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gitmoor.cli.app import app

REPO = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec:
  interval: 1m0s
  url: https://git.example.com/fleet.git
  ref: {branch: main}
  secretRef: {name: fleet-auth}
  ignore: |
    /docs
    *.md
"""
APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
  postBuild: {substitute: {cluster: prod}}
"""


def gitmoor(*args: str | Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["import", *(str(a) for a in args)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def flux(tmp_path: Path) -> Path:
    directory = tmp_path / "flux"
    (directory / "sources").mkdir(parents=True)
    (directory / "sources" / "fleet.yaml").write_text(REPO)
    (directory / "apps.yml").write_text(APPS)
    (directory / ".hidden.yaml").write_text("garbage: [\n")
    (directory / "README.md").write_text("not read\n")
    # A repository holds more than manifests: a chart's templates are not YAML until rendered.
    (directory / "charts" / "web" / "templates").mkdir(parents=True)
    (directory / "charts" / "web" / "Chart.yaml").write_text("apiVersion: v2\nname: web\n")
    (directory / "charts" / "web" / "templates" / "cm.yaml").write_text("{{ if .Values.x }}\n")
    return directory


def test_a_directory_becomes_gitmoor_documents_and_a_list_of_what_is_left(flux: Path) -> None:
    code, out, err = gitmoor("-f", flux)
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("GitSource", "fleet"),
        ("Sync", "apps"),
    ]
    assert documents[0]["spec"]["ignore"] == "/docs\n*.md\n"
    assert "ignore: |\n" in out  # multi-line patterns stay readable
    assert err.splitlines() == [
        "imported 2 resource(s) as 1 GitSource(s) and 1 Sync(s)",
        "not carried over (1):",
        "  Kustomization/flux-system/apps: spec.postBuild: gitmoor applies manifests as "
        "rendered, without variable substitution: write the values into the manifests or a "
        "Kustomize overlay",
        "carried over, but check (1):",
        "  GitRepository/flux-system/fleet: spec.secretRef: the Secret is referenced by name, "
        "not read or copied: gitmoor reads the keys username and password or bearerToken "
        "(HTTPS), identity and known_hosts (SSH) and caFile (a CA bundle); Flux's ca.crt must "
        "be copied to caFile, and client certificates (tls.crt, tls.key) have no equivalent",
    ]


def test_json_holds_the_items_and_both_lists(flux: Path) -> None:
    code, out, _ = gitmoor("-f", flux / "apps.yml", "-f", "-", "-o", "json", stdin=REPO)
    assert code == 0
    report = json.loads(out)
    assert [i["kind"] for i in report["items"]] == ["GitSource", "Sync"]
    assert report["notCarriedOver"] == [
        {
            "resource": "Kustomization/flux-system/apps",
            "field": "spec.postBuild",
            "reason": "gitmoor applies manifests as rendered, without variable substitution: "
            "write the values into the manifests or a Kustomize overlay",
        }
    ]
    assert [c["field"] for c in report["check"]] == ["spec.secretRef"]


def test_output_dir_gets_one_file_per_object(flux: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "gitmoor"
    code, out, _ = gitmoor("-f", flux, "--output-dir", target)
    assert (code, out) == (0, "")
    assert sorted(p.name for p in target.iterdir()) == [
        "gitsource-flux-system-fleet.yaml",
        "sync-flux-system-apps.yaml",
    ]
    [sync] = yaml.safe_load_all((target / "sync-flux-system-apps.yaml").read_text())
    assert sync["spec"]["path"] == "./apps"


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        ((), None, 2, "error: give -f FILE (or DIR, or - for stdin) or --from-cluster"),
        (("-f", "{missing}"), None, 2, "error: {missing}: no such file or directory"),
        (("-f", "-"), "a: [\n", 2, "error: <stdin>:2: invalid YAML: "),
        (("-f", "{flux}", "-n", "apps"), None, 2, "error: -n and -A choose the namespaces"),
        (("-f", "-", "-o", "toml"), "", 2, "error: Invalid value for '--output' / '-o'"),
        (
            ("-f", "-"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            1,
            "error: no Flux or Argo CD resources found in stdin",
        ),
    ],
)
def test_user_errors_are_one_line_and_the_documented_code(
    flux: Path, tmp_path: Path, args: tuple[str, ...], stdin: str | None, code: int, message: str
) -> None:
    names = {"flux": str(flux), "missing": str(tmp_path / "missing.yaml")}
    got, out, err = gitmoor(*(a.format(**names) for a in args), stdin=stdin)
    assert got == code
    assert out == ""
    assert err.startswith(message.format(**names)), err
    assert "Traceback" not in err


def test_a_file_of_a_directory_that_is_not_yaml_is_listed_a_file_named_is_an_error(
    flux: Path,
) -> None:
    (flux / "sources" / "broken.yaml").write_text("spec: [\n")
    code, out, err = gitmoor("-f", flux)
    assert code == 0, err
    assert [d["kind"] for d in yaml.safe_load_all(out)] == ["GitSource", "Sync"]
    assert err.splitlines()[-2:] == [
        "files not read (not YAML) (1):",
        f"  {flux / 'sources' / 'broken.yaml'}:2: invalid YAML: did not find expected node content",
    ]
    code, out, err = gitmoor("-f", flux / "sources" / "broken.yaml")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {flux / 'sources' / 'broken.yaml'}:2: invalid YAML")
