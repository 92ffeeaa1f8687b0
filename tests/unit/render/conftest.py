from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / "data" / "render"


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write files (path -> dedented text) under a fresh artifact root and return the root."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "artifact"
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        root.mkdir(exist_ok=True)
        return root

    return write


@pytest.fixture
def copy_data(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a directory of tests/data/render into a fresh artifact root; returns the root."""

    def copy(name: str) -> Path:
        root = tmp_path / "artifact"
        shutil.copytree(DATA / name, root / name)
        return root

    return copy
