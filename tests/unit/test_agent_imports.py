"""The agent loads heavy optional libraries only when something it runs needs them: each one's
code and data stay out of its memory otherwise (S6 in `benchmarks/` measures the whole)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import sys
    import gitmoor.cli.app, gitmoor.commands.run
    from gitmoor.health import compute

    # Judging objects of kinds no rule of the library names does not compile the library.
    for kind in ("ConfigMap", "Deployment"):
        compute({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "generation": 1}})
    print(",".join(sorted({m.split(".")[0] for m in sys.modules})))
    """
)

# The CEL runtime (health rules that declare expressions) and the AES bindings (snapshots of
# atomic Syncs).
OPTIONAL = {"cel_expr_python", "cryptography"}


def test_the_agent_starts_without_the_libraries_of_features_nobody_declared() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(out.strip().split(","))
    assert "gitmoor" in loaded  # the program did run
    assert not loaded & OPTIONAL, loaded & OPTIONAL


def test_a_cel_rule_and_a_snapshot_load_them_when_asked() -> None:
    program = textwrap.dedent(
        """
        import os, sys, tempfile
        from pathlib import Path
        from gitmoor.model.cel import compile_expr
        from gitmoor.reconcile.snapshots import Snapshot, SnapshotStore, new_key

        assert compile_expr("self.status.ready == true")({"status": {"ready": True}})
        store = SnapshotStore(Path(tempfile.mkdtemp()), new_key())
        store.save("ns", "app", Snapshot("main@sha1:abc", [{"kind": "ConfigMap"}]))
        assert store.load("ns", "app").revision == "main@sha1:abc"
        print("cel_expr_python" in sys.modules, "cryptography" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True"]
