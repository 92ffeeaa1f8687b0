"""A Helm chart directory, rendered offline like `helm template`.

Values: the chart's `values.yaml`, then each of `values_files` in order, then `values`, merged
deeply (a mapping merges key by key, anything else replaces; a null removes a chart default).
Objects from the chart's `crds/` come first. NOTES.txt is not an object and test hooks
(`helm.sh/hook: test...`) are not part of a release's running state: both are left out. Other
hooks keep their annotations: the plan runs them at their moment (`gitmoor.model.hooks`).
`.Release` is filled as `helm template` fills it (an install, revision 1), and `.Capabilities`
with the cluster's version and API versions when the options carry them.

The Helm SDK runs in a worker process (`gitmoor.render.helm_worker`), never in this one. The
values files and the SDK's answer are read in the render worker, with `gitmoor.render.helm_values`
and `gitmoor.render.helm_output`: this module is the agent's side, which the render worker never
imports (it would bring asyncio with it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson

from gitmoor.errors import RenderError
from gitmoor.model import Manifest
from gitmoor.render import chartdeps, pool, wire
from gitmoor.render.digest import json_default
from gitmoor.render.helm_values import merge_values
from gitmoor.render.options import RenderOptions
from gitmoor.render.paths import check_tree
from gitmoor.render.process import ToolTimeoutError, clean_env, out_of_memory, run_tool
from gitmoor.render.tools import RenderTimeoutError

_TEMPLATE_AT = re.compile(r"[^\s(/]+/((?:charts/[^/\s]+/)*templates/[^\s:()]+):(\d+)")
_MAX_STDERR = 2000
# The worker must import this very gitmoor, installed or not.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


async def render_helm(
    root: Path,
    directory: Path,
    options: RenderOptions,
    *,
    values_at: tuple[Path, Path] | None = None,
) -> list[Manifest]:
    """The objects the chart in `directory` renders to; `root` is the resolved artifact.

    `values_at` is (root, directory) of where `options.values_files` are read when that is not
    the chart itself (a chart from a repository, its values in Git)."""
    await asyncio.to_thread(check_tree, root, directory)
    values_root, values_dir = values_at or (root, directory)
    values = await _user_values(values_root, values_dir, options)
    chart = directory
    fetcher = options.dependencies
    if fetcher is not None and await asyncio.to_thread(chartdeps.missing, directory):
        have = await asyncio.to_thread(chartdeps.vendored, directory)
        fetched = await fetcher(root, directory, have)
        chart = await asyncio.to_thread(chartdeps.with_dependencies, directory, fetched)
    try:
        return await _render_chart(chart, values, options)
    finally:
        if chart != directory:
            await asyncio.to_thread(shutil.rmtree, chart.parent, True)


async def _render_chart(
    chart: Path, values: dict[str, Any], options: RenderOptions
) -> list[Manifest]:
    await asyncio.to_thread(chartdeps.check_vendored, chart)
    request = orjson.dumps(
        {
            "chart": str(chart),
            "values": values,
            "release_name": options.release_name,
            "namespace": options.namespace,
            **(
                {
                    "kube_version": options.capabilities.kube_version,
                    "api_versions": list(options.capabilities.api_versions),
                }
                if options.capabilities is not None
                else {}
            ),
        },
        default=json_default,
        option=orjson.OPT_NON_STR_KEYS,
    )
    answer = await _run_worker(request, options.timeout, options.limits.max_tool_memory)
    error = answer.get("error")
    if isinstance(error, dict):
        raise _helm_error(str(error.get("kind")), str(error.get("message", "")))
    parsed = await pool.ask(
        "helm-output",
        {"answer": answer},
        what="Chart.yaml: the chart's output",
        limits=options.limits,
        time_limit=options.timeout,
    )
    manifests = wire.manifests_from(parsed)
    # Templates that leave the namespace out go to the release's, as with `helm install -n`.
    return [dataclasses.replace(m, default_namespace=options.namespace) for m in manifests]


async def _user_values(root: Path, directory: Path, options: RenderOptions) -> dict[str, Any]:
    """The values files merged in order (read in the render worker), then `options.values`."""
    values: dict[str, Any] = {}
    if options.values_files:
        answer = await pool.ask(
            "helm-values",
            {"root": str(root), "directory": str(directory), "files": options.values_files},
            what="the values files",
            limits=options.limits,
            time_limit=options.timeout,
        )
        values = answer["value"]
    return merge_values(values, options.values)


async def _run_worker(request: bytes, time_limit: float, memory: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "gitmoor.render.helm_worker"]
    try:
        done = await run_tool(
            argv,
            env=clean_env(PYTHONPATH=_PACKAGE_PARENT),
            time_limit=time_limit,
            stdin=request,
            memory=memory,
        )
    except ToolTimeoutError as err:
        raise RenderTimeoutError(f"Chart.yaml: helm: {err}") from err
    tail = done.stderr.decode(errors="replace").strip()[-_MAX_STDERR:]
    if done.returncode != 0 and out_of_memory(done.stderr):
        raise RenderError(
            f"helm: rendering the chart needed more than {memory // (1 << 20)} MiB "
            "(--max-tool-memory)",
            file="Chart.yaml",
        )
    if done.returncode != 0:
        raise RenderError(f"the Helm renderer failed (exit {done.returncode}): {tail}")
    try:
        answer = orjson.loads(done.stdout)
    except orjson.JSONDecodeError as err:
        raise RenderError(f"the Helm renderer answered garbage: {err}; {tail}") from err
    if not isinstance(answer, dict):
        raise RenderError("the Helm renderer answered garbage: not a JSON object")
    return answer


def _helm_error(kind: str, message: str) -> RenderError:
    text = message.strip()
    if kind == "render":
        at = _TEMPLATE_AT.search(text)
        if at:
            return RenderError(f"helm: {text}", file=at.group(1), line=int(at.group(2)))
        return RenderError(f"helm: {text}")
    if kind == "values":
        return RenderError(f"invalid values: {text}")
    if kind == "chart":
        return RenderError(f"cannot load the chart: {text}", file="Chart.yaml")
    if kind == "release":
        return RenderError(f"invalid Helm release: {text}")
    return RenderError(f"helm: {text}")
