"""Render a Helm chart in a process of its own: `python -m gitmoor.render.helm_worker`.

The Helm SDK embeds a Go runtime, which does not survive `fork()` and brings its own threads and
memory: it is never loaded into the agent. The request arrives as one JSON object on stdin:

    {"chart": "/abs/chart/dir", "values": {...}, "release_name": "web", "namespace": "apps"}

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
            templates = chart.render(
                request["values"],
                name=request["release_name"],
                namespace=request["namespace"],
                revision=1,
                is_install=True,
            )
            crds = [{"filename": c["filename"], "data": c["data"]} for c in chart.crds]
    except helm_python.HelmError as err:
        kind = _KINDS.get(type(err).__name__, "helm")
        return {"error": {"kind": kind, "message": err.detail}}
    return {"templates": templates, "crds": crds}


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
