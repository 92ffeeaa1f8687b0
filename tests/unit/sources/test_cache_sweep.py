"""Which cached charts and artifacts the sweep removes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmoor.sources.sweep import Entry, stale, sweep

NOW = 1_000_000.0
HOUR = 3600.0
A, B = "a" * 64, "b" * 64


@pytest.mark.parametrize(
    ("entry", "held", "removed"),
    [
        pytest.param(Entry("charts/unpacked", A, NOW - 25 * HOUR), set(), True, id="old"),
        pytest.param(Entry("charts/unpacked", A, NOW - 23 * HOUR), set(), False, id="recent"),
        pytest.param(Entry("charts/archives", f"{A}.tgz", NOW - 25 * HOUR), {A}, False, id="held"),
        pytest.param(Entry("artifacts/blobs", f"{B}.tgz", NOW - 25 * HOUR), {A}, True, id="other"),
        pytest.param(
            Entry("charts/unpacked", f"{A}.tmp-1234", NOW - 2 * HOUR), {A}, True, id="leftover"
        ),
        pytest.param(
            Entry("charts/unpacked", f"{A}.tmp-1234", NOW - 60), set(), False, id="unpacking-now"
        ),
        pytest.param(Entry("charts/index", "c" * 64, NOW - 25 * HOUR), set(), True, id="index"),
    ],
)
def test_what_goes(entry: Entry, held: set[str], removed: bool) -> None:
    assert (stale([entry], now=NOW, keep=24 * HOUR, held=held) == [entry]) is removed


def test_the_sweep_removes_files_and_directories_and_leaves_the_rest(tmp_path: Path) -> None:
    old = tmp_path / "charts" / "unpacked" / A / "web"
    old.mkdir(parents=True)
    (old / "Chart.yaml").write_text("name: web\n")
    archive = tmp_path / "charts" / "archives" / f"{A}.tgz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"x")
    kept = tmp_path / "artifacts" / "unpacked" / B
    kept.mkdir(parents=True)
    for path in (old.parent, archive, kept):
        os.utime(path, (NOW - 48 * HOUR, NOW - 48 * HOUR))
    fresh = tmp_path / "artifacts" / "blobs" / f"{A}.tgz"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"y")
    os.utime(fresh, (NOW, NOW))

    assert sweep(tmp_path, keep=24 * HOUR, held={B}, now=NOW) == 2
    assert not old.parent.exists()
    assert not archive.exists()
    assert kept.is_dir()
    assert fresh.is_file()
