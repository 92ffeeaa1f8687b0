"""Render a Helm chart in a process of its own: `python -m gitmoor.render.helm_worker`.

The Helm SDK embeds a Go runtime, which does not survive `fork()` and brings its own threads and
memory: it is never loaded into the agent. The request arrives as one JSON object on stdin:

    {"chart": "/abs/chart/dir", "values": {...}, "release_name": "web", "namespace": "apps",
     "kube_version": "v1.37.2", "api_versions": ["v1", "apps/v1", "apps/v1/Deployment", ...]}

(the last two optional: without them `.Capabilities` holds Helm's defaults)

and the answer leaves as one JSON object on stdout, either

    {"templates": {"<chart>/templates/x.yaml": "<rendered text>", ...},
     "crds": [{"filename": "<chart>/crds/c.yaml", "data": "..."}, ...]}

or {"error": {"kind": "render" | "values" | "chart" | "release" | "helm", "message": "..."}}.
A non-zero exit means the worker itself broke; its stderr says how.
"""

from __future__ import annotations

import os
import sys
from typing import Any, BinaryIO

import orjson

_KINDS = {
    "HelmRenderError": "render",
    "HelmValuesError": "values",
    "HelmChartLoadError": "chart",
    "HelmChartInvalidError": "chart",
    "HelmInvalidArgError": "release",
}


def _render(request: dict[str, Any]) -> dict[str, Any]:
    import helm_python  # the Go runtime: only ever in this process

    try:
        helm_python.validate_release_name(request["release_name"])
        with helm_python.Chart.load(request["chart"]) as chart:
            templates = _render_chart(chart, request)
            crds = [{"filename": c["filename"], "data": c["data"]} for c in chart.crds]
    except helm_python.HelmError as err:
        kind = _KINDS.get(type(err).__name__, "helm")
        return {"error": {"kind": kind, "message": err.detail}}
    return {"templates": templates, "crds": crds}


def _render_chart(chart: Any, request: dict[str, Any]) -> dict[str, str]:
    """Render like `helm template --kube-version --api-versions`. The SDK's Python `render`
    does not pass these two on, but its library reads them from the same options object, so
    the options go to the library directly (the version is pinned; a test checks that
    `.Capabilities` shows them)."""
    from helm_python import _native

    options: dict[str, Any] = {
        "name": request["release_name"],
        "namespace": request["namespace"],
        "revision": 1,
        "is_install": True,
    }
    if request.get("kube_version"):
        options["kube_version"] = request["kube_version"]
    if request.get("api_versions"):
        options["api_versions"] = request["api_versions"]
    rendered = _native.call_string(
        "helm_render",
        chart._raw(),
        orjson.dumps(request["values"]).decode(),
        orjson.dumps(options).decode(),
    )
    templates: dict[str, str] = orjson.loads(rendered)
    return templates


def _private_stdout() -> BinaryIO:
    """The real stdout, kept for the answer; fd 1 then points at stderr so that anything the
    native library prints cannot corrupt the JSON."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return answer


def main() -> int:
    answer = _private_stdout()
    request = orjson.loads(sys.stdin.buffer.read())
    answer.write(orjson.dumps(_render(request)))
    answer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
