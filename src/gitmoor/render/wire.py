"""What the agent and its render worker (`gitmoor.render.worker`) send each other: frames on a
pipe, and manifests, limits, keys and render errors as JSON.

A frame is an 8-byte big-endian length and that many bytes. A request is two frames: a JSON
object (`op` and its arguments) and a blob (text an op parses, often empty). An answer is one
JSON frame: `{"manifests": [[obj, source, line], ...]}`, `{"value": ...}`, `{"done": true}` or
`{"errors": [...]}` (render errors, raised again in the agent), or `{"failed": "memory"}` /
`{"failed": "<what>"}` when the worker itself broke and exits.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

import orjson

from gitmoor.errors import RenderError, RenderErrors
from gitmoor.model import Manifest, ObjectRef
from gitmoor.model.limits import Limits
from gitmoor.render.digest import json_default
from gitmoor.render.sops import Decryptor, Keys

_LENGTH = struct.Struct(">Q")
HEADER = _LENGTH.size
# YAML keys JSON cannot hold (numbers, booleans) become strings, as they do when applied.
_DUMP = orjson.OPT_NON_STR_KEYS


class ClosedError(EOFError):
    """The other end closed the pipe between frames or in the middle of one."""


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def length(header: bytes) -> int:
    (size,) = _LENGTH.unpack(header)
    return int(size)


def read_frame(stream: BinaryIO) -> bytes:
    """One frame's bytes from a blocking stream; ClosedError at its end."""
    header = _read_exactly(stream, HEADER)
    return _read_exactly(stream, length(header))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise ClosedError(f"the pipe closed after {len(data)} of {size} bytes")
    return data


def dump(value: Any) -> bytes:
    return orjson.dumps(value, default=json_default, option=_DUMP)


def loads(data: bytes | bytearray) -> Any:
    return orjson.loads(data)


def limits_to_json(limits: Limits) -> dict[str, int]:
    return dataclasses.asdict(limits)


def limits_from_json(data: dict[str, int]) -> Limits:
    return Limits(**data)


def keys_to_json(keys: Keys | None) -> dict[str, Any] | None:
    """Keys for the worker's request (a pipe, never argv or disk): armored OpenPGP keys are
    ASCII. Inherited keys (the user's own, `gitmoor render --decrypt`) take the caller's
    environment along, where the user's sops finds them."""
    if keys is None:
        return None
    return {
        "age": list(keys.age),
        "pgp": [key.decode("latin-1") for key in keys.pgp],
        "inherit": keys.inherit,
        "environ": dict(os.environ) if keys.inherit else None,
    }


def decryptor_from_json(data: dict[str, Any] | None) -> Decryptor | None:
    keys = keys_from_json(data)
    if keys is None or data is None:
        return None
    return Decryptor(keys, data.get("environ"))


def keys_from_json(data: dict[str, Any] | None) -> Keys | None:
    if data is None:
        return None
    pgp = tuple(str(key).encode("latin-1") for key in data["pgp"])
    return Keys(tuple(data["age"]), pgp, bool(data["inherit"]))


def manifests_answer(manifests: Sequence[Manifest]) -> dict[str, Any]:
    return {"manifests": [[m.obj, m.source, m.line] for m in manifests]}


def manifests_from(answer: dict[str, Any]) -> list[Manifest]:
    return [Manifest(obj, source, line) for obj, source, line in answer["manifests"]]


def errors_answer(error: RenderError | RenderErrors) -> dict[str, Any]:
    errors = error.errors if isinstance(error, RenderErrors) else [error]
    return {"errors": [_error_to_json(e) for e in errors]}


def raise_errors(answer: dict[str, Any]) -> None:
    """Raise the render errors of an answer, as the worker's code raised them (one alone, or
    several together)."""
    errors = [_error_from_json(e) for e in answer.get("errors") or []]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RenderErrors(errors)


def _error_to_json(error: RenderError) -> dict[str, Any]:
    ref = error.ref
    return {
        "message": error.cause,
        "file": error.file,
        "line": error.line,
        "ref": [ref.group, ref.kind, ref.namespace, ref.name] if ref else None,
    }


def _error_from_json(data: dict[str, Any]) -> RenderError:
    ref = data.get("ref")
    return RenderError(
        str(data["message"]),
        file=data.get("file"),
        line=data.get("line"),
        ref=ObjectRef(*ref) if ref else None,
    )
