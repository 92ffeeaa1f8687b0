"""Package attributes loaded on first use (PEP 562): a package whose parts are heavy (the
ledger's SQLAlchemy, the validator's jsonschema) names where each of its exports lives, and a
command that needs one part loads that part alone."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package`: `name` comes from `package.homes[name]`, imported
    then, and kept in the package so the next access costs nothing."""

    def load(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return load
