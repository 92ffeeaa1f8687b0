"""Health rules written as data: CEL expressions per kind, in Flux's `healthCheckExprs` shape.

    - apiVersion: cert-manager.io/v1
      kind: Certificate
      inProgress: "..."   # optional
      failed: "..."       # optional
      current: "..."

Which rule judges an object (`find`), most specific first:
1. a rule whose `apiVersion` is the object's exact group and version (when rules for one kind name
   different versions: Cluster API's v1beta1 and v1beta2 conditions mean different things);
2. a rule for the object's group and kind naming another version: as in Flux, a rule applies to
   every version of its group; of several, the one listed last;
3. a rule for the group with `kind: "*"` (every kind of the group);
4. a rule for a group family, `apiVersion: "*.upbound.io/v1"` (every group ending in
   `.upbound.io`): the longest suffix first, and for each suffix the kind, then `kind: "*"`.

Layers come before this order: a user rule for any version of a kind beats the library's rule
for the object's exact version (see `gitmoor.health.compute`).

Beyond Flux's shape, a rule file (the library, `--health-rules`) may add `unknown`: true when
the object says its state cannot be known (an inconclusive analysis), tried after `failed`. The
expressions are tried in Flux's order,
`inProgress`, `failed`, `current`, and the first that is true decides; when none is, the object is
InProgress (it has not reached a state the rule knows). An expression that fails on an object (a
field missing that the rule did not guard with `has()`) makes it Unknown with the error: the gate
keeps waiting and says why, it never crashes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import yaml

from gitmoor.health.facts import (
    Outcome,
    awaiting_generation,
    describe,
    generation,
    joined,
    section,
)
from gitmoor.model import Status
from gitmoor.model.cel import Bound, CelError, Program, compile_expr, deferred
from gitmoor.model.resources import HealthCheckExpr

Key = tuple[str, str]

_ORDER = (
    ("inProgress", Status.IN_PROGRESS),
    ("failed", Status.FAILED),
    ("unknown", Status.UNKNOWN),
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
    version: str = ""
    variants: Mapping[str, ExprRule] = field(default_factory=dict, compare=False)
    """Rules of the same group and kind for other versions, by version (see `find`)."""

    @property
    def key(self) -> Key:
        return (self.group, self.kind)

    def for_version(self, version: str) -> ExprRule:
        """The rule naming `version` exactly, else this one (the kind's rule for any version)."""
        if version == self.version or not self.variants:
            return self
        return self.variants.get(version, self)

    def versions(self) -> tuple[ExprRule, ...]:
        """This rule and the rules of its other versions."""
        return (self, *(v for k, v in self.variants.items() if k != self.version))

    def joined(self, other: ExprRule) -> ExprRule:
        """`other` as the kind's rule, keeping this one for its version when the two name
        different versions (a later rule for the same version replaces the earlier one)."""
        variants = {**self.variants, self.version: self.without_variants()}
        variants.update(other.variants)
        variants[other.version] = other.without_variants()
        return replace(other, variants=variants) if len(variants) > 1 else other

    def without_variants(self) -> ExprRule:
        return replace(self, variants={}) if self.variants else self

    def judge(self, obj: dict[str, Any]) -> Outcome:
        return self.explain(obj)[0]

    @functools.cached_property
    def _chain(self) -> Program | None:
        """All expressions as one program giving the index of the first that is true (-1 for
        none): one evaluation instead of up to four, which is most of a rule's cost. None when
        the chain does not compile (each expression does): then they run one by one."""
        chained = "-1"
        for index in reversed(range(len(self.expressions))):
            # Each source on lines of its own: a `//` comment in it ends at its line.
            source = self.expressions[index][2].source
            chained = f"((\n{source}\n) ? {index} : {chained})"
        try:
            return compile_expr(chained)
        except CelError:
            return None

    def explain(self, obj: dict[str, Any]) -> tuple[Outcome, str]:
        """The verdict, and which expression gave it (for `gitmoor health`)."""
        chain = self._chain
        if chain is None:
            return self._explain_each(obj)
        try:
            first = chain.evaluate(Bound(obj))
        except CelError:
            # One of them failed: evaluate them one by one to say which and why.
            return self._explain_each(obj)
        if isinstance(first, int) and 0 <= first < len(self.expressions):
            name, status, program = self.expressions[first]
            why = _why(obj, status) or f"{name} expression is true"
            return Outcome(status, why), f"{name} is true: {program.source}"
        waiting = _why(obj, Status.IN_PROGRESS) or "no expression of the rule is true yet"
        return Outcome(Status.IN_PROGRESS, waiting), "no expression is true"

    def _explain_each(self, obj: dict[str, Any]) -> tuple[Outcome, str]:
        bound: Bound | None = None
        for name, status, program in self.expressions:
            try:
                bound = bound or Bound(obj)
                matched = program(bound)
            except CelError as err:
                failure = Outcome(Status.UNKNOWN, f"health rule {self.origin} failed: {err}")
                return failure, f"{name} could not be evaluated"
            if matched:
                why = _why(obj, status) or f"{name} expression is true"
                return Outcome(status, why), f"{name} is true: {program.source}"
        waiting = _why(obj, Status.IN_PROGRESS) or "no expression of the rule is true yet"
        return Outcome(Status.IN_PROGRESS, waiting), "no expression is true"


def make_rule(entry: Mapping[str, Any], origin: str, *, compile_now: bool = True) -> ExprRule:
    """The rule of one `{apiVersion, kind, current, inProgress?, failed?}` entry; its
    expressions compile now (an error names the rule) unless `compile_now` is False."""
    if not isinstance(entry, Mapping):
        raise RuleError(f"{origin}: a rule is a mapping, not {type(entry).__name__}")
    missing = [k for k in ("apiVersion", "kind", "current") if not entry.get(k)]
    if missing:
        raise RuleError(f"{origin}: missing {', '.join(missing)}")
    unknown = set(entry) - {"apiVersion", "kind", "current", "inProgress", "failed", "unknown"}
    if unknown:
        raise RuleError(f"{origin}: unknown field(s) {', '.join(sorted(unknown))}")
    expressions = []
    for name, status in _ORDER:
        source = entry.get(name)
        if source is None:
            continue
        try:
            program = compile_expr(str(source)) if compile_now else deferred(str(source))
            expressions.append((name, status, program))
        except CelError as err:
            raise RuleError(f"{origin} {name}: {err}") from err
    group, _, version = str(entry["apiVersion"]).rpartition("/")
    if "*" in group and not (group.startswith("*.") and group.count("*") == 1):
        raise RuleError(f"{origin}: a group family is written *.example.com, not {group}")
    return ExprRule(group, str(entry["kind"]), tuple(expressions), origin, version)


def load_rules(text: str, source: str, *, compile_now: bool = True) -> dict[Key, ExprRule]:
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
        rule = make_rule(entry, f"{source}[{index}] ({kind})", compile_now=compile_now)
        earlier = rules.get(rule.key)
        rules[rule.key] = rule if earlier is None else earlier.joined(rule)
    return rules


def merged(*layers: Iterable[ExprRule]) -> dict[Key, ExprRule]:
    """Later layers override earlier ones kind by kind, every version of the kind at once
    (agent-wide, then the Sync's own): a rule's layer matters more than its version."""
    out: dict[Key, ExprRule] = {}
    for layer in layers:
        fresh: dict[Key, ExprRule] = {}
        for rule in layer:
            earlier = fresh.get(rule.key)
            fresh[rule.key] = rule if earlier is None else earlier.joined(rule)
        out.update(fresh)
    return out


def find(rules: Mapping[Key, ExprRule], group: str, version: str, kind: str) -> ExprRule | None:
    """The rule of `rules` that judges an object of this group, version and kind (the order is
    in the module's docstring), or None."""
    rule = rules.get((group, kind)) or rules.get((group, "*"))
    if rule is None and group:
        suffix = group
        while rule is None and "." in suffix:
            suffix = suffix.partition(".")[2]
            family = f"*.{suffix}"
            rule = rules.get((family, kind)) or rules.get((family, "*"))
    return rule.for_version(version) if rule is not None else None


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
            # Compiled when a kind of theirs is first judged: the library's tests compile every
            # rule, and a cluster shows few of its 200-odd kinds.
            text = item.read_text()
            for key, rule in load_rules(text, f"library/{item.name}", compile_now=False).items():
                rules[key] = rules[key].joined(rule) if key in rules else rule
    return rules


class _Library(Mapping[Key, ExprRule]):
    """Read on first use: most CLI commands never judge an object. Its expressions compile
    later still, at the first object of their kind (`compile_now=False`): compiling every rule
    of every project costs most of a second and ~14 MiB with the CEL runtime."""

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
    {
        "NotReady",
        "Failed",
        "Failure",
        "Degraded",
        "Error",
        "ErrorOccurred",
        "Fallback",
        "Stalled",
        "Denied",
        "InvalidRequest",
        "InvalidSpec",
        "NoMatchingInstance",
        "NoPodsMatched",
        "HasErrors",
        "SpecError",
        "SubmissionError",
        "ACK.Terminal",
        "Disrupting",
    }
)


def _why(obj: dict[str, Any], status: Status) -> str:
    """What the object says about itself that fits the verdict: for Current its Ready (else first
    True) condition, otherwise its first condition that is bad news; then its phase or state."""
    status_fields = section(obj, "status")
    if not status_fields:
        return "no status yet"
    listed = [
        *(status_fields.get("conditions") or ()),
        # Cluster API v1.9+ writes its new conditions beside the old ones in v1beta1 objects.
        *(section(status_fields, "v1beta2").get("conditions") or ()),
    ]
    conditions = [c for c in listed if isinstance(c, dict)]
    wanted = generation(obj)
    if status is Status.IN_PROGRESS and wanted is not None:
        seen = [c.get("observedGeneration") for c in conditions]
        if any(isinstance(g, int) and g < wanted for g in seen):
            return awaiting_generation(obj).message
    if status is Status.CURRENT:
        fine = [
            c for c in conditions if c.get("status") == "True" and c.get("type") not in _NEGATIVE
        ]
        done = sorted(fine, key=lambda c: (c.get("type") != "Ready", c.get("type") not in _DONE))
        chosen = done[0] if done else None
    else:
        bad = [
            c
            for c in conditions
            if (c.get("status") == "True") == (c.get("type") in _NEGATIVE)
            and not (c.get("status") == "False" and c.get("type") in _NEUTRAL_WHEN_FALSE)
        ]
        if status is Status.FAILED:
            # Ready is the summary; a failure is better explained by the condition that failed
            # (Synced=False, ConfigurationsReady=False) when there is one.
            bad.sort(key=lambda c: c.get("type") == "Ready")
        if status is Status.IN_PROGRESS:
            # The condition saying what is going on explains a wait best (RollingOut=True).
            busy = [c for c in conditions if c.get("status") == "True" and c.get("type") in _BUSY]
            bad = busy + bad
        # A condition with a reason or message explains more than a bare one (Approved=False).
        chosen = next((c for c in bad if describe(c)), bad[0] if bad else None)
    if chosen is not None:
        return joined(f"{chosen.get('type')}={chosen.get('status')}", describe(chosen))
    fields = section(obj, "status")
    for path in _WORDS:
        value: Any = fields
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, (str, bool, int)) and value != "":
            said = fields.get("message") or fields.get("failureMessage") or fields.get("error")
            if not isinstance(said, str) and isinstance(fields.get("health"), dict):
                said = fields["health"].get("message")
            detail = said.strip() if isinstance(said, str) and status is not Status.CURRENT else ""
            word = str(value).lower() if isinstance(value, bool) else value
            return joined(f"{'.'.join(path)} is {word}", detail)
    return ""


# Condition types that say "done" when True, the best explanation of a Current verdict after
# Ready.
_DONE = frozenset(
    {
        "Succeeded",
        "Complete",
        "Completed",
        "Available",
        "Synced",
        "Healthy",
        "Established",
        "Deployed",
        "Successful",
        "Done",
        "Accepted",
        "Programmed",
        "ResourcesUpToDate",
    }
)


# Condition types for which True is work going on.
_BUSY = frozenset(
    {
        "Reconciling",
        "Progressing",
        "RollingUpdate",
        "RollingOut",
        "ScalingUp",
        "ScalingDown",
        "Running",
        "Started",
        "Issuing",
        "RolloutProgressing",
        "PendingProposal",
        "Rebalancing",
    }
)


# Condition types for which False says only that nothing of the kind happens (NotScalingUp);
# not Progressing or Issuing, whose False is a deadline passed or an issuance failed.
_NEUTRAL_WHEN_FALSE = (_BUSY - {"Progressing", "Issuing"}) | {
    "Paused",
    "Deleting",
    "Remediating",
    "Suspended",
    "Disrupting",
}


# Where controllers without conditions put their word for the state, in the order read.
_WORDS = (
    ("phase",),
    ("robustness",),
    ("state",),
    ("state", "phase"),
    ("jobDeploymentStatus",),
    ("printableStatus",),
    ("health", "status"),
    ("health",),
    ("healthy",),
    ("currentState",),
    ("currentStatus",),
    ("status",),
    ("PostgresClusterStatus",),
    ("applicationState", "state"),
    ("scheduleState",),
    ("stageStatus",),
    ("scale", "statusReplicas"),
    ("applied",),
    ("ready",),
    ("readyToUse",),
    ("valid",),
    ("conditionStatus", "ready"),
    ("failureReason",),
)
