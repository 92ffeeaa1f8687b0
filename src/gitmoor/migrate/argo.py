"""Argo CD to gitmoor: each Git source of an Application -> a GitSource (one per repository and
revision) and a Sync; an AppProject's tenancy maps where gitmoor has the same idea (a
ServiceAccount to act as), and is otherwise listed. Pure: documents in, a `Migration` out.

What Argo CD does by default, the Syncs written keep: `prune` only when `automated.prune`,
drift corrected only with `selfHeal` (else `drift: report`), an Application without automated
sync becomes a suspended Sync (nothing deploys until `gitmoor resume`), and deleting the Sync
prunes only when the Application had Argo CD's resources finalizer.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitmoor.migrate.result import Builder, Migration, document, duration, slug, subject

GROUP = "argoproj.io"
KINDS = {"Application", "AppProject"}
REPOSITORY_LABEL = "argocd.argoproj.io/secret-type"
IN_CLUSTER = {"https://kubernetes.default.svc", "https://kubernetes.default.svc/"}
FINALIZER = "resources-finalizer.argocd.argoproj.io"

CREDENTIALS = (
    "Argo CD keeps repository credentials in Secrets labelled "
    "argocd.argoproj.io/secret-type: repository (or repo-creds); they are not read or copied. "
    "If this repository needs them, create a Secret in the GitSource's namespace with the keys "
    "username and password (or bearerToken) for HTTPS, identity (Argo: sshPrivateKey) and "
    "known_hosts for SSH, and optionally caFile (a CA bundle), and set spec.secretRef to it"
)
KUSTOMIZE_FIELDS = (
    "gitmoor builds the path's kustomization.yaml as it is in Git (kubectl kustomize): "
    "put this in a kustomization.yaml at the path"
)
OTHER_CLUSTER = (
    "deploys to another cluster: gitmoor deploys to the cluster it runs in; install gitmoor "
    "there and apply this Sync there"
)
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_VERSION = re.compile(r"^v?\d+(\.\d+)*([-+][0-9A-Za-z.-]+)?$")
_RANGE = re.compile(r"^[\sv\d.xX*<>=~^|-]+$")  # only what ranges are written with


def is_argo(obj: Mapping[str, Any]) -> bool:
    api = str(obj.get("apiVersion") or "")
    return api.rpartition("/")[0] == GROUP and obj.get("kind") in KINDS


def is_repository_secret(obj: Mapping[str, Any]) -> bool:
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "Secret":
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(REPOSITORY_LABEL) or "").startswith(("repository", "repo-creds"))


def convert(
    objects: Iterable[Mapping[str, Any]], *, taken: Iterable[tuple[str, str]] = ()
) -> Migration:
    """GitSources and Syncs for the Argo CD resources among `objects` (others are ignored).
    GitSources are named apart from the `(namespace, name)`s in `taken`."""
    given = list(objects)
    projects = {
        (_meta(o)[1], _meta(o)[0]): o for o in given if is_argo(o) and o["kind"] == "AppProject"
    }
    context = _Context(Builder(), projects, set(taken))
    for obj in given:
        if is_repository_secret(obj):
            context.builder.read += 1
            context.builder.skip(
                subject(obj),
                "",
                "Argo CD repository credentials: not read or copied. Re-create them in "
                "gitmoor's format for the GitSource of that repository: a Secret with username "
                "and password (or bearerToken) for HTTPS, identity (Argo: sshPrivateKey) and "
                "known_hosts for SSH, optionally caFile; then set the GitSource's "
                "spec.secretRef",
            )
        elif is_argo(obj):
            context.builder.read += 1
            if obj["kind"] == "Application":
                _application(context, obj)
            else:
                _project(context.builder, obj)
    return context.builder.result()


@dataclass
class _Context:
    builder: Builder
    projects: dict[tuple[str, str], Mapping[str, Any]]
    taken: set[tuple[str, str]]
    sources: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = field(default_factory=dict)

    def git_source(self, namespace: str, url: str, ref: dict[str, str], who: str) -> str:
        """The name of the GitSource for (url, ref) in `namespace`, made once."""
        key = (namespace, url.rstrip("/").removesuffix(".git"), tuple(sorted(ref.items())))
        if key in self.sources:
            return self.sources[key]
        base = slug(url.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
        taken = {name for (ns, _, _), name in self.sources.items() if ns == namespace}
        taken |= {name for ns, name in self.taken if ns == namespace}
        name = base
        if name in taken and ref:
            name = slug(f"{base}-{next(iter(ref.values()))}")
        number = 2
        while name in taken:
            name, number = f"{base}-{number}", number + 1
        spec: dict[str, Any] = {"url": url}
        if ref:
            spec["ref"] = ref
        if self.builder.add(who, document("GitSource", name, namespace, spec)):
            self.sources[key] = name
            self.builder.skip(f"GitSource/{namespace}/{name}", "spec.secretRef", CREDENTIALS)
            return name
        return ""


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or ""), str(meta.get("namespace") or "default")


# --- Application --------------------------------------------------------------------------------


def _application(context: _Context, obj: Mapping[str, Any]) -> None:
    builder = context.builder
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = obj.get("spec") or {}
    if spec.get("sources"):
        sources = [(f"spec.sources[{i}]", s) for i, s in enumerate(spec["sources"])]
        if spec.get("source"):
            builder.skip(who, "spec.source", "Argo CD ignores it when spec.sources is set")
    else:
        sources = [("spec.source", spec.get("source") or {})]
    usable = [(where, s) for where, s in sources if _usable(builder, who, where, s)]
    if not usable:
        builder.skip(who, "", "no source of it can be read from Git by gitmoor (see above)")
        return
    common = _sync_settings(context, obj)
    for index, (where, source) in enumerate(usable):
        sync_name = name if len(usable) == 1 else f"{name}-{sources.index((where, source))}"
        ref = _revision(builder, who, where, str(source.get("targetRevision") or ""))
        source_name = context.git_source(namespace, str(source["repoURL"]), ref, who)
        if not source_name:
            continue
        out: dict[str, Any] = {"sourceRef": {"name": source_name}, **common}
        out["path"] = str(source.get("path") or "./")
        helm = _helm(builder, who, where, source.get("helm"), release=name) or {}
        if sync_name != name:
            helm.setdefault("releaseName", name)  # Argo CD names a chart's release after the app
        if helm:
            out["helm"] = helm
        _render_leftovers(builder, who, where, source)
        if index == 0:
            _application_leftovers(builder, who, spec)
        builder.add(who, document("Sync", sync_name, namespace, out))


def _usable(builder: Builder, who: str, where: str, source: Mapping[str, Any]) -> bool:
    if source.get("chart"):
        builder.skip(
            who,
            where,
            f"the chart {source['chart']} comes from a Helm repository: not supported by "
            "gitmoor yet (a later issue); vendor the chart into Git",
        )
        return False
    if source.get("plugin"):
        builder.skip(
            who, f"{where}.plugin", "config management plugins have no equivalent in gitmoor"
        )
        return False
    if not source.get("repoURL"):
        builder.skip(who, f"{where}.repoURL", "no repository")
        return False
    if source.get("ref") and not source.get("path"):
        builder.skip(
            who,
            where,
            f"a source only for $values files (ref: {source['ref']}): gitmoor reads values "
            "files inside the chart; copy them there",
        )
        return False
    return True


def _revision(builder: Builder, who: str, where: str, revision: str) -> dict[str, str]:
    """Argo CD's targetRevision: a branch, tag, commit or (for charts) range, told apart by
    the remote; gitmoor needs to be told, so it is read by its shape."""
    field_path = f"{where}.targetRevision"
    if revision in ("", "HEAD"):
        return {}
    if revision.startswith("refs/heads/"):
        return {"branch": revision.removeprefix("refs/heads/")}
    if revision.startswith("refs/tags/"):
        return {"tag": revision.removeprefix("refs/tags/")}
    if _HEX40.match(revision):
        return {"commit": revision}
    if _VERSION.match(revision):
        builder.check(
            who,
            field_path,
            f"{revision!r} read as a tag; if it is a branch, write ref.branch in the GitSource",
        )
        return {"tag": revision}
    if _RANGE.search(revision):
        return {"semver": revision}
    builder.check(
        who,
        field_path,
        f"{revision!r} read as a branch; if it is a tag, write ref.tag in the GitSource",
    )
    return {"branch": revision}


def _sync_settings(context: _Context, obj: Mapping[str, Any]) -> dict[str, Any]:
    builder = context.builder
    who = subject(obj)
    _, namespace = _meta(obj)
    spec = obj.get("spec") or {}
    out: dict[str, Any] = {}
    destination = spec.get("destination") or {}
    if destination.get("namespace"):
        out["targetNamespace"] = destination["namespace"]
        builder.check(
            who,
            "spec.destination.namespace",
            "the Sync's targetNamespace: Argo CD sets it on objects that name no namespace, "
            "gitmoor on every namespaced object",
        )
    server = destination.get("server")
    if (server and server not in IN_CLUSTER) or destination.get("name", "in-cluster") not in (
        "in-cluster",
    ):
        builder.skip(who, "spec.destination", OTHER_CLUSTER)
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated")
    if isinstance(automated, Mapping) and automated.get("enabled", True) is not False:
        out["prune"] = bool(automated.get("prune", False))
        if not automated.get("selfHeal", False):
            out["drift"] = "report"
        if automated.get("allowEmpty"):
            out["allowEmpty"] = True
    else:
        out["prune"] = False
        out["drift"] = "report"
        out["suspend"] = True
        builder.check(
            who,
            "spec.syncPolicy.automated",
            "not set: Argo CD syncs only when asked; gitmoor has no manual sync, so the Sync "
            "is suspended: `gitmoor resume NAME` makes it deploy",
        )
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    deletes = any(str(f).startswith(FINALIZER) for f in finalizers)
    out["deletionPolicy"] = "Delete" if deletes else "Orphan"
    _sync_options(builder, who, policy.get("syncOptions") or [], out)
    retry = policy.get("retry")
    if isinstance(retry, Mapping):
        backoff = retry.get("backoff") or {}
        if backoff.get("maxDuration"):
            value = duration(backoff["maxDuration"])
            if value:
                out["retryInterval"] = value
        builder.skip(
            who,
            "spec.syncPolicy.retry",
            "gitmoor retries with exponential backoff, without a limit, up to retryInterval "
            "(carried over from backoff.maxDuration when set)",
        )
    if policy.get("managedNamespaceMetadata"):
        builder.skip(
            who,
            "spec.syncPolicy.managedNamespaceMetadata",
            "gitmoor labels the namespace it creates as the Sync's only: declare the Namespace "
            "with its labels and annotations in Git",
        )
    account = _service_account(context, obj, namespace, destination)
    if account:
        out["serviceAccountName"] = account
    return out


CREATE_NAMESPACE = (
    "createNamespace: gitmoor creates the targetNamespace when missing, labelled as the "
    "Sync's, never prunes it and leaves it when the Sync is deleted"
)


def _sync_options(builder: Builder, who: str, options: list[Any], out: dict[str, Any]) -> None:
    same = {
        "PruneLast=true": "gitmoor always prunes after applying and health checks",
        "ServerSideApply=true": "gitmoor always applies server-side",
        "ApplyOutOfSyncOnly=true": "gitmoor only writes objects that differ from the cluster",
    }
    reasons = {
        "Replace=true": "gitmoor applies server-side, never replaces (force: true recreates "
        "objects whose immutable fields changed)",
        "Validate=false": "gitmoor always validates, by a server-side dry run",
    }
    for index, option in enumerate(options):
        where = f"spec.syncPolicy.syncOptions[{index}]"
        text = str(option)
        if text in same:
            continue  # gitmoor's own behaviour
        if text == "CreateNamespace=true":
            out["createNamespace"] = True
            builder.check(who, where, CREATE_NAMESPACE)
            continue
        builder.skip(who, where, f"{text}: {reasons.get(text, 'gitmoor has no equivalent')}")


def _service_account(
    context: _Context, obj: Mapping[str, Any], namespace: str, destination: Mapping[str, Any]
) -> str | None:
    """The ServiceAccount the Application's AppProject has Argo CD act as for its destination
    (destinationServiceAccounts), when it is one of the Sync's namespace, as gitmoor needs."""
    spec = obj.get("spec") or {}
    project = context.projects.get((namespace, str(spec.get("project") or "default")))
    if project is None:
        return None
    target = str(destination.get("namespace") or "")
    for entry in (project.get("spec") or {}).get("destinationServiceAccounts") or []:
        server = str(entry.get("server") or "*")
        if not (fnmatch.fnmatch(str(destination.get("server") or ""), server) or server == "*"):
            continue
        if not fnmatch.fnmatch(target, str(entry.get("namespace") or "*")):
            continue
        account = str(entry.get("defaultServiceAccount") or "")
        where, _, account_name = account.rpartition(":")
        where = where or target
        if where == namespace and account_name:
            return account_name
        context.builder.skip(
            subject(obj),
            "serviceAccountName",
            f"its AppProject has Argo CD act as ServiceAccount {where}/{account_name}; a gitmoor "
            f"Sync acts as a ServiceAccount of its own namespace ({namespace}): create one "
            "there with the same RBAC and set spec.serviceAccountName",
        )
        return None
    return None


def _helm(
    builder: Builder, who: str, where: str, helm: Any, *, release: str
) -> dict[str, Any] | None:
    if not isinstance(helm, Mapping):
        return None
    out: dict[str, Any] = {}
    if helm.get("releaseName") and helm["releaseName"] != release:
        out["releaseName"] = helm["releaseName"]
    if helm.get("namespace"):
        out["namespace"] = helm["namespace"]
    files: list[str] = []
    for index, file in enumerate(helm.get("valueFiles") or []):
        text = str(file)
        if text.startswith(("$", "http://", "https://", "/")) or ".." in text.split("/"):
            builder.skip(
                who,
                f"{where}.helm.valueFiles[{index}]",
                f"{text}: gitmoor reads values files inside the chart only; copy it there",
            )
        else:
            files.append(text)
    if files:
        out["valuesFiles"] = files
    # Argo CD's precedence: parameters > valuesObject > values > valueFiles.
    values: dict[str, Any] = {}
    if helm.get("values"):
        try:
            loaded = yaml.safe_load(str(helm["values"]))
        except yaml.YAMLError as err:
            loaded = None
            builder.skip(who, f"{where}.helm.values", f"not YAML: {err}")
        if isinstance(loaded, Mapping):
            values = _merge(values, loaded)
    if isinstance(helm.get("valuesObject"), Mapping):
        values = _merge(values, helm["valuesObject"])
    for index, parameter in enumerate(helm.get("parameters") or []):
        key = str(parameter.get("name") or "")
        if not key or "[" in key or "\\" in key:
            builder.skip(
                who,
                f"{where}.helm.parameters[{index}]",
                f"{key!r}: only plain dotted names are carried over into helm.values",
            )
            continue
        value = parameter.get("value")
        typed = str(value) if parameter.get("forceString") else _set_value(value)
        values = _merge(values, _nested(key.split("."), typed))
    if values:
        out["values"] = values
    reasons = {
        "fileParameters": "gitmoor does not read values from other files than valuesFiles",
        "skipCrds": "gitmoor applies the chart's CRDs",
        "passCredentials": "gitmoor fetches no chart dependencies",
        "ignoreMissingValueFiles": "gitmoor fails on a missing values file",
    }
    for key, value in helm.items():
        if key in ("releaseName", "namespace", "valueFiles", "values", "valuesObject"):
            continue
        if key == "parameters" or value in (None, False, [], ""):
            continue
        builder.skip(who, f"{where}.helm.{key}", reasons.get(key, "gitmoor has no equivalent"))
    return out


def _set_value(value: Any) -> Any:
    """What `helm --set` makes of a string: booleans, integers, null, else the string."""
    if not isinstance(value, str):
        return value
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
        return int(value)
    return value


def _nested(path: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _render_leftovers(builder: Builder, who: str, where: str, source: Mapping[str, Any]) -> None:
    kustomize = source.get("kustomize")
    if isinstance(kustomize, Mapping):
        for key in kustomize:
            builder.skip(who, f"{where}.kustomize.{key}", KUSTOMIZE_FIELDS)
    directory = source.get("directory")
    directory = directory if isinstance(directory, Mapping) else {}
    if not directory.get("recurse") and not source.get("helm") and not kustomize:
        builder.check(
            who,
            f"{where}.directory.recurse",
            "Argo CD reads a plain directory's own files only (recurse is false); gitmoor "
            "renders every manifest below the path, subdirectories too",
        )
    for key in directory:
        if key != "recurse":
            builder.skip(
                who,
                f"{where}.directory.{key}",
                "gitmoor renders every manifest below the path: move the others out of it, or "
                "list the files in a kustomization.yaml",
            )
    for key in source:
        if key in ("repoURL", "targetRevision", "path", "helm", "kustomize", "directory"):
            continue
        if key in ("chart", "plugin", "ref", "name"):
            continue
        builder.skip(who, f"{where}.{key}", "gitmoor has no equivalent")


def _application_leftovers(builder: Builder, who: str, spec: Mapping[str, Any]) -> None:
    reasons = {
        "ignoreDifferences": "gitmoor ignores drift per object, not per field: annotate the "
        "object gitmoor.io/drift: ignore",
        "revisionHistoryLimit": "gitmoor's ledger keeps every deployment",
        "info": "gitmoor has no equivalent: labels or annotations on the Sync can hold it",
    }
    for key in spec:
        if key in ("source", "sources", "destination", "syncPolicy"):
            continue
        if key == "project":
            if spec[key] != "default":
                builder.skip(
                    who,
                    "spec.project",
                    f"gitmoor has no projects: see AppProject {spec[key]} for what its "
                    "restrictions become",
                )
            continue
        builder.skip(who, f"spec.{key}", reasons.get(key, "gitmoor has no equivalent"))


# --- AppProject ---------------------------------------------------------------------------------

_RBAC = (
    "gitmoor confines a tenant by Kubernetes RBAC: the Syncs' serviceAccountName acts as a "
    "ServiceAccount, whose Roles decide what it may apply"
)


def _project(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    spec = obj.get("spec") or {}
    for key, value in spec.items():
        where = f"spec.{key}"
        if key == "destinationServiceAccounts":
            builder.check(
                who,
                where,
                "carried over to the serviceAccountName of this project's Syncs where the "
                "ServiceAccount is in the Sync's namespace (others are listed with the "
                "Application)",
            )
        elif key == "destinations":
            namespaces = sorted({str(d.get("namespace") or "*") for d in value or []})
            builder.skip(
                who,
                where,
                f"{_RBAC}: bind it a Role in each destination namespace "
                f"({', '.join(namespaces)}), and nothing outside them",
            )
        elif key == "sourceRepos":
            builder.skip(
                who,
                where,
                "gitmoor keeps no list of allowed repositories: with --no-cross-namespace-refs "
                "a Sync may use only GitSources of its own namespace or whose accessFrom lists "
                "it",
            )
        elif key in (
            "clusterResourceWhitelist",
            "clusterResourceBlacklist",
            "namespaceResourceWhitelist",
            "namespaceResourceBlacklist",
        ):
            builder.skip(who, where, f"{_RBAC}: grant it only the kinds allowed here")
        elif key == "roles":
            builder.skip(
                who,
                where,
                "Argo CD's own roles for its UI and API: who may change Syncs is Kubernetes "
                "RBAC on gitmoor.io resources",
            )
        elif key == "syncWindows":
            builder.skip(who, where, "gitmoor has no deploy windows yet")
        elif key == "signatureKeys":
            ids = ", ".join(str(k.get("keyID")) for k in value or [])
            builder.skip(
                who,
                where,
                f"gitmoor verifies commits per GitSource (spec.verify): export the keys {ids} "
                "(gpg --export --armor) into a Secret's keys ending in .asc and set "
                "verify.secretRef on the project's GitSources",
            )
        elif key == "sourceNamespaces":
            builder.skip(
                who,
                where,
                "Syncs may live in any namespace; a GitSource's accessFrom lists the "
                "namespaces whose Syncs may use it under --no-cross-namespace-refs",
            )
        else:
            builder.skip(who, where, "gitmoor has no equivalent")
