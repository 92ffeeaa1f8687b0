"""kubernetes-asyncio's configuration parts (kubeconfig and in-cluster loading, its connection
set-up and token refresh), loaded without its generated API.

gitmoor uses the library for what is hard to get right (kubeconfig merging, exec plugins, OIDC
and GCP token refresh, in-cluster service-account rotation) and talks to the API server itself,
on plain JSON. The package's `__init__` modules, though, import every generated API class and
model (some 1,500 modules): about 60 MiB of the agent's memory for its whole life, and 0.4 s
of CPU at every cluster command's start. So the packages `kubernetes_asyncio`,
`kubernetes_asyncio.client` and `kubernetes_asyncio.client.models` are put in place here as
empty packages over the installed files, and only the modules named below are imported from
them. Code that asks such a package for anything else (`kubernetes_asyncio.client.V1Pod`) gets
it: the package's real `__init__` runs then, once, as it would have at import.

Already imported in full (by other code, first): the library is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

_TOP = "kubernetes_asyncio"
_LIGHT = (_TOP, f"{_TOP}.client", f"{_TOP}.client.models")


def _completing(name: str, init: Path) -> Any:
    """A package module's `__getattr__`: the first name not there runs its real `__init__`."""

    def __getattr__(attribute: str) -> Any:
        module = sys.modules[name]
        if attribute.startswith("__") or module.__dict__.get("_gitmoor_complete"):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        if (init.parent / f"{attribute}.py").is_file() or (init.parent / attribute).is_dir():
            # A submodule (`from kubernetes_asyncio.client import rest`): that one alone.
            return importlib.import_module(f"{name}.{attribute}")
        module.__dict__["_gitmoor_complete"] = True
        code = compile(init.read_bytes(), str(init), "exec")
        exec(code, module.__dict__)  # noqa: S102 - the installed package's own __init__
        return getattr(module, attribute)

    return __getattr__


def _install() -> None:
    if _TOP in sys.modules:
        return
    spec = importlib.util.find_spec(_TOP)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{_TOP} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    parent: types.ModuleType | None = None
    for name in _LIGHT:
        directory = root.joinpath(*name.split(".")[1:])
        module = types.ModuleType(name)
        module.__path__ = [str(directory)]
        module.__package__ = name
        module.__file__ = str(directory / "__init__.py")
        module.__getattr__ = _completing(name, directory / "__init__.py")  # type: ignore[method-assign]
        sys.modules[name] = module
        if parent is not None:
            setattr(parent, name.rpartition(".")[2], module)
        parent = module
    client = sys.modules[f"{_TOP}.client"].__dict__
    # What `kubernetes_asyncio.config` takes from the client package.
    client["Configuration"] = importlib.import_module(f"{_TOP}.client.configuration").Configuration
    client["ApiClient"] = importlib.import_module(f"{_TOP}.client.api_client").ApiClient
    sys.modules[_TOP].__dict__["config"] = importlib.import_module(f"{_TOP}.config")


_install()

from kubernetes_asyncio.client.api_client import ApiClient  # noqa: E402
from kubernetes_asyncio.client.configuration import Configuration  # noqa: E402
from kubernetes_asyncio.config import (  # noqa: E402
    ConfigException,
    load_incluster_config,
    load_kube_config,
)

__all__ = [
    "ApiClient",
    "ConfigException",
    "Configuration",
    "load_incluster_config",
    "load_kube_config",
]
