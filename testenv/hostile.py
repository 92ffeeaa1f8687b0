"""Repositories written the way an attacker would, for the tests that prove gitmoor refuses them.

Kept in one place so the render, the unpacking of a fetched tree, the CLI and the agent are
all tested against the very same tree.
"""

from __future__ import annotations

import os
from pathlib import Path

CHAIN_DEPTH = 12
CHART_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: leak
data:
  stolen: {{ .Files.Get "files/ext/k" | quote }}
"""


def chained_symlink_chart(top: Path, outside: Path) -> None:
    """A chart at `top/chart` whose `files/ext/k` really is the file `outside`, reached only
    through links whose text stays inside `top`.

    `chain/up1 -> ..` is `top` itself; `chain/upN -> up(N-1)/..` climbs one level more for each
    link although its text never leaves `chain/`; `chain2/k` goes through the last link to
    `outside`, and the chart links `files/ext -> ../../chain2`, a directory inside the tree.
    `top` must sit at most CHAIN_DEPTH - 1 levels below `/`.
    """
    top_real = Path(os.path.realpath(top))
    depth = len(top_real.parts) - 1  # levels from `top` up to `/`
    assert depth < CHAIN_DEPTH, f"{top} is too deep for the chain"
    chain = top / "chain"
    chain.mkdir(parents=True)
    (chain / "up1").symlink_to("..")
    for n in range(2, CHAIN_DEPTH + 1):
        (chain / f"up{n}").symlink_to(f"up{n - 1}/..")
    # up1 is `top`, up(N) is N-1 levels above it: far enough reaches `/`, and `/` is its own parent.
    chain2 = top / "chain2"
    chain2.mkdir()
    relative_outside = os.path.realpath(outside).lstrip("/")
    (chain2 / "k").symlink_to(f"../chain/up{CHAIN_DEPTH}/{relative_outside}")
    chart = top / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "files").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 1.0.0\n")
    (chart / "templates" / "leak.yaml").write_text(CHART_TEMPLATE)
    (chart / "files" / "ext").symlink_to("../../chain2")


def scalar_bomb(name: str, namespace: str, *, scalar_mib: int, aliases: int) -> str:
    """A ConfigMap of one large string anchored once and aliased many times: a file of a few
    MiB and a few nodes, far within the size, depth and alias-node limits, that is
    `scalar_mib * aliases` MiB once written out, as every serialisation of the object is."""
    big = "x" * (scalar_mib * 1024 * 1024)
    copies = ", ".join(["*big"] * aliases)
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        f"data:\n  big: &big {big}\n  copies: [{copies}]\n"
    )
