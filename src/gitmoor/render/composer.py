"""libyaml's parser with a composer that keeps to `Limits`: nesting depth and alias expansion.

PyYAML's C composer recurses in C once per nesting level: a few hundred kilobytes of `[`
overflow the stack and kill the agent, which no `try` can catch. Aliases cost nothing while
parsing (the expanded nodes are shared) but every later serialisation - the digest, the apply -
writes them out in full: a 579-byte "billion laughs" file took the agent to 1.57 GB. So
documents are composed here by PyYAML's Python composer from libyaml's events, which counts
as it goes and stops before anything is constructed.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, Event, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from gitmoor.model.limits import Limits


class LimitExceeded(Exception):
    """A document went beyond a limit; `line` (1-based) is where it was noticed."""

    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


class BoundedLoader(Composer, yaml.CSafeLoader):
    """`CSafeLoader` whose documents are composed within `limits`.

    Counts are kept with aliases expanded, as a serialiser would see the data: an alias adds
    the nodes and the height of the node it names. The nodes aliases add are counted over the
    whole stream (one file), so many documents cannot each stay just under the bound.
    """

    def __init__(self, stream: str | bytes, limits: Limits) -> None:
        yaml.CSafeLoader.__init__(self, stream)
        Composer.__init__(self)
        self._limits = limits
        self._depth = 0  # collections open around the node being composed
        self._deepest = 0  # the deepest nesting reached so far, aliases expanded
        self._nodes = 0  # nodes composed so far, aliases expanded
        self._aliased = 0  # nodes that aliases added, over the whole stream
        self._text = 0  # scalar characters composed so far, aliases expanded
        self._aliased_text = 0  # scalar characters that aliases added, over the whole stream
        # anchor -> (nodes, height, scalar characters), when complete
        self._sizes: dict[str, tuple[int, int, int]] = {}

    def compose_document(self) -> Node | None:
        self._sizes = {}  # anchors name nodes of their own document only
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._expand(event)
        elif isinstance(event, NodeEvent) and event.anchor is not None:
            return self._compose_anchored(event.anchor, parent, index)
        else:
            self._nodes += 1
            if isinstance(event, ScalarEvent):
                self._text += len(event.value)
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._enter()
        node = super().compose_sequence_node(anchor)
        self._depth -= 1
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._enter()
        node = super().compose_mapping_node(anchor)
        self._depth -= 1
        return node

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > self._deepest:
            if self._depth > self._limits.max_depth:
                event = self.peek_event()
                raise LimitExceeded(self._too_deep(), _line(event) if event else 0)
            self._deepest = self._depth

    def _compose_anchored(self, anchor: str, parent: Node | None, index: int) -> Node | None:
        """Compose a node an alias may name later, and remember its expanded size."""
        nodes, outer, text = self._nodes, self._deepest, self._text
        self._nodes += 1
        event = self.peek_event()
        if isinstance(event, ScalarEvent):
            self._text += len(event.value)
        self._deepest = self._depth
        node = super().compose_node(parent, index)
        self._sizes[anchor] = (self._nodes - nodes, self._deepest - self._depth, self._text - text)
        self._deepest = max(outer, self._deepest)
        return node

    def _expand(self, event: AliasEvent) -> None:
        anchor = event.anchor
        if anchor not in self._sizes:
            if anchor in self.anchors:
                raise LimitExceeded(
                    f"alias *{anchor} is used inside the node it names, so it never ends",
                    _line(event),
                )
            return  # an undefined alias: PyYAML's composer says so
        nodes, height, text = self._sizes[anchor]
        self._nodes += nodes
        self._aliased += nodes
        self._text += text
        self._aliased_text += text
        if self._aliased_text > self._limits.max_render_bytes:
            # A few large strings aliased many times are few nodes, but written out (the
            # digest, the apply) they are as large as a file of all the copies.
            raise LimitExceeded(
                f"YAML aliases expand beyond {_size(self._limits.max_render_bytes)} of text "
                "(an alias bomb?)",
                _line(event),
            )
        if self._aliased > self._limits.max_alias_nodes:
            raise LimitExceeded(
                f"YAML aliases expand beyond {self._limits.max_alias_nodes:,} nodes "
                "(an alias bomb?)",
                _line(event),
            )
        if self._depth + height > self._limits.max_depth:
            raise LimitExceeded(
                f"{self._too_deep()} once alias *{anchor} is expanded", _line(event)
            )
        self._deepest = max(self._deepest, self._depth + height)

    def _too_deep(self) -> str:
        return f"YAML nested deeper than {self._limits.max_depth} levels"


def _size(count: int) -> str:
    mib = count / (1024 * 1024)
    return f"{mib:.0f} MiB" if mib >= 1 else f"{count:,} characters"


def _line(event: Event) -> int:
    return int(event.start_mark.line) + 1 if event.start_mark else 0
