"""Each render worker stays small: it loads the blocking readers it runs and none of the agent's
asynchronous side. asyncio and ssl, with the sockets that importlib.metadata brings (read for
`gitmoor.__version__`), are some 5 MiB of every worker's memory, and the agent keeps several.

A fresh interpreter, as the worker is one: imports are per process, and this one has long
loaded them all.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

AGENT_SIDE = (
    "asyncio",
    "ssl",
    "socket",
    "concurrent.futures",
    "aiohttp",
    "gitmoor.render.pool",
    "gitmoor.render.process",
    "gitmoor.render.renderer",
    "gitmoor.render.helm",
    "gitmoor.render.kustomize",
)

# Imports the worker, then answers a request of every kind it serves; prints the agent-side
# modules loaded after each step.
PROGRAM = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    agent_side = sys.argv[2:]

    def loaded():
        return " ".join(m for m in agent_side if m in sys.modules) or "-"

    from gitmoor.model.limits import DEFAULT_LIMITS
    from gitmoor.render import wire, worker

    print(loaded())
    root = Path(sys.argv[1])
    common = {"limits": wire.limits_to_json(DEFAULT_LIMITS), "as_written": False}
    config = b"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
    requests = [
        ({"op": "plain", "root": str(root), "directory": str(root / "app"), "keys": None}, b""),
        (
            {
                "op": "kustomize-sops", "root": str(root), "directories": [str(root / "app")],
                "mirror": str(root / "mirror"), "rendered": str(root / "app"), "keys": None,
            },
            b"",
        ),
        (
            {
                "op": "kustomize-output", "target": str(root / "app"),
                "origin_base": str(root / "app"), "strip_origin": True,
                "directory": str(root / "app"), "kfile": "kustomization.yaml",
            },
            config,
        ),
        ({"op": "helm-output", "answer": {"templates": {"c/templates/c.yaml": config.decode()}}},
         b""),
        (
            {"op": "helm-values", "root": str(root), "directory": str(root / "chart"),
             "files": ["values.yaml"]},
            b"",
        ),
    ]
    for args, blob in requests:
        framed, go_on = worker.answer(wire.dump({**common, **args}), blob)
        answer = wire.loads(framed[wire.HEADER:])
        assert go_on and "errors" not in answer and "failed" not in answer, (args["op"], answer)
    print(loaded())
    """
)


def test_the_render_worker_loads_none_of_the_agents_asynchronous_side(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "values.yaml").write_text("replicas: 2\n")

    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path), *AGENT_SIDE],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    imported, answered = done.stdout.split("\n")[:2]
    assert imported == "-", f"importing the worker loaded {imported}"
    assert answered == "-", f"answering requests loaded {answered}"
