"""What reading manifests may cost: a hostile or broken repository is refused, never obeyed.

A repository is input the agent does not control. A 579-byte YAML file of nested aliases stands
for a billion strings, a file nested some tens of thousands of levels deep crashes libyaml, and
nothing stops a commit from adding a file of gigabytes. Each bound below is far above what real
manifests need and far below what would hurt the agent.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
# orjson writes at most 254 levels, and PyYAML's composer takes a few Python frames per level.
MAX_DEPTH_CEILING = 200


@dataclass(frozen=True)
class Limits:
    """Bounds on one render; a manifest beyond one is a `RenderError` naming the file.

    `max_file_bytes` (32 MiB): the size of one manifest or values file, checked before it is
    read. The API server takes at most 3 MiB per request and etcd keeps 1.5 MiB per object, so
    the largest real files (bundles of big CRDs) are a few MiB.

    `max_depth` (100): how deeply collections may nest in one document. Deep CRD schemas reach
    about 40 levels; orjson, which serialises every object, stops at 255.

    `max_alias_nodes` (1,000,000): how many nodes YAML aliases may add to one file once
    expanded. Real manifests share a few blocks of tens of nodes; an alias bomb multiplies.
    Nodes written out without aliases do not count: `max_file_bytes` bounds those.

    `max_objects` (100,000): objects in one render (items of a List counted one by one). A
    Sync of that many objects is far beyond what one apply round can handle well anyway.

    `max_tool_memory` (2 GiB): the address space of one `kubectl kustomize` or Helm worker run,
    and of the render worker that reads repository content (`gitmoor.render.pool`); one that
    needs more fails alone, the agent unharmed.

    `max_render_bytes` (256 MiB): all the manifest files of one plain directory together; the
    scalar text YAML aliases add to one file (a large string aliased many times is few nodes
    but as large as all its copies once written out); and the objects a render worker sends
    back, as JSON: what the agent itself holds of one render.
    """

    max_file_bytes: int = 32 * MIB
    max_depth: int = 100
    max_alias_nodes: int = 1_000_000
    max_objects: int = 100_000
    # The address space of one kustomize or Helm run, and of the render worker (processes of
    # their own): 2 GiB, twice what a large chart needs, far below a node's memory.
    max_tool_memory: int = 2048 * MIB
    # All manifest files of one plain render together, the text aliases add to one file, and
    # the objects of one render as the agent receives them: what it holds at once.
    max_render_bytes: int = 256 * MIB

    def __post_init__(self) -> None:
        for name in (
            "max_file_bytes",
            "max_depth",
            "max_alias_nodes",
            "max_objects",
            "max_tool_memory",
            "max_render_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ValueError(f"max_depth must be at most {MAX_DEPTH_CEILING}")


DEFAULT_LIMITS = Limits()
