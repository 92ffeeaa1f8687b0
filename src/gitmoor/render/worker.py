"""The render worker: `python -m gitmoor.render.worker`, a long-lived child of the agent that
reads what a repository holds, so that reading it cannot take the agent down.

Everything that parses repository content runs here: plain YAML and JSON files, SOPS files
(through `sops`, a child of this process), Helm values files, and the YAML that kustomize and
Helm print. The agent starts it with a bounded address space (`--max-tool-memory`) and kills it
when a request runs past its time; the kernel's OOM killer picks it before the agent. Requests
and answers are frames on stdin and stdout (`gitmoor.render.wire`), one request at a time.

A worker that runs out of memory answers so and exits: the agent starts a fresh one.

It imports the blocking readers alone, never the agent's side of rendering (`helm`, `kustomize`,
`pool`): that brings asyncio and ssl, some 3 MiB more in every worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from gitmoor import memory
from gitmoor.errors import RenderError, RenderErrors
from gitmoor.model.limits import MIB
from gitmoor.render import helm_output, helm_values, kustomize_output, kustomize_sops, plain, wire

_LARGE = 16 * MIB  # after a request this large, freed heap goes back to the system


def _plain(args: dict[str, Any], _: bytes) -> dict[str, Any]:
    manifests = plain.render_plain(
        Path(args["root"]),
        Path(args["directory"]),
        wire.limits_from_json(args["limits"]),
        wire.decryptor_from_json(args["keys"]),
        as_written=args["as_written"],
    )
    return wire.manifests_answer(manifests)


def _kustomize_output(args: dict[str, Any], output: bytes) -> dict[str, Any]:
    manifests = kustomize_output.parse_output(
        output,
        kustomize_output.Build(
            Path(args["target"]), Path(args["origin_base"]), args["strip_origin"]
        ),
        Path(args["directory"]),
        args["kfile"],
        wire.limits_from_json(args["limits"]),
        as_written=args["as_written"],
    )
    return wire.manifests_answer(manifests)


def _kustomize_sops(args: dict[str, Any], _: bytes) -> dict[str, Any]:
    found = kustomize_sops.decrypt_into(
        Path(args["root"]),
        {Path(d) for d in args["directories"]},
        Path(args["mirror"]),
        Path(args["rendered"]),
        wire.decryptor_from_json(args["keys"]),
        wire.limits_from_json(args["limits"]),
        as_written=args["as_written"],
    )
    return {"value": found}


def _helm_output(args: dict[str, Any], _: bytes) -> dict[str, Any]:
    manifests = helm_output.parse_answer(args["answer"], wire.limits_from_json(args["limits"]))
    return wire.manifests_answer(manifests)


def _helm_values(args: dict[str, Any], _: bytes) -> dict[str, Any]:
    values = helm_values.read_values_files(
        Path(args["root"]),
        Path(args["directory"]),
        tuple(args["files"]),
        wire.limits_from_json(args["limits"]),
    )
    return {"value": values}


OPS: dict[str, Callable[[dict[str, Any], bytes], dict[str, Any]]] = {
    "plain": _plain,
    "kustomize-output": _kustomize_output,
    "kustomize-sops": _kustomize_sops,
    "helm-output": _helm_output,
    "helm-values": _helm_values,
}


def answer(request: bytes, blob: bytes) -> tuple[bytes, bool]:
    """The framed answer to one request, and whether the worker can go on after it."""
    args: dict[str, Any] = {}
    try:
        args = wire.loads(request)
        value = OPS[args["op"]](args, blob)
        payload = wire.dump(value)
    except (RenderError, RenderErrors) as err:
        payload = wire.dump(wire.errors_answer(err))
    except MemoryError:
        value = None  # let go of what can be let go before answering
        return wire.frame(wire.dump({"failed": "memory"})), False
    # Anything else is a bug, never the repository's doing: the worker starts afresh.
    # Only its type goes back (a message might quote what it read); the whole of it goes to
    # the worker's stderr.
    except Exception as err:
        traceback.print_exc()
        return wire.frame(wire.dump({"failed": type(err).__name__})), False
    most = wire.limits_from_json(args["limits"]).max_render_bytes if "limits" in args else None
    if most is not None and len(payload) > most:
        # What the agent would hold: aliases written out, the whole answer as JSON.
        problem = RenderError(
            f"the rendered objects add up to more than {most // MIB} MiB once written "
            "out (YAML aliases expanded); split the path into several Syncs "
            "(--max-render-size)"
        )
        payload = wire.dump(wire.errors_answer(problem))
    return wire.frame(payload), True


def _private_stdout() -> BinaryIO:
    """The real stdout, kept for answers; fd 1 then points at stderr so that nothing else
    printed (a library, a child) can corrupt a frame."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return answers


def _first_to_die() -> None:
    """Under memory pressure, the kernel kills this process before the agent (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")


def main() -> int:
    _first_to_die()
    answers = _private_stdout()
    requests = sys.stdin.buffer
    while True:
        try:
            request = wire.read_frame(requests)
            blob = wire.read_frame(requests)
        except wire.ClosedError:
            return 0  # the agent is gone, or let this worker go
        payload, go_on = answer(request, blob)
        large = len(blob) + len(payload) > _LARGE
        del request, blob
        answers.write(payload)
        answers.flush()
        if not go_on:
            return 3
        del payload
        if large:
            memory.release()  # an idle worker keeps only what the next render needs


if __name__ == "__main__":
    raise SystemExit(main())
