"""Documents to migrate: YAML or JSON text (a `List` is opened), and the conversion of all of
them at once (Argo CD's Applications need their AppProjects)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from gitmoor.errors import MigrationInputError
from gitmoor.migrate import argo, flux
from gitmoor.migrate.result import Migration, Skipped, subject

# (apiVersions to try, newest first, kind): what `--from-cluster` lists.
KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2"), "GitRepository"),
    (("source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2"), "HelmRepository"),
    (("source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2"), "OCIRepository"),
    (("kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io/v1beta2"), "Kustomization"),
    (
        (
            "helm.toolkit.fluxcd.io/v2",
            "helm.toolkit.fluxcd.io/v2beta2",
            "helm.toolkit.fluxcd.io/v2beta1",
        ),
        "HelmRelease",
    ),
    (("argoproj.io/v1alpha1",), "Application"),
    (("argoproj.io/v1alpha1",), "AppProject"),
)

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


def parse_documents(text: bytes | str, source: str) -> list[dict[str, Any]]:
    """The mappings of a multi-document YAML (or JSON) text, Lists opened; raises
    `MigrationInputError` naming `source` and the line of broken YAML."""
    loader = _Loader(text)
    found: list[dict[str, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            obj = loader.construct_document(node)
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise MigrationInputError(
                    source, node.start_mark.line + 1, "expected a mapping (a Kubernetes object)"
                )
            found.extend(_opened(obj))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise MigrationInputError(
            source, mark.line + 1 if mark else None, f"invalid YAML: {err.problem or err}"
        ) from None
    except yaml.YAMLError as err:
        raise MigrationInputError(source, None, f"invalid YAML: {err}") from None
    finally:
        loader.dispose()
    return found


def _opened(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if str(obj.get("kind") or "").endswith("List") and isinstance(obj.get("items"), list):
        return [item for item in obj["items"] if isinstance(item, dict)]
    return [obj]


# Other kinds of Flux and Argo CD: listed whole, with what gitmoor offers instead.
_OTHERS = {
    "Bucket": "gitmoor reads Git repositories only",
    "ExternalArtifact": "gitmoor reads Git repositories only",
    "HelmChart": "Flux makes it for a HelmRelease; the Sync of that HelmRelease renders the chart",
    "Alert": "notifications are a Sync's spec.notifications (webhook, Slack, GitHub, GitLab)",
    "Provider": "notifications are a Sync's spec.notifications (webhook, Slack, GitHub, GitLab)",
    "Receiver": "gitmoor's agent receives pushes itself (/hooks/github, /hooks/gitlab, "
    "/hooks/gitea, /hooks/generic, /hooks/registry)",
    "ApplicationSet": "gitmoor has no generators: import the Applications it generated "
    "(gitmoor import --from-cluster reads them)",
    "AppProject": "",
    "Application": "",
}


def _other(obj: Mapping[str, Any]) -> Skipped | None:
    """A Flux or Argo CD resource `gitmoor import` has no mapping for, listed whole."""
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    if not (group.endswith(".toolkit.fluxcd.io") or group == "argoproj.io"):
        return None
    if flux.is_flux(obj) or argo.is_argo(obj):
        return None
    kind = str(obj.get("kind") or "")
    return Skipped(subject(obj), "", _OTHERS.get(kind) or "gitmoor has no equivalent")


# Text every Flux or Argo CD document holds (in its apiVersion).
MARKERS = (b"toolkit.fluxcd.io/", b"argoproj.io/")
_DEPLOYING = {"Kustomization", "HelmRelease", "Application"}


def as_syncs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Syncs `gitmoor import` makes of one Flux Kustomization or HelmRelease or Argo CD
    Application (for `gitmoor validate`: which namespace and Helm settings a path deploys
    with); [] for any other document."""
    if obj.get("kind") not in _DEPLOYING or not (flux.is_flux(obj) or argo.is_argo(obj)):
        return []
    return [o for o in migrate([obj]).objects if o["kind"] == "Sync"]


def migrate(objects: Iterable[Mapping[str, Any]]) -> Migration:
    """GitSources and Syncs for every Flux and Argo CD resource among `objects`; other
    objects are ignored. GitSources made for Argo CD are named apart from Flux's; two Syncs
    with one name (a Kustomization and an Application both `apps/web`) keep the first, and the
    second is listed as not carried over."""
    given = list(objects)
    from_flux = flux.convert(given)
    sources = [o["metadata"] for o in from_flux.objects if o["kind"] == "GitSource"]
    result = from_flux + argo.convert(given, taken=[(m["namespace"], m["name"]) for m in sources])
    kept: list[dict[str, Any]] = []
    skipped = list(result.skipped)
    seen: dict[str, dict[str, Any]] = {}
    for obj in sorted(result.objects, key=lambda o: o["kind"] != "GitSource"):
        key = subject(obj)
        if key in seen:
            if seen[key] != obj:
                skipped.append(
                    Skipped(
                        key,
                        "",
                        "another imported resource became an object of this name: rename one "
                        "of them and import again",
                    )
                )
            continue
        seen[key] = obj
        kept.append(obj)
    others = [o for o in (_other(obj) for obj in given) if o is not None]
    return Migration(tuple(kept), (*skipped, *others), result.read + len(others))
