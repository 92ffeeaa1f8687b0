"""The Helm worker's answer (`gitmoor.render.helm_worker`) -> objects, read in the render worker
(`gitmoor.render.worker`, which imports no asyncio): CRDs first, NOTES.txt and test hooks
(`helm.sh/hook: test...`) left out, other hooks kept with their annotations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.model.limits import Limits
from gitmoor.render.documents import Document, parse_yaml
from gitmoor.render.objects import to_manifests
from gitmoor.render.problems import Problems

HOOK = "helm.sh/hook"


def parse_answer(answer: dict[str, Any], limits: Limits) -> list[Manifest]:
    """The objects of the Helm worker's answer: CRDs first, NOTES.txt and test hooks left out.
    Blocking (the render worker runs it)."""
    problems = Problems()
    manifests = to_manifests(_documents(answer, problems, limits), problems, limits)
    problems.raise_if_any()
    return manifests


def _documents(answer: dict[str, Any], problems: Problems, limits: Limits) -> Iterator[Document]:
    crds = sorted(answer.get("crds") or [], key=lambda c: str(c.get("filename", "")))
    for crd in crds:
        # CRD files are used as written: their lines are real.
        source = _in_chart(str(crd["filename"]))
        yield from _parse_file(str(crd["data"]), source, problems, limits, lines=True)
    templates: dict[str, str] = answer.get("templates") or {}
    for name in sorted(templates):
        if PurePosixPath(name).name == "NOTES.txt":
            continue
        parsed = _parse_file(templates[name], _in_chart(name), problems, limits, lines=False)
        for document in parsed:
            if not _is_test_hook(document.obj):
                yield document


def _parse_file(
    text: str, source: str, problems: Problems, limits: Limits, *, lines: bool
) -> Iterator[Document]:
    try:
        yield from parse_yaml(text, source, lines=lines, limits=limits)
    except RenderError as err:
        # A rendered template's line numbers are those of the output, not of the template.
        if lines or err.line is None:
            problems.add(err)
        else:
            problems.add(
                RenderError(f"{err.cause} (line {err.line} of the rendered output)", file=source)
            )


def _in_chart(name: str) -> str:
    """`templates/x.yaml` from `<chart>/templates/x.yaml`: relative to the chart directory."""
    return name.partition("/")[2] or name


def _is_test_hook(obj: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return False
    annotations = obj["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        return False
    hook = annotations.get(HOOK)
    if not isinstance(hook, str):
        return False
    return any(part.strip().startswith("test") for part in hook.split(","))
