"""`gitmoor health -f OBJECT.yaml [--rules FILE]`: the health gitmoor sees in objects saved from a
cluster (`kubectl get -o yaml`), which rule decided and why. Offline, for debugging a rule.

Exit codes: 0 when every object is Current, 1 otherwise, 2 for a file or rule that cannot be read.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape

from gitmoor.cli.common import FAILED, OK, USAGE, err, out, read_rules
from gitmoor.model import ObjectRef, Status


class Format(enum.StrEnum):
    text = "text"
    json = "json"


def health(
    filename: str = typer.Option(
        ..., "-f", "--filename", help="YAML of one or more objects, or a List ('-': stdin)."
    ),
    rules: Path | None = typer.Option(
        None,
        "--rules",
        help="Health rules to judge by, as `gitmoor run --health-rules` takes them (a YAML list "
        "in Flux's healthCheckExprs shape).",
    ),
    output: Format = typer.Option(Format.text, "-o", "--output"),
) -> None:
    """Judge the health of objects offline: the verdict, the rule that decided, and why."""
    from gitmoor.health import explain

    overrides = read_rules(rules, "--rules", code=USAGE)
    objects = _objects(filename)
    verdicts = [explain(obj, rules=overrides) for obj in objects]
    if output is Format.json:
        rows = [
            {
                "subject": _subject(v.health.ref),
                "status": v.health.status.value,
                "message": v.health.message,
                "rule": v.rule,
            }
            for v in verdicts
        ]
        out.print_json(json.dumps(rows))
    else:
        for v in verdicts:
            colour = {Status.CURRENT: "green", Status.FAILED: "red"}.get(v.health.status, "yellow")
            out.print(
                f"{escape(_subject(v.health.ref))}: [{colour}]{v.health.status.value}[/{colour}]"
                + (f": {escape(v.health.message)}" if v.health.message else ""),
                highlight=False,
            )
            out.print(f"  decided by: {escape(v.rule)}", highlight=False)
    healthy = all(v.health.status is Status.CURRENT for v in verdicts)
    raise typer.Exit(OK if healthy else FAILED)


def _objects(filename: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
        documents = list(yaml.safe_load_all(text))
    except (OSError, yaml.YAMLError) as problem:
        err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
        raise typer.Exit(USAGE) from None
    objects: list[dict[str, Any]] = []
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        # `kubectl get -o yaml` of several objects is one List.
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(i for i in doc["items"] if isinstance(i, dict))
        else:
            objects.append(doc)
    if not objects:
        err.print(f"[red]error:[/red] no object in {escape(filename)}", highlight=False)
        raise typer.Exit(USAGE)
    return objects


def _subject(ref: ObjectRef) -> str:
    return "/".join(p for p in (ref.kind, ref.namespace, ref.name) if p)
