"""Health fixtures: YAML files of cases, each a live object as the API server returns it and the
health a user should see for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"


def cases(file: str) -> list[Any]:
    """`pytest.param(object, status, message)` for every case in `fixtures/<file>`; the case's
    name is its test id."""
    loaded = yaml.safe_load((FIXTURES / file).read_text())
    return [
        pytest.param(case["object"], case["status"], case["message"], id=case["case"])
        for case in loaded
    ]
