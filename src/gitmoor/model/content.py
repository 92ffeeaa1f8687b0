"""What a Sync deploys, as one short identity: the digest of its objects as sent.

Two revisions of a shared repository whose commits touched only other apps give a Sync the same
content; a rollback goes to the previous *different* content, and the ledger says which commit
produced what ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson


def content_digest(objects: Iterable[dict[str, Any]]) -> str:
    """`sha256:<12 hex>` over the objects, in a canonical order and form."""
    encoded = sorted(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) for o in objects)
    digest = hashlib.sha256(b"\n".join(encoded)).hexdigest()
    return f"sha256:{digest[:12]}"
