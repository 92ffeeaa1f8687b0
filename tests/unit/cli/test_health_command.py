"""`gitmoor health -f`: the verdict for objects saved from a cluster, the rule that decided, and
the exit code scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gitmoor.cli.app import app

FAILED_CERTIFICATE = """\
apiVersion: v1
kind: List
items:
- apiVersion: cert-manager.io/v1
  kind: Certificate
  metadata: {name: web-tls, namespace: shop, generation: 1}
  status:
    conditions:
      - {type: Issuing, status: "False", reason: Failed, message: the ACME order failed}
- apiVersion: db.example.com/v1
  kind: Database
  metadata: {name: orders, namespace: shop}
  status: {phase: Resizing}
"""
RULES = """\
- apiVersion: db.example.com/v1
  kind: Database
  inProgress: "status.phase in ['Pending', 'Resizing']"
  current: "status.phase == 'Running'"
"""


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    (tmp_path / "objects.yaml").write_text(FAILED_CERTIFICATE)
    (tmp_path / "rules.yaml").write_text(RULES)
    result = CliRunner().invoke(app, ["health", "-f", str(tmp_path / "objects.yaml"), *args])
    return result.exit_code, result.output


def test_the_verdict_the_rule_and_why_for_each_object(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "--rules", str(tmp_path / "rules.yaml"), "-o", "json")
    rows = json.loads(output)
    assert code == 1
    assert [(r["subject"], r["status"]) for r in rows] == [
        ("Certificate/shop/web-tls", "Failed"),
        ("Database/shop/orders", "InProgress"),
    ]
    assert rows[0]["message"] == "Issuing=False: Failed: the ACME order failed"
    assert rows[0]["rule"].startswith("library/cert-manager.yaml[0] (Certificate); failed is true")
    assert rows[1]["rule"] == (
        f"--rules {tmp_path / 'rules.yaml'}[0] (Database); inProgress is true: "
        "status.phase in ['Pending', 'Resizing']"
    )


def test_without_rules_the_generic_table_decides(tmp_path: Path) -> None:
    code, output = _run(tmp_path)
    assert code == 1
    assert "Database/shop/orders: InProgress: phase is Resizing" in output
    assert "decided by: generic table" in output


def test_a_rule_that_does_not_compile_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {apiVersion: a/v1, kind: K, current: 'x =='}\n")
    code, output = _run(tmp_path, "--rules", str(bad))
    assert code == 2
    assert "does not compile" in output
