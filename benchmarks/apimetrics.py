"""API requests a tool made during a run, from kube-apiserver's own `apiserver_request_total`.

The counter is scraped before and after a run; the difference holds every client's requests,
so three things are taken out before anything is reported:

- the harness's own requests (counted by `KubeAPI` with the same labels), subtracted exactly;
- non-resource requests (`/metrics`, `/healthz`, OpenAPI): the empty `component` label;
- the control plane's housekeeping, listed in `HOUSEKEEPING`: kwok's node heartbeats, the
  controller-manager's reactions to new objects (ReplicaSets for a Deployment, EndpointSlices
  for a Service, `deployments/status`, the revision annotation it PUTs on a Deployment) and
  Leases (node heartbeats and gitmoor's leader election renewals: a clock, not work; Flux's
  controllers cannot elect a leader out of cluster, so neither tool is charged for them),
  the IPAddress the apiserver allocates for each Service, and the POSTs of ConfigMaps and
  ServiceAccounts: both tools create with server-side apply (APPLY), so those are the
  controller-manager's `kube-root-ca.crt` and `default` ServiceAccount in each new namespace;
  and discovery (`GET /api`, `/apis`), which the controller-manager repeats every 30 seconds.

Reads are GET and LIST (discovery included); writes are POST, PUT, PATCH, APPLY, DELETE and
DELETECOLLECTION without `dryRun`; dry runs are those same verbs with `dryRun=All`, counted on
their own: the server validates and discards them. WATCH requests are counted apart: the
apiserver counts a watch when it ends, so they say little about a run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from benchmarks.kubeapi import RequestKey

MetricKey = tuple[str, str, str, str, str]  # (verb, resource, subresource, dry_run, component)

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

READ_VERBS = frozenset({"GET", "LIST"})
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})

# (resource, subresource, verb); "*" matches anything. See the module docstring for why.
HOUSEKEEPING: tuple[tuple[str, str, str], ...] = (
    ("leases", "*", "*"),
    ("nodes", "*", "*"),
    ("pods", "*", "*"),
    ("replicasets", "*", "*"),
    ("endpointslices", "*", "*"),
    ("endpoints", "*", "*"),
    ("deployments", "status", "*"),
    ("deployments", "", "PUT"),
    ("serviceaccounts", "token", "*"),
    ("subjectaccessreviews", "*", "*"),
    ("tokenreviews", "*", "*"),
    ("ipaddresses", "*", "*"),
    ("", "api", "GET"),
    ("", "apis", "GET"),
    ("configmaps", "", "POST"),
    ("serviceaccounts", "", "POST"),
)
# A tool's bookkeeping rather than the objects it manages: its own resources (and their status)
# and the Events it records.
BOOKKEEPING = frozenset({"gitsources", "syncs", "gitrepositories", "kustomizations", "events"})


def parse(text: str) -> Counter[MetricKey]:
    """The `apiserver_request_total` samples of a /metrics page, summed over the labels the
    accounting does not use (code, group, version, scope)."""
    samples: Counter[MetricKey] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        key = (
            labels.get("verb", ""),
            labels.get("resource", ""),
            labels.get("subresource", ""),
            labels.get("dry_run", ""),
            labels.get("component", ""),
        )
        samples[key] += int(float(match["value"]))
    return samples


def _housekeeping(verb: str, resource: str, subresource: str) -> bool:
    return any(
        resource == r and s in ("*", subresource) and v in ("*", verb) for r, s, v in HOUSEKEEPING
    )


@dataclass
class Requests:
    reads: int = 0
    writes: int = 0
    object_writes: int = 0  # writes to managed objects: `writes` without BOOKKEEPING
    dry_runs: int = 0
    watches: int = 0
    # "VERB resource[/subresource]" -> count, for the JSON report.
    detail: dict[str, int] = field(default_factory=dict)


def account(
    before: Mapping[MetricKey, int],
    after: Mapping[MetricKey, int],
    own: Mapping[RequestKey, int],
) -> Requests:
    """The tool's requests between two scrapes, `own` (the harness's requests) taken out."""
    delta: Counter[tuple[str, str, str, str]] = Counter()
    for key, value in after.items():
        verb, resource, subresource, dry_run, component = key
        if not component:
            continue
        diff = value - before.get(key, 0)
        if diff > 0:
            delta[(verb, resource, subresource, dry_run)] += diff
    for (verb, resource, subresource), count in own.items():
        mine = (verb, resource, subresource, "")
        delta[mine] = max(0, delta[mine] - count)
    result = Requests()
    for (verb, resource, subresource, dry_run), count in sorted(delta.items()):
        if count <= 0 or _housekeeping(verb, resource, subresource):
            continue
        name = resource + (f"/{subresource}" if subresource else "")
        label = f"{verb}{' (dry run)' if dry_run else ''} {name or '(discovery)'}"
        result.detail[label] = result.detail.get(label, 0) + count
        if verb == "WATCH":
            result.watches += count
        elif verb in READ_VERBS:
            result.reads += count
        elif verb in WRITE_VERBS and dry_run:
            result.dry_runs += count
        elif verb in WRITE_VERBS:
            result.writes += count
            if resource not in BOOKKEEPING:
                result.object_writes += count
    return result
