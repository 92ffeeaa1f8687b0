"""A digest of rendered objects: equal objects in equal order give an equal digest."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gitmoor.model import Manifest

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def manifests_digest(manifests: Sequence[Manifest]) -> str:
    """`sha256:<hex>` of the objects as canonical JSON (sorted keys); where they came from does
    not count, so moving an object to another file keeps the digest."""
    payload = orjson.dumps([m.obj for m in manifests], option=_OPTIONS, default=json_default)
    return f"sha256:{hashlib.sha256(payload).hexdigest()}"


def json_default(value: Any) -> Any:
    # YAML can hold values JSON cannot (binary, sets), and callers may pass read-only mappings;
    # Kubernetes sees bytes as base64 text.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot serialise {type(value).__name__}")
