"""The status merge patch: what a new status dropped is nulled at every depth (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from gitmoor.reconcile.publish import merge_patch

ARTIFACT = {"revision": "main@sha1:a", "unsafeEntries": ["chain2/k"], "signer": "AA"}


def apply(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = apply(out.get(k), v)
    return out


@pytest.mark.parametrize(
    ("current", "new"),
    [
        pytest.param(
            {"artifact": ARTIFACT, "replica": "r1"},
            {"artifact": {"revision": "main@sha1:b"}},
            id="nested fields and a top-level one dropped",
        ),
        pytest.param(
            {"artifact": {"revision": "main@sha1:a"}},
            {"artifact": ARTIFACT, "conditions": [{"type": "Ready"}]},
            id="fields added",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready"}, {"type": "Stalled"}]},
            {"conditions": [{"type": "Ready"}]},
            id="a list is replaced whole",
        ),
        pytest.param({"artifact": ARTIFACT}, {"artifact": "gone"}, id="an object becomes a value"),
        pytest.param({}, {}, id="nothing"),
    ],
)
def test_the_patch_turns_the_old_status_into_the_new(current: Any, new: Any) -> None:
    assert apply(current, merge_patch(current, new)) == new
