"""Health rules written as data: CEL expressions per kind, in Flux's `healthCheckExprs` shape.

    - apiVersion: cert-manager.io/v1
      kind: Certificate
      inProgress: "..."   # optional
      failed: "..."       # optional
      current: "..."

A rule applies to every version of its API group. The expressions are tried in Flux's order,
`inProgress`, `failed`, `current`, and the first that is true decides; when none is, the object is
InProgress (it has not reached a state the rule knows). An expression that fails on an object (a
field missing that the rule did not guard with `has()`) makes it Unknown with the error: the gate
keeps waiting and says why, it never crashes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from gitmoor.health.facts import Outcome, describe, joined, section
from gitmoor.model import Status
from gitmoor.model.cel import CelError, Program, compile_expr
from gitmoor.model.resources import HealthCheckExpr

Key = tuple[str, str]

_ORDER = (
    ("inProgress", Status.IN_PROGRESS),
    ("failed", Status.FAILED),
    ("current", Status.CURRENT),
)


class RuleError(ValueError):
    """A rule file that is not a list of rules, or a rule that does not compile."""


@dataclass(frozen=True)
class ExprRule:
    """One kind's rule and where it comes from (shown by `gitmoor health`)."""

    group: str
    kind: str
    expressions: tuple[tuple[str, Status, Program], ...]
    origin: str

    @property
    def key(self) -> Key:
        return (self.group, self.kind)

    def judge(self, obj: dict[str, Any]) -> Outcome:
        return self.explain(obj)[0]

    def explain(self, obj: dict[str, Any]) -> tuple[Outcome, str]:
        """The verdict, and which expression gave it (for `gitmoor health`)."""
        for name, status, program in self.expressions:
            try:
                matched = program(obj)
            except CelError as err:
                failure = Outcome(Status.UNKNOWN, f"health rule {self.origin} failed: {err}")
                return failure, f"{name} could not be evaluated"
            if matched:
                why = _why(obj, status) or f"{name} expression is true"
                return Outcome(status, why), f"{name} is true: {program.source}"
        waiting = _why(obj, Status.IN_PROGRESS) or "no expression of the rule is true yet"
        return Outcome(Status.IN_PROGRESS, waiting), "no expression is true"


def make_rule(entry: Mapping[str, Any], origin: str) -> ExprRule:
    """The rule of one `{apiVersion, kind, current, inProgress?, failed?}` entry."""
    if not isinstance(entry, Mapping):
        raise RuleError(f"{origin}: a rule is a mapping, not {type(entry).__name__}")
    missing = [k for k in ("apiVersion", "kind", "current") if not entry.get(k)]
    if missing:
        raise RuleError(f"{origin}: missing {', '.join(missing)}")
    unknown = set(entry) - {"apiVersion", "kind", "current", "inProgress", "failed"}
    if unknown:
        raise RuleError(f"{origin}: unknown field(s) {', '.join(sorted(unknown))}")
    expressions = []
    for name, status in _ORDER:
        source = entry.get(name)
        if source is None:
            continue
        try:
            expressions.append((name, status, compile_expr(str(source))))
        except CelError as err:
            raise RuleError(f"{origin} {name}: {err}") from err
    group = str(entry["apiVersion"]).rpartition("/")[0]
    return ExprRule(group, str(entry["kind"]), tuple(expressions), origin)


def load_rules(text: str, source: str) -> dict[Key, ExprRule]:
    """The rules of a YAML list (a rules file); later rules for the same kind win."""
    try:
        entries = yaml.safe_load(text) or []
    except yaml.YAMLError as err:
        raise RuleError(f"{source}: not YAML: {err}") from err
    if not isinstance(entries, list):
        raise RuleError(f"{source}: expected a list of rules")
    rules: dict[Key, ExprRule] = {}
    for index, entry in enumerate(entries):
        kind = entry.get("kind", "?") if isinstance(entry, Mapping) else "?"
        rule = make_rule(entry, f"{source}[{index}] ({kind})")
        rules[rule.key] = rule
    return rules


def merged(*layers: Iterable[ExprRule]) -> dict[Key, ExprRule]:
    """Later layers override earlier ones kind by kind (agent-wide, then the Sync's own)."""
    out: dict[Key, ExprRule] = {}
    for layer in layers:
        out.update((rule.key, rule) for rule in layer)
    return out


def sync_rules(
    exprs: Sequence[HealthCheckExpr], agent_wide: Mapping[Key, ExprRule]
) -> dict[Key, ExprRule]:
    """The user rules a Sync's objects are judged by: its own `spec.healthCheckExprs` over the
    agent's `--health-rules` (kind by kind)."""
    own = [
        make_rule(
            e.model_dump(by_alias=True, exclude_none=True), f"spec.healthCheckExprs[{i}] ({e.kind})"
        )
        for i, e in enumerate(exprs)
    ]
    return merged(agent_wide.values(), own)


def _library() -> dict[Key, ExprRule]:
    rules: dict[Key, ExprRule] = {}
    folder = resources.files("gitmoor.health").joinpath("library")
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".yaml"):
            rules.update(load_rules(item.read_text(), f"library/{item.name}"))
    return rules


class _Library(Mapping[Key, ExprRule]):
    """Compiled on first use: most CLI commands never judge an object, and compiling every
    rule of every project costs a noticeable part of a second at each start."""

    @functools.cached_property
    def _rules(self) -> dict[Key, ExprRule]:
        return _library()

    def __getitem__(self, key: Key) -> ExprRule:
        return self._rules[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)


LIBRARY: Mapping[Key, ExprRule] = _Library()
"""The built-in rule library (`library/*.yaml`, one file per project)."""


# Condition types for which True is the bad news.
_NEGATIVE = frozenset(
    {"NotReady", "Failed", "Degraded", "Error", "Fallback", "Stalled", "Denied", "InvalidRequest"}
)


def _why(obj: dict[str, Any], status: Status) -> str:
    """What the object says about itself that fits the verdict: for Current its Ready (else first
    True) condition, otherwise its first condition that is bad news; then its phase or state."""
    conditions = [c for c in section(obj, "status").get("conditions") or () if isinstance(c, dict)]
    if status is Status.CURRENT:
        fine = [
            c for c in conditions if c.get("status") == "True" and c.get("type") not in _NEGATIVE
        ]
        chosen = next((c for c in fine if c.get("type") == "Ready"), fine[0] if fine else None)
    else:
        bad = [c for c in conditions if (c.get("status") == "True") == (c.get("type") in _NEGATIVE)]
        # A condition with a reason or message explains more than a bare one (Approved=False).
        chosen = next((c for c in bad if describe(c)), bad[0] if bad else None)
    if chosen is not None:
        return joined(f"{chosen.get('type')}={chosen.get('status')}", describe(chosen))
    fields = section(obj, "status")
    for field in ("phase", "state"):
        if isinstance(fields.get(field), str):
            return f"{field} is {fields[field]}"
    return ""
