"""The agent's decisions, from YAML case tables: what follows an error (retry), whether a Sync
needs an attempt and of which kind (decide), and when a revision prunes too much."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor import errors
from gitmoor.errors import (
    ApplyError,
    CrashError,
    CrossNamespaceRefError,
    DecryptionKeysError,
    DependencyCycleError,
    DryRunError,
    EmptyRevisionError,
    GitmoorError,
    HealthGateError,
    HookFailedError,
    ImmutableFieldError,
    InvalidImagePolicyError,
    InventoryUnreadableError,
    KubePermanentError,
    KubeTransientError,
    MarkerPolicyNotFoundError,
    NamespaceNotFoundError,
    NoMatchingTagError,
    NotReadyError,
    ObjectFailure,
    OwnershipConflictError,
    PruneBlockedError,
    PushRefusedError,
    RefNotFoundError,
    RegistryContentError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    RenderError,
    RenderErrors,
    SecretNotFoundError,
    SigningKeyError,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailableError,
    SourceVerificationError,
    UnknownKindError,
)
from gitmoor.model import Action, ChangeSet, Missing, ObjectChange, ObjectRef, Verdict
from gitmoor.model.record import Record, Result, Trigger
from gitmoor.plan import over_prune_limit
from gitmoor.reconcile import decide, report
from gitmoor.reconcile.outcome import Outcome
from gitmoor.reconcile.retry import RULES, arrival, classify, explained, missing
from gitmoor.render.tools import RenderTimeoutError

CASES = Path(__file__).parent / "cases"
REF = ObjectRef("apps", "Deployment", "web", "web")
RECORD = Record(
    sync_namespace="web",
    sync_name="app",
    environment="prod",
    cluster="east",
    source_url="https://git.example.com/apps.git",
    revision="main@sha1:new",
    trigger=Trigger.INTERVAL,
    started_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def _refused(why: str) -> ObjectFailure:
    """One object a dry run refused: for lack of its `namespace`, of its `kind`, or `invalid`."""
    if why == "namespace":
        ref = ObjectRef("", "ConfigMap", "later", "settings")
        cause: Exception = NamespaceNotFoundError(
            "not found", ref=ref, namespace="later", detail='namespaces "later" not found'
        )
    elif why == "kind":
        ref = ObjectRef("example.com", "Widget", "web", "w1")
        cause = UnknownKindError("example.com/v1", "Widget")
    else:
        ref = REF
        cause = KubePermanentError("invalid", ref=ref, status=422, reason="Invalid")
    assert isinstance(cause, GitmoorError)
    return ObjectFailure(ref, str(cause), where="app.yaml:1", error=cause)


def load(name: str) -> list[Any]:
    return [
        pytest.param(case, id=case["case"]) for case in yaml.safe_load((CASES / name).read_text())
    ]


def build(spec: str) -> Exception:
    """An error as the case names it: `Type` or `Type(arguments)`."""
    name, _, args = spec.partition("(")
    args = args.rstrip(")")
    if name == "ApplyError":
        # `ApplyError(transient, retry_after=42,7)`: one throttled object per wait asked for.
        kind, _, waits = args.partition(", retry_after=")
        throttled = [
            ObjectFailure(
                REF,
                "throttled",
                error=KubeTransientError(
                    "throttled", ref=REF, status=429, reason="", retry_after=float(wait)
                ),
            )
            for wait in waits.split(",")
            if wait
        ]
        return ApplyError(throttled, transient=kind == "transient")
    if name == "KubeTransientError":
        after = float(re.search(r"retry_after=(\d+)", args).group(1))  # type: ignore[union-attr]
        return KubeTransientError("throttled", ref=None, status=429, reason="", retry_after=after)
    if name == "NotReadyError":
        reason, _, rest = args.partition(",")
        after = re.search(r"retry_after=(\d+)", rest)
        return NotReadyError(
            reason, "waiting", retry_after=float(after.group(1)) if after else None
        )
    if name == "RegistryUnavailableError":
        found = re.search(r"retry_after=(\d+)", args)
        after = float(found.group(1)) if found else None
        return RegistryUnavailableError("429", url="oci://r/x", retry_after=after)
    if name == "HookFailedError":
        return HookFailedError(args, Verdict(healthy=False, timed_out=False))
    if name == "HealthGateError":
        return HealthGateError(Verdict(healthy=False, timed_out=args == "timed_out"))
    if name == "PruneBlockedError":
        return PruneBlockedError("too much", pruned=9, inventory=10)
    if name == "CrashError":
        return CrashError(KeyError("status"))
    if name == "DryRunError":
        return DryRunError([_refused(why) for why in args.split(",") if why])
    simple: dict[str, Any] = {
        "RenderError": lambda: RenderError("bad"),
        "RenderTimeoutError": lambda: RenderTimeoutError("slow"),
        "EmptyRevisionError": lambda: EmptyRevisionError("empty"),
        "DependencyCycleError": lambda: DependencyCycleError("a -> b -> a"),
        "SourceUnavailableError": lambda: SourceUnavailableError("down", url="https://x"),
        "SourceAuthError": lambda: SourceAuthError("denied", url="https://x"),
        "SourceConfigError": lambda: SourceConfigError("bad url", url="https://x"),
        "CrossNamespaceRefError": lambda: CrossNamespaceRefError("not granted"),
        "DecryptionKeysError": lambda: DecryptionKeysError("holds no key"),
        "RenderErrors": lambda: RenderErrors([RenderError("a"), RenderError("b")]),
        "SecretNotFoundError": lambda: SecretNotFoundError("no Secret", url="https://x"),
        "InventoryUnreadableError": lambda: InventoryUnreadableError(
            "web", "app", chunk="app-inventory-0", why="was changed"
        ),
        "RefNotFoundError": lambda: RefNotFoundError("no branch", url="https://x"),
        "RegistryNotFoundError": lambda: RegistryNotFoundError("no image", url="oci://r/x"),
        "RegistryContentError": lambda: RegistryContentError("not JSON", url="oci://r/x"),
        "NoMatchingTagError": lambda: NoMatchingTagError("none", policy="a/b"),
        "InvalidImagePolicyError": lambda: InvalidImagePolicyError(">>1", policy="a/b"),
        "MarkerPolicyNotFoundError": lambda: MarkerPolicyNotFoundError(
            "no policy", url="https://x", markers=("a.yaml:3",)
        ),
        "PushRefusedError": lambda: PushRefusedError("hook", url="https://x", branch="main"),
        "SigningKeyError": lambda: SigningKeyError("no key", url=""),
        "OwnershipConflictError": lambda: OwnershipConflictError(
            [ObjectFailure(REF, "owned by Sync web/other, which still declares it")],
            {REF: "web/other"},
        ),
        **{
            cls.__name__: (lambda cls=cls: cls("chart", url="https://x", chart="web"))
            for cls in (
                errors.ChartRepositoryUnavailableError,
                errors.ChartAuthError,
                errors.ChartNotFoundError,
                errors.ChartVersionNotFoundError,
                errors.ChartIndexError,
                errors.ChartArchiveError,
                errors.ChartDigestError,
                errors.ChartDependencyError,
                errors.ChartDependencyUnavailableError,
            )
        },
        **{
            cls.__name__: (lambda cls=cls: cls("registry", url="oci://r/x"))
            for cls in (
                errors.RegistryUnavailableError,
                errors.RegistryNotFoundError,
                errors.RegistryDigestError,
                errors.RegistryContentError,
            )
        },
        "ImmutableFieldError": lambda: ImmutableFieldError(
            [ObjectFailure(REF, "field is immutable", field="spec.selector")]
        ),
        "SourceVerificationError": lambda: SourceVerificationError(
            "commit abc is not signed",
            url="https://x",
            signed="commit",
            sha="abc",
            commit="abc",
            signer=None,
            verdict="Unsigned",
        ),
    }
    return simple[name]()  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", load("retry.yaml"))
def test_retry(case: dict[str, Any]) -> None:
    retry = classify(
        build(case["error"]),
        failures=case.get("failures", 0),
        interval=300.0,
        retry_interval=case.get("retry_interval", 60.0),
    )

    assert (retry.reason, retry.stalled) == (case["reason"], case["stalled"])
    assert retry.delay == case["delay"]
    assert retry.failures == case["failures_after"]


def test_every_retry_rule_is_covered_by_a_case() -> None:
    covered = {build(c.values[0]["error"]).__class__ for c in load("retry.yaml")}
    ruled = {rule.error for rule in RULES}
    assert not {r for r in ruled if not any(issubclass(c, r) for c in covered)}, (
        "a rule of the retry table has no case"
    )


_DEFAULT_FACTS: dict[str, Any] = {
    "revision": "r1",
    "generation": 1,
    "observed_generation": 1,
    "applied_revision": "r1",
    "failed_revision": "",
    "ready": "True",
    "ready_reason": "ReconciliationSucceeded",
    "requested": "",
    "handled": "",
    "forced": False,
    "atomic": False,
    "report_drift": False,
    "watched": 3,
    "since_full": 10.0,
    "full_every": 3600.0,
}


@pytest.mark.parametrize("case", load("decide.yaml"))
def test_decide(case: dict[str, Any]) -> None:
    facts = decide.Facts(**{**_DEFAULT_FACTS, **case.get("facts", {})})

    got = decide.attempt(facts)

    if case["expect"] == "skip":
        assert isinstance(got, decide.Skip), got
    else:
        assert isinstance(got, decide.Run), got
        expected = case["expect"]
        assert (got.mode.value, got.new_content, got.asked) == (
            expected["mode"],
            expected["new_content"],
            expected["asked"],
        )


def test_facts_are_read_from_the_sync_as_the_api_server_returns_it() -> None:
    obj = {
        "metadata": {
            "generation": 4,
            "annotations": {
                "gitmoor.io/reconcile-requested-at": "t9",
                "gitmoor.io/force-requested-at": "t9",
            },
        },
        "status": {
            "observedGeneration": 3,
            "lastAppliedRevision": "main@sha1:a",
            "lastHandledReconcileAt": "t8",
            "conditions": [{"type": "Ready", "status": "False", "reason": "HealthDegraded"}],
        },
    }

    facts = decide.facts(
        obj, "main@sha1:b", atomic=True, report_drift=False, watched=2, since_full=5, full_every=9
    )

    assert (facts.generation, facts.observed_generation) == (4, 3)
    assert (facts.requested, facts.handled, facts.forced) == ("t9", "t8", True)
    assert (facts.ready, facts.ready_reason) == ("False", "HealthDegraded")
    assert facts.applied_revision == "main@sha1:a"


@pytest.mark.parametrize("case", load("prune_limit.yaml"))
def test_prune_limit(case: dict[str, Any]) -> None:
    why = over_prune_limit(case["limit"], case["pruned"], case["inventory"])

    assert (why is not None) == case["held"], why
    if why is not None:
        assert f"prune {case['pruned']} of {case['inventory']}" in why


def test_the_readme_shows_the_retry_table_the_agent_uses() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    table = readme.split("| error | reason | stalled | next try |")[1].split("\n\n")[0]
    shown: set[tuple[str, bool]] = set()
    for row in table.strip().splitlines()[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for reason in re.findall(r"`(\w+)`", cells[1]):
            shown.add((reason, cells[2] == "yes"))
    ruled = {(rule.reason, rule.stalled) for rule in RULES if rule.reason}
    assert ruled <= shown, f"rules missing from the README: {sorted(ruled - shown)}"
    assert {r for r, _ in shown} - {r for r, _ in ruled} <= {
        "SourceNotFound",
        "SourceNotReady",
        "DependencyNotReady",
        "PinnedRevisionUnavailable",
        "DecryptionSecretNotFound",
    }, "the README shows reasons the table does not have"


def _outcome(spec: dict[str, Any], revision: str) -> Outcome:
    ref = ObjectRef("apps", "Deployment", "web", "web")
    changes: list[ObjectChange] = []
    if spec.get("wrote"):
        changes.append(ObjectChange(ref, "apps/v1", Action.CONFIGURED))
    if spec.get("kept"):
        crd = ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", "w.example.com")
        changes.append(ObjectChange(crd, "apiextensions.k8s.io/v1", Action.KEPT, message="used"))
    error = build(spec["error"]) if spec.get("error") else None
    return Outcome(
        revision=revision,
        changes=ChangeSet(tuple(changes)),
        error=error,  # type: ignore[arg-type]
        applied=error is None,
        finished=time.time(),
    )


@pytest.mark.parametrize("case", load("report.yaml"))
def test_report(case: dict[str, Any]) -> None:
    old = case["old"]
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": old["ready"], "reason": old["reason"]}],
        "observedGeneration": 1,
    }
    if old["attempted"]:
        status["lastAttemptedRevision"] = status["lastAppliedRevision"] = "main@sha1:old"
    obj = {"metadata": {"name": "app", "namespace": "web", "generation": 1}, "status": status}
    ctx = report.Context(obj=obj, interval=300.0, retry_interval=60.0, wait=True)
    outcome = _outcome(case["outcome"], "main@sha1:new")
    restored = None
    if "restored" in case:
        back = None
        if case["restored"] != "none":
            back = _outcome({"wrote": True}, "main@sha1:old")
            if case["restored"] == "failed":
                back.error = ApplyError([], transient=False)
                back.applied = False
        restored = report.Restored(back)
    begun = RECORD if case.get("begun", True) else None
    run = decide.Run(decide.Mode.FULL, new_content=bool(begun), asked=False)

    got = report.finished(
        ctx, run, outcome, begun=begun, unbegun=RECORD, restored=restored, kept_snapshot=None
    )

    expect = case["expect"]
    assert got.status is not None
    ready = next(c for c in got.status["conditions"] if c["type"] == "Ready")
    assert [ready["status"], ready["reason"]] == expect["ready"]
    stalled = any(
        c["type"] == "Stalled" and c["status"] == "True" for c in got.status["conditions"]
    )
    assert stalled == expect["stalled"]
    assert [e.reason for e in got.events] == expect["events"]
    assert [n.kind.value for n in got.notes] == expect["notes"]
    if expect["record"] is None:
        assert got.finish is None
    else:
        assert got.finish is not None
        assert got.finish.result.value == expect["record"]
    assert got.retry is not None
    assert got.retry.delay == expect["retry"]
    kept = any(c["type"] == "Kept" for c in got.status["conditions"])
    assert kept == expect.get("kept", False)
    assert not any(c["type"] == "Reconciling" for c in got.status["conditions"])


def test_a_crash_ends_failed_with_its_record_finished() -> None:
    obj = {
        "metadata": {"name": "app", "namespace": "web", "generation": 2},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "Progressing"},
                {"type": "Reconciling", "status": "True", "reason": "Progressing"},
            ]
        },
    }

    got = report.crashed(obj, KeyError("spec"), begun=RECORD, failures=2, interval=300.0)

    assert got.status is not None
    types = {c["type"]: c for c in got.status["conditions"]}
    assert "Reconciling" not in types
    assert types["Ready"]["status"] == "False"
    assert types["Ready"]["reason"] == "ReconciliationFailed"
    assert "KeyError" in types["Ready"]["message"]
    assert got.finish is not None
    assert got.finish.result is Result.FAILED
    assert [n.kind.value for n in got.notes] == ["failure"]
    assert got.retry is not None
    assert got.retry.delay == 8  # the third consecutive failure


@pytest.mark.parametrize("case", load("missing.yaml"))
def test_what_a_refused_dry_run_waits_for(case: dict[str, Any]) -> None:
    error = DryRunError([_refused(why) for why in case["refused"]])

    got = missing(error)

    assert sorted([m.kind, m.name] for m in got) == case["awaits"]


def test_only_a_dry_run_waits_for_something() -> None:
    assert missing(ImmutableFieldError([_refused("namespace")])) == frozenset()
    assert missing(ApplyError([_refused("namespace")])) == frozenset()


@pytest.mark.parametrize("case", load("arrival.yaml"))
def test_what_an_arrival_provides(case: dict[str, Any]) -> None:
    got = arrival(case["object"])

    assert (None if got is None else [got.kind, got.name]) == case["provides"]


def test_a_finished_attempt_that_lacks_a_namespace_says_what_it_awaits() -> None:
    obj = {"metadata": {"name": "app", "namespace": "web", "generation": 1}, "status": {}}
    ctx = report.Context(obj=obj, interval=600.0, retry_interval=None, wait=True)
    outcome = Outcome(revision="main@sha1:new", error=DryRunError([_refused("namespace")]))
    run = decide.Run(decide.Mode.FULL, new_content=True, asked=False)

    got = report.finished(
        ctx, run, outcome, begun=RECORD, unbegun=RECORD, restored=None, kept_snapshot=None
    )

    assert got.awaiting == {Missing.namespace("later")}
    assert got.retry is not None
    assert (got.retry.reason, got.retry.stalled, got.retry.delay) == ("NamespaceMissing", False, 2)


def test_the_message_leads_with_what_the_cluster_lacks() -> None:
    error = DryRunError([_refused("kind"), _refused("namespace")])

    text = explained(error)

    assert text.startswith(
        "waiting for kind Widget.example.com, namespace later to exist (tried again as soon as "
        "it does): dry run failed for 2 object(s)"
    )
    assert explained(DryRunError([_refused("invalid")])) == str(DryRunError([_refused("invalid")]))
