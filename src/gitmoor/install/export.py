"""Objects as multi-document YAML: what `kubectl apply -f` reads and `install --export` prints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

_Dumper: type[yaml.CSafeDumper] | type[yaml.SafeDumper] = (
    yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper
)


def render_yaml(objs: Iterable[dict[str, Any]]) -> str:
    """One YAML document per object, each starting with `---`, keys in the objects' order."""
    return yaml.dump_all(
        list(objs),
        Dumper=_Dumper,
        explicit_start=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
