"""`gitmoor images`: image repositories, the tag each policy chose, the last update commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from gitmoor.cli.common import (
    ALL_NAMESPACES,
    CONTEXT,
    KUBECONFIG,
    NAMESPACE,
    NO_HEADERS,
    OUTPUT,
    Output,
    emit,
    err,
    kubeconfig_path,
    namespace_for,
    run_async,
)
from gitmoor.cli.table import Column, age, parse_time, print_table, short_sha, status_colour

if TYPE_CHECKING:
    from gitmoor.commands.images import AutomationRow, PolicyRow, RepositoryRow


_HEAD = (
    Column("NAMESPACE", identity=True),
    Column("NAME", identity=True),
    Column("READY", colour=status_colour),
    Column("STATUS"),
)
REPOSITORY_COLUMNS = (
    *_HEAD,
    Column("TAGS"),
    Column("LAST SCAN"),
    Column("IMAGE", flexible=True),
    Column("LATEST TAGS", wide_only=True),
    Column("MESSAGE", wide_only=True),
)
POLICY_COLUMNS = (
    *_HEAD,
    Column("TAG"),
    Column("PREVIOUS"),
    Column("POLICY", flexible=True),
    Column("REPOSITORY", wide_only=True),
    Column("DIGEST", wide_only=True),
    Column("MESSAGE", wide_only=True),
)
AUTOMATION_COLUMNS = (
    *_HEAD,
    Column("LAST COMMIT"),
    Column("PUSHED"),
    Column("BRANCH"),
    Column("SOURCE", wide_only=True),
    Column("PATH", wide_only=True),
    Column("LAST RUN", wide_only=True),
    Column("MESSAGE", flexible=True),
)


def _ago(value: str) -> str:
    when = parse_time(value)
    return age(when) if when else "-"


def _repository(r: RepositoryRow) -> list[str]:
    return [
        r.namespace,
        f"imagerepository/{r.name}",
        r.ready,
        r.ready_reason,
        "-" if r.tags is None else str(r.tags),
        _ago(r.last_scan),
        r.image,
        ", ".join(r.latest_tags[:5]),
        r.message,
    ]


def _policy(p: PolicyRow) -> list[str]:
    return [
        p.namespace,
        f"imagepolicy/{p.name}",
        p.ready,
        p.ready_reason,
        p.tag or "-",
        p.previous or "-",
        p.policy,
        p.repository,
        p.digest,
        p.message,
    ]


def _automation(a: AutomationRow) -> list[str]:
    return [
        a.namespace,
        f"imageupdateautomation/{a.name}",
        a.ready,
        a.ready_reason,
        short_sha(a.last_commit) or "-",
        _ago(a.last_push),
        a.branch,
        a.source,
        a.path,
        _ago(a.last_run),
        a.message,
    ]


def images(
    namespace: str | None = NAMESPACE,
    all_namespaces: bool = ALL_NAMESPACES,
    output: Output = OUTPUT,
    no_headers: bool = NO_HEADERS,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Show image repositories (tags, last scan), policies (the chosen tag) and update
    automations (the last commit pushed). The context's namespace unless -n or -A is given."""
    from gitmoor.commands.cluster import connect
    from gitmoor.commands.images import image_rows

    scope = "" if all_namespaces else namespace_for(namespace, kubeconfig, context)

    async def main() -> tuple[list[RepositoryRow], list[PolicyRow], list[AutomationRow]]:
        async with await connect(kubeconfig_path(kubeconfig), context) as kube:
            return await image_rows(kube, scope)

    repositories, policies, automations = run_async(main)
    if output in (Output.json, Output.yaml):
        emit(
            {
                "repositories": [r.as_dict() for r in repositories],
                "policies": [p.as_dict() for p in policies],
                "automations": [a.as_dict() for a in automations],
            },
            output,
        )
        return
    if output is Output.name:
        names = [
            *(f"imagerepository.gitmoor.io/{r.name}" for r in repositories),
            *(f"imagepolicy.gitmoor.io/{p.name}" for p in policies),
            *(f"imageupdateautomation.gitmoor.io/{a.name}" for a in automations),
        ]
        for name in names:
            typer.echo(name)
        return
    if not (repositories or policies or automations):
        where = "any namespace" if not scope else f"namespace {scope}"
        err.print(f"No image automation found in {where}.", highlight=False, soft_wrap=True)
        return
    drop = 0 if all_namespaces else 1
    wide = output is Output.wide
    printed = False
    tables: tuple[tuple[tuple[Column, ...], list[list[str]]], ...] = (
        (REPOSITORY_COLUMNS, [_repository(r) for r in repositories]),
        (POLICY_COLUMNS, [_policy(p) for p in policies]),
        (AUTOMATION_COLUMNS, [_automation(a) for a in automations]),
    )
    for columns, rows in tables:
        if not rows:
            continue
        if printed:
            typer.echo("")
        print_table(columns[drop:], [r[drop:] for r in rows], wide=wide, headers=not no_headers)
        printed = True
