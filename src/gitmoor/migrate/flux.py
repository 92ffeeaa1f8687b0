"""Flux to gitmoor: GitRepository -> GitSource, Kustomization -> Sync (of an OCIRepository:
OCISource), HelmRelease of a chart
in a GitRepository -> Sync with `helm`, HelmRelease of a chart in a HelmRepository (https or
oci) or an OCIRepository -> ChartSource (one per HelmRelease: a ChartSource is one chart of a
repository) and a Sync with `chartRef` and inline values, which reads nothing from Git. Pure:
documents in, a `Migration` out.

Flux's defaults differ from gitmoor's in places, and the Syncs written keep Flux's behaviour:
`prune` and `wait` are false unless Flux set them, a Kustomization's `timeout` is its
`interval`, a HelmRelease's release is named `[targetNamespace-]name` and lands in its
targetNamespace (else its own namespace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from gitmoor.migrate.flux_images import IMAGE_GROUP, IMAGE_KINDS, convert_image
from gitmoor.migrate.result import Builder, Migration, document, duration, subject

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
KINDS = {
    (SOURCE_GROUP, "GitRepository"),
    (SOURCE_GROUP, "HelmRepository"),
    (SOURCE_GROUP, "OCIRepository"),
    (KUSTOMIZE_GROUP, "Kustomization"),
    (HELM_GROUP, "HelmRelease"),
    *IMAGE_KINDS,
}

CREDENTIALS = (
    "the Secret is referenced by name, not read or copied: gitmoor reads the keys username and "
    "password or bearerToken (HTTPS), identity and known_hosts (SSH) and caFile (a CA bundle); "
    "Flux's ca.crt must be copied to caFile, and client certificates (tls.crt, tls.key) have "
    "no equivalent"
)
KUSTOMIZE_FIELDS = (
    "gitmoor builds the path's kustomization.yaml as it is in Git (kubectl kustomize): "
    "put this in a kustomization.yaml at the path"
)
OTHER_CLUSTER = (
    "deploys to another cluster: gitmoor deploys to the cluster it runs in; install gitmoor "
    "there and apply this Sync there"
)


def is_flux(obj: Mapping[str, Any]) -> bool:
    return (_group(obj), obj.get("kind")) in KINDS


def convert(objects: Iterable[Mapping[str, Any]]) -> Migration:
    """GitSources and Syncs for the Flux resources among `objects` (others are ignored)."""
    builder = Builder()
    objects = [o for o in objects if is_flux(o)]
    # Chart repositories are carried over through the HelmReleases that use them.
    repositories = {
        (str(o.get("kind")), _meta(o)[1], _meta(o)[0]): o
        for o in objects
        if o.get("kind") in ("HelmRepository", "OCIRepository")
    }
    used: set[tuple[str, str, str]] = set()
    # An OCIRepository a Kustomization reads is manifests: an OCISource of its own.
    for key in _kustomized_oci(objects):
        if key in repositories:
            used.add(key)
            _oci_source(builder, repositories[key])
    for obj in objects:
        builder.read += 1
        kind = obj.get("kind")
        if kind == "GitRepository":
            _git_repository(builder, obj)
        elif kind == "Kustomization":
            _kustomization(builder, obj)
        elif kind == "HelmRelease":
            _helm_release(builder, obj, repositories, used)
        elif _group(obj) == IMAGE_GROUP:
            convert_image(builder, obj)
    for key, repository in repositories.items():
        if key not in used:
            builder.skip(
                subject(repository),
                "",
                "no HelmRelease read uses it: a gitmoor ChartSource is one chart of a "
                "repository, made for each HelmRelease that uses the repository",
            )
    _grant_cross_namespace_access(builder)
    return builder.result()


def _group(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[0]


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or ""), str(meta.get("namespace") or "default")


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return dict(spec) if isinstance(spec, Mapping) else {}


def _set_duration(
    builder: Builder, who: str, spec: Mapping[str, Any], key: str, out: dict[str, Any]
) -> None:
    if key not in spec:
        return
    value = duration(spec[key])
    if value is None:
        builder.skip(who, f"spec.{key}", f"{spec[key]!r} is not a duration gitmoor reads")
    else:
        out[key] = value


# --- GitRepository ------------------------------------------------------------------------------

_GIT_KNOWN = ("url", "ref", "interval", "timeout", "secretRef", "ignore", "verify", "suspend")
_GIT_REASONS = {
    "recurseSubmodules": "gitmoor does not fetch submodules",
    "include": "gitmoor builds no artifact out of several repositories: make a GitSource and "
    "a Sync per repository",
    "provider": "gitmoor authenticates with the Secret of secretRef only, not a cloud "
    "provider's identity",
    "proxySecretRef": "gitmoor has no per-source proxy",
}


def _git_repository(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    out: dict[str, Any] = {"url": spec.get("url")}
    ref = _git_ref(builder, who, spec.get("ref") or {})
    if not spec.get("ref"):
        ref = {"branch": "master"}
        builder.check(
            who,
            "spec.ref",
            "not set: Flux follows the branch master then, so the GitSource does too "
            "(without a ref gitmoor follows the remote's default branch)",
        )
    if ref:
        out["ref"] = ref
    _set_duration(builder, who, spec, "interval", out)
    _set_duration(builder, who, spec, "timeout", out)
    secret = (spec.get("secretRef") or {}).get("name")
    if secret:
        out["secretRef"] = {"name": secret}
        builder.check(who, "spec.secretRef", CREDENTIALS)
    ignore = spec.get("ignore")
    sparse = spec.get("sparseCheckout") or []
    if sparse:
        # Only the listed directories: everything else is ignored.
        kept = "\n".join(f"!/{str(d).strip('/')}/" for d in sparse)
        ignore = "\n".join(p for p in (ignore, "/*", kept) if p)
        builder.check(
            who,
            "spec.sparseCheckout",
            "carried over as ignore patterns: gitmoor fetches the whole tree and leaves the "
            "other paths out of the artifact",
        )
    if ignore:
        out["ignore"] = ignore
    verify = spec.get("verify")
    if isinstance(verify, Mapping):
        _git_verify(builder, who, verify, out)
    if spec.get("suspend"):
        out["suspend"] = True
    for key in spec:
        if key in _GIT_KNOWN or key == "sparseCheckout":
            continue
        builder.skip(who, f"spec.{key}", _GIT_REASONS.get(key, "gitmoor has no equivalent"))
    builder.add(who, document("GitSource", name, namespace, out))


def _git_ref(builder: Builder, who: str, ref: Mapping[str, Any]) -> dict[str, str]:
    """Flux's precedence: commit, then name, semver, tag, branch; gitmoor follows one."""
    chosen: dict[str, str] = {}
    used = ""
    for key in ("commit", "name", "semver", "tag", "branch"):
        value = ref.get(key)
        if not value:
            continue
        if used:
            builder.skip(
                who,
                f"spec.ref.{key}",
                f"gitmoor follows one of branch, tag, semver, commit: ref.{used} is kept, as "
                "Flux gives it precedence",
            )
            continue
        used = key
        if key != "name":
            chosen = {key: str(value)}
        elif str(value).startswith("refs/heads/"):
            chosen = {"branch": str(value).removeprefix("refs/heads/")}
        elif str(value).startswith("refs/tags/"):
            chosen = {"tag": str(value).removeprefix("refs/tags/")}
        else:
            used = ""
            builder.skip(
                who,
                "spec.ref.name",
                f"gitmoor follows branches, tags and commits, not {value!r}",
            )
    return chosen


_VERIFY_MODES = {"head": "head", "HEAD": "head", "Tag": "tag", "TagAndHEAD": "tagAndHead"}


def _git_verify(builder: Builder, who: str, verify: Mapping[str, Any], out: dict[str, Any]) -> None:
    mode = _VERIFY_MODES.get(str(verify.get("mode") or "HEAD"))
    secret = (verify.get("secretRef") or {}).get("name")
    if mode is None or not secret:
        builder.skip(who, "spec.verify", f"mode {verify.get('mode')!r} has no equivalent")
        return
    out["verify"] = {"mode": mode, "secretRef": {"name": secret}}
    builder.check(
        who,
        "spec.verify.secretRef",
        "gitmoor reads armored OpenPGP public keys from the Secret's keys ending in .asc (and SSH "
        "allowed-signers lines from allowed_signers): check the key names",
    )


# --- Kustomization ------------------------------------------------------------------------------

_KUSTOMIZATION_SAME = (
    "suspend",
    "serviceAccountName",
    "force",
    "healthChecks",
    "healthCheckExprs",
    "dependsOn",
    "targetNamespace",
)
_KUSTOMIZATION_REASONS = {
    "postBuild": "gitmoor applies manifests as rendered, without variable substitution: write "
    "the values into the manifests or a Kustomize overlay",
    "patches": KUSTOMIZE_FIELDS,
    "images": KUSTOMIZE_FIELDS,
    "namePrefix": KUSTOMIZE_FIELDS,
    "nameSuffix": KUSTOMIZE_FIELDS,
    "components": KUSTOMIZE_FIELDS,
    "commonMetadata": KUSTOMIZE_FIELDS,
    "kubeConfig": OTHER_CLUSTER,
}


def _kustomization(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    source = spec.get("sourceRef") or {}
    if source.get("kind", "GitRepository") not in ("GitRepository", "OCIRepository"):
        builder.skip(
            who,
            "spec.sourceRef",
            f"its source is a {source.get('kind')}: gitmoor reads Git repositories and OCI "
            "artifacts",
        )
        return
    out: dict[str, Any] = {"sourceRef": _source_ref(source, namespace)}
    if source.get("kind") == "OCIRepository":
        out["sourceRef"] = {"kind": "OCISource", **out["sourceRef"]}
    out["path"] = str(spec.get("path") or "./")
    _set_duration(builder, who, spec, "interval", out)
    _set_duration(builder, who, spec, "retryInterval", out)
    _set_duration(builder, who, spec, "timeout", out)
    if "timeout" not in out and "interval" in out:
        out["timeout"] = out["interval"]  # Flux's default
    out["prune"] = bool(spec.get("prune", False))  # required in Flux; gitmoor's default is true
    out["wait"] = bool(spec.get("wait", False))  # Flux's default
    for key in _KUSTOMIZATION_SAME:
        if spec.get(key):
            out[key] = spec[key]
    decryption = spec.get("decryption")
    if isinstance(decryption, Mapping):
        _decryption(builder, who, decryption, out)
    policy = spec.get("deletionPolicy")
    if policy in ("Delete", "Orphan"):
        out["deletionPolicy"] = policy
    elif policy == "WaitForTermination":
        out["deletionPolicy"] = "Delete"
        builder.check(
            who, "spec.deletionPolicy", "Delete: gitmoor does not wait for the objects to be gone"
        )
    if spec.get("kubeConfig"):
        builder.skip(who, "spec.kubeConfig", OTHER_CLUSTER)
    known = {
        *_KUSTOMIZATION_SAME,
        "sourceRef",
        "path",
        "interval",
        "retryInterval",
        "timeout",
        "prune",
        "wait",
        "decryption",
        "deletionPolicy",
        "kubeConfig",
    }
    for key in spec:
        if key not in known:
            builder.skip(
                who, f"spec.{key}", _KUSTOMIZATION_REASONS.get(key, "gitmoor has no equivalent")
            )
    builder.add(who, document("Sync", name, namespace, out))


def _kustomized_oci(objects: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """The OCIRepositories Kustomizations read, keyed as `convert`'s repositories."""
    found = []
    for obj in objects:
        if obj.get("kind") != "Kustomization":
            continue
        source = _spec(obj).get("sourceRef") or {}
        if source.get("kind") == "OCIRepository":
            namespace = str(source.get("namespace") or _meta(obj)[1])
            key = ("OCIRepository", namespace, str(source.get("name") or ""))
            if key not in found:
                found.append(key)
    return found


# --- OCIRepository of manifests -> OCISource ----------------------------------------------------

_OCI_KNOWN = ("url", "ref", "layerSelector", "interval", "timeout", "secretRef", "suspend")


def _oci_source(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    out: dict[str, Any] = {"url": spec.get("url")}
    ref = spec.get("ref") or {}
    # Flux's precedence: digest, then semver, then tag (latest when none).
    for key in ("digest", "semver", "tag"):
        if ref.get(key):
            out["ref"] = {key: str(ref[key])}
            break
    kept = next(iter(out.get("ref", {})), None)
    for key in ref:
        if key != kept:
            builder.skip(
                who,
                f"spec.ref.{key}",
                f"ref.{kept} is kept, as Flux gives it precedence"
                if kept and key in ("digest", "semver", "tag")
                else "gitmoor has no equivalent",
            )
    selector = spec.get("layerSelector")
    if isinstance(selector, Mapping):
        layer = {k: str(selector[k]) for k in ("mediaType", "operation") if selector.get(k)}
        if layer:
            out["layerSelector"] = layer
    _set_duration(builder, who, spec, "interval", out)
    _set_duration(builder, who, spec, "timeout", out)
    secret = (spec.get("secretRef") or {}).get("name")
    if secret:
        out["secretRef"] = {"name": secret}
        builder.check(
            who,
            "spec.secretRef",
            "the Secret is referenced by name, not read or copied: gitmoor reads username and "
            "password or bearerToken, and ca.crt; a docker-registry Secret (.dockerconfigjson) "
            "must be rewritten in those keys",
        )
    if spec.get("suspend"):
        out["suspend"] = True
    for key in spec:
        if key not in _OCI_KNOWN:
            reason = (
                "gitmoor does not verify artifact signatures"
                if key == "verify"
                else _REPOSITORY_REASONS.get(key, "gitmoor has no equivalent")
            )
            builder.skip(who, f"spec.{key}", reason)
    builder.add(who, document("OCISource", name, namespace, out))


def _source_ref(source: Mapping[str, Any], namespace: str) -> dict[str, str]:
    ref = {"name": str(source.get("name") or "")}
    if source.get("namespace") and source["namespace"] != namespace:
        ref["namespace"] = str(source["namespace"])
    return ref


def _decryption(
    builder: Builder, who: str, decryption: Mapping[str, Any], out: dict[str, Any]
) -> None:
    secret = (decryption.get("secretRef") or {}).get("name")
    if decryption.get("provider", "sops") != "sops" or not secret:
        builder.skip(
            who,
            "spec.decryption",
            "gitmoor decrypts SOPS with the keys of a Secret (decryption.secretRef) only",
        )
        return
    out["decryption"] = {"provider": "sops", "secretRef": {"name": secret}}
    builder.check(
        who,
        "spec.decryption.secretRef",
        "gitmoor reads age identities from keys ending in .agekey and OpenPGP secret keys from "
        "keys ending in .asc, as Flux does; cloud KMS credentials (sops.vault-token, "
        "sops.aws-kms, sops.azure-kv, sops.gcp-kms.json) have no equivalent",
    )


# --- HelmRelease --------------------------------------------------------------------------------

_HELM_REASONS = {
    "valuesFrom": "gitmoor reads values from Git only (helm.values, helm.valuesFiles), not from "
    "ConfigMaps or Secrets: move them into a values file of the chart",
    "storageNamespace": "gitmoor keeps no Helm release storage: what a Sync applied is in its "
    "status (inventory) and the ledger",
    "maxHistory": "the Sync's status and gitmoor's ledger keep the history",
    "test": "gitmoor runs no Helm tests (test hooks are left out of the render)",
    "rollback": "gitmoor runs no Helm actions; with atomic: true a failed revision is rolled "
    "back to the last healthy one",
    "uninstall": "deleting the Sync prunes what it applied (deletionPolicy)",
    "postRenderers": KUSTOMIZE_FIELDS,
    "commonMetadata": KUSTOMIZE_FIELDS,
    "kubeConfig": OTHER_CLUSTER,
}


def _helm_release(
    builder: Builder,
    obj: Mapping[str, Any],
    repositories: Mapping[tuple[str, str, str], Mapping[str, Any]],
    used: set[tuple[str, str, str]],
) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    chart = (spec.get("chart") or {}).get("spec") or {}
    source = chart.get("sourceRef") or spec.get("chartRef") or {}
    kind = str(source.get("kind") or "")
    where = "spec.chart.spec.sourceRef" if chart else "spec.chartRef"
    if kind == "GitRepository" and chart:
        out = _git_chart(builder, who, namespace, chart, source)
    elif kind in ("HelmRepository", "OCIRepository"):
        key = (kind, str(source.get("namespace") or namespace), str(source.get("name") or ""))
        repository = repositories.get(key)
        if repository is None:
            builder.skip(
                who,
                where,
                f"its chart comes from {kind} {key[1]}/{key[2]}, which is not among the "
                "resources read: import it together with this HelmRelease",
            )
            return
        used.add(key)  # what it cannot carry over is listed with it, not "unused"
        chart_source = _chart_source(builder, who, name, namespace, chart, repository)
        if chart_source is None:
            builder.skip(
                who,
                where,
                f"{kind} {key[1]}/{key[2]} cannot become a ChartSource (listed with it)",
            )
            return
        if not builder.add(who, chart_source):
            return
        out = {"chartRef": {"name": name}}
    else:
        builder.skip(
            who,
            where,
            f"its chart comes from a {kind or 'source of no kind'}: gitmoor renders charts from "
            "Git, Helm repositories and OCI registries",
        )
        return
    _release(builder, who, name, namespace, spec, out)
    builder.add(who, document("Sync", name, namespace, out))


def _git_chart(
    builder: Builder,
    who: str,
    namespace: str,
    chart: Mapping[str, Any],
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """A chart in a GitRepository: the Sync renders its path, values files from there."""
    chart_path = str(chart.get("chart") or ".")
    out: dict[str, Any] = {"sourceRef": _source_ref(source, namespace), "path": chart_path}
    given = list(chart.get("valuesFiles") or [])
    if chart.get("valuesFile"):  # v2beta1's single file, before valuesFiles
        given.insert(0, chart["valuesFile"])
    files = _values_files(builder, who, chart_path, given)
    if files:
        out["helm"] = {"valuesFiles": files}
    _chart_leftovers(builder, who, chart)
    return out


def _release(
    builder: Builder,
    who: str,
    name: str,
    namespace: str,
    spec: Mapping[str, Any],
    out: dict[str, Any],
) -> None:
    """What every HelmRelease carries over, wherever its chart comes from."""
    target = str(spec.get("targetNamespace") or namespace)
    out["targetNamespace"] = target
    builder.check(
        who,
        "spec.targetNamespace",
        f"the Sync's targetNamespace {target}: like Helm it places the templates that name no "
        "namespace there, and unlike Helm it also moves those that name another",
    )
    _set_duration(builder, who, spec, "interval", out)
    _set_duration(builder, who, spec, "timeout", out)
    for key in ("suspend", "serviceAccountName", "dependsOn"):
        if spec.get(key):
            out[key] = spec[key]
    default_release = f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace") else name
    release = str(spec.get("releaseName") or default_release)
    helm: dict[str, Any] = dict(out.get("helm") or {})
    if release != name:
        helm["releaseName"] = release
    if isinstance(spec.get("values"), Mapping) and spec["values"]:
        helm["values"] = spec["values"]
    if helm:
        # Keys in gitmoor's order: the release, its values, then files.
        out["helm"] = {k: helm[k] for k in ("releaseName", "values", "valuesFiles") if k in helm}
    _helm_actions(builder, who, spec, out)
    known = {
        "chart",
        "chartRef",
        "targetNamespace",
        "interval",
        "timeout",
        "suspend",
        "serviceAccountName",
        "dependsOn",
        "releaseName",
        "values",
        "install",
        "upgrade",
        "driftDetection",
    }
    for key in spec:
        if key not in known:
            builder.skip(who, f"spec.{key}", _HELM_REASONS.get(key, "gitmoor has no equivalent"))


# --- chart repositories: HelmRepository, OCIRepository -> ChartSource -------------------------

_REPOSITORY_REASONS = {
    "passCredentials": "gitmoor sends a ChartSource's credentials to its repository only",
    "insecure": "gitmoor reaches chart repositories over TLS (or plain http:// URLs)",
    "provider": "gitmoor authenticates with the Secret of secretRef only, not a cloud "
    "provider's identity",
    "accessFrom": "gitmoor's accessFrom lists namespaces, not selectors: set the "
    "ChartSource's accessFrom",
    "layerSelector": "gitmoor reads the chart layer of the artifact",
    "verify": "gitmoor does not verify chart signatures",
    "proxySecretRef": "gitmoor has no per-source proxy",
}
_CHART_REASONS = {
    "valuesFiles": "values files inside the chart archive: gitmoor merges the chart's "
    "values.yaml and helm.values; copy the others into helm.values",
    "valuesFile": "a values file inside the chart archive: gitmoor merges the chart's "
    "values.yaml and helm.values; copy it into helm.values",
    "verify": "gitmoor does not verify chart signatures",
    "reconcileStrategy": "gitmoor follows the chart's version (Flux's ChartVersion strategy)",
    "ignoreMissingValuesFiles": "gitmoor reads no values files from a chart archive",
}


def _chart_source(
    builder: Builder,
    who: str,
    name: str,
    namespace: str,
    chart: Mapping[str, Any],
    repository: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The ChartSource of one HelmRelease: the repository's URL, credentials and timeout,
    the release's chart and version. None when it cannot be expressed (said why)."""
    repo_who = subject(repository)
    repo = _spec(repository)
    url = str(repo.get("url") or "")
    out: dict[str, Any]
    if repository.get("kind") == "HelmRepository":
        out = {"url": url, "chart": str(chart.get("chart") or "")}
        version = str(chart.get("version") or "*")
        if version != "*":
            out["version"] = version
        interval = chart.get("interval") or repo.get("interval")
        for key, value in chart.items():
            if key in ("chart", "version", "sourceRef", "interval"):
                continue
            if key == "reconcileStrategy" and value == "ChartVersion":
                continue
            reason = _CHART_REASONS.get(key, "gitmoor has no equivalent")
            builder.skip(who, f"spec.chart.spec.{key}", reason)
        known = {"url", "type", "interval", "timeout", "secretRef", "certSecretRef", "suspend"}
    else:
        base, _, chart_name = url.rstrip("/").rpartition("/")
        out = {"url": base, "chart": chart_name}
        ref = repo.get("ref") or {}
        followed = _oci_version(builder, repo_who, ref)
        if followed is None:
            return None
        if followed != "*":
            out["version"] = followed
        interval = repo.get("interval")
        known = {"url", "ref", "interval", "timeout", "secretRef", "certSecretRef", "suspend"}
    if interval:
        value = duration(interval)
        if value is None:
            builder.skip(repo_who, "spec.interval", f"{interval!r} is not a duration")
        else:
            out["interval"] = value
    _set_duration(builder, repo_who, repo, "timeout", out)
    secret = (repo.get("secretRef") or {}).get("name")
    ca = (repo.get("certSecretRef") or {}).get("name")
    if secret:
        out["secretRef"] = {"name": secret}
        builder.check(repo_who, "spec.secretRef", CHART_CREDENTIALS)
        if ca:
            builder.skip(
                repo_who,
                "spec.certSecretRef",
                f"gitmoor reads the CA from the secretRef's Secret: copy ca.crt of {ca} into "
                f"{secret} (client certificates have no equivalent)",
            )
    elif ca:
        out["secretRef"] = {"name": ca}
        builder.check(
            repo_who,
            "spec.certSecretRef",
            "carried over as secretRef: gitmoor reads its ca.crt; client certificates "
            "(tls.crt, tls.key) have no equivalent",
        )
    if repo.get("suspend"):
        out["suspend"] = True
    for key in repo:
        if key in known:
            continue
        if key == "provider" and repo[key] == "generic":
            continue
        if key == "type" and repo[key] in ("default", "oci"):
            continue
        builder.skip(
            repo_who, f"spec.{key}", _REPOSITORY_REASONS.get(key, "gitmoor has no equivalent")
        )
    builder.check(
        who,
        "spec.chart",
        f"its chart becomes ChartSource {namespace}/{name}, one chart of "
        f"{repository.get('kind')} {repo_who.split('/', 1)[1]}",
    )
    return document("ChartSource", name, namespace, out)


CHART_CREDENTIALS = (
    "the Secret is referenced by name, not read or copied: gitmoor reads username and password "
    "(or bearerToken) and ca.crt (or caFile) from it"
)
_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+){0,2}([-+].*)?$")


def _oci_version(builder: Builder, who: str, ref: Mapping[str, Any]) -> str | None:
    """An OCIRepository's ref as a ChartSource's version: its semver range, else its tag
    when that is a version; None (said why) when it follows a digest or a tag like latest."""
    if ref.get("digest"):
        builder.skip(who, "spec.ref.digest", "gitmoor follows chart versions, not digests")
        return None
    if ref.get("semver"):
        if ref.get("semverFilter"):
            builder.skip(who, "spec.ref.semverFilter", "gitmoor has no equivalent")
        return str(ref["semver"])
    tag = str(ref.get("tag") or "latest")
    if not _VERSION.match(tag):
        builder.skip(
            who,
            "spec.ref.tag",
            f"{tag!r} is not a version: a ChartSource follows a version or a range of versions",
        )
        return None
    return tag.removeprefix("v") if tag.startswith("v") and tag[1:2].isdigit() else tag


def _values_files(builder: Builder, who: str, chart: str, files: list[Any]) -> list[str]:
    """Flux names values files from the source's root; gitmoor from the chart."""
    base = PurePosixPath(chart.removeprefix("./"))
    out: list[str] = []
    for index, file in enumerate(files):
        path = PurePosixPath(str(file).removeprefix("./"))
        try:
            out.append(path.relative_to(base).as_posix())
        except ValueError:
            builder.skip(
                who,
                f"spec.chart.spec.valuesFiles[{index}]",
                f"{file} is outside the chart {chart}: gitmoor reads values files inside the "
                "chart; copy it there",
            )
    if files and "values.yaml" not in out:
        builder.check(
            who,
            "spec.chart.spec.valuesFiles",
            "Flux leaves the chart's values.yaml out when valuesFiles are given; gitmoor, "
            "like Helm, merges them over it",
        )
    return out


def _helm_actions(builder: Builder, who: str, spec: Mapping[str, Any], out: dict[str, Any]) -> None:
    for action in ("install", "upgrade"):
        settings = spec.get(action)
        if not isinstance(settings, Mapping):
            continue
        for key, value in settings.items():
            where = f"spec.{action}.{key}"
            if key == "disableWait":
                if value:
                    out["wait"] = False
            elif key == "createNamespace":
                if value:
                    out["createNamespace"] = True
                    builder.check(
                        who,
                        where,
                        "createNamespace: gitmoor creates the targetNamespace when missing, "
                        "labelled as the Sync's; like Flux it never deletes it",
                    )
            elif key == "remediation":
                builder.skip(
                    who,
                    where,
                    "gitmoor runs no Helm actions; with atomic: true a revision that fails to "
                    "apply or become healthy is rolled back to the last healthy one",
                )
            elif key == "force" and value:
                out["force"] = True
                builder.check(
                    who,
                    where,
                    "force: gitmoor deletes and recreates objects whose immutable fields changed",
                )
            else:
                builder.skip(who, where, "gitmoor has no equivalent")
    drift = spec.get("driftDetection")
    mode = drift.get("mode") if isinstance(drift, Mapping) else None
    if mode == "warn":
        out["drift"] = "report"
    elif mode != "enabled":
        builder.check(
            who,
            "spec.driftDetection",
            "Flux left drift alone (detection disabled, its default); a gitmoor Sync corrects "
            "drift: set drift: report to only report it",
        )
    if isinstance(drift, Mapping) and drift.get("ignore"):
        builder.skip(
            who,
            "spec.driftDetection.ignore",
            "gitmoor ignores drift per object, not per field: annotate the object "
            "gitmoor.io/drift: ignore",
        )


def _chart_leftovers(builder: Builder, who: str, chart: Mapping[str, Any]) -> None:
    for key, value in chart.items():
        where = f"spec.chart.spec.{key}"
        if key in ("chart", "sourceRef", "valuesFiles", "valuesFile"):
            continue
        if key == "version" and value in ("*", ""):
            continue
        if key == "reconcileStrategy" and value == "Revision":
            continue
        reasons = {
            "version": "a chart from Git is rendered as it is at the GitSource's revision",
            "reconcileStrategy": "gitmoor renders the chart at every new revision of the "
            "GitSource (Flux's Revision strategy), not only when its version changes",
            "interval": "the GitSource's interval decides when the chart is read again",
        }
        builder.skip(who, where, reasons.get(key, "gitmoor has no equivalent"))


# --- across resources ---------------------------------------------------------------------------


def _grant_cross_namespace_access(builder: Builder) -> None:
    """A Sync using a GitSource of another namespace needs that source's accessFrom when the
    agent refuses cross-namespace references (Flux allows them unless told otherwise)."""
    sources = {
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in builder.objects
        if o["kind"] in ("GitSource", "OCISource")
    }
    for sync in (o for o in builder.objects if o["kind"] == "Sync"):
        own = sync["metadata"]["namespace"]
        ref = sync["spec"].get("sourceRef")
        if ref is None:
            continue  # a chart with inline values: no GitSource
        kind = ref.get("kind", "GitSource")
        source = sources.get((kind, ref.get("namespace", own), ref["name"]))
        if source is not None and ref.get("namespace", own) != own:
            allowed = source["spec"].setdefault("accessFrom", [])
            if own not in allowed:
                allowed.append(own)
