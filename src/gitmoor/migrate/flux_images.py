"""Flux's image automation to gitmoor's: ImageRepository, ImagePolicy and ImageUpdateAutomation
of image.toolkit.fluxcd.io to the gitmoor.io kinds of the same names. The shapes are close on
purpose; the marker comments in the configuration repository work unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitmoor.migrate.result import Builder, document, duration, subject

IMAGE_GROUP = "image.toolkit.fluxcd.io"
IMAGE_KINDS = {
    (IMAGE_GROUP, "ImageRepository"),
    (IMAGE_GROUP, "ImagePolicy"),
    (IMAGE_GROUP, "ImageUpdateAutomation"),
}

_NO_EQUIVALENT = "gitmoor has no equivalent"
_REASONS = {
    "provider": "gitmoor authenticates with the dockerconfigjson Secret of secretRef only, not "
    "a cloud provider's identity",
    "serviceAccountName": "gitmoor does not read image pull secrets of ServiceAccounts: name "
    "the Secret in secretRef",
    "insecure": "gitmoor reaches registries over HTTPS only",
    "proxySecretRef": "gitmoor has no per-source proxy",
    "digestReflectionPolicy": "gitmoor keeps the chosen tag's digest in status.latestRef "
    "always; the :digest marker writes it",
    "policySelector": "gitmoor's automation serves every policy its markers name",
    "accessFrom": "gitmoor's accessFrom lists namespaces by name, not by label selector: list "
    "them in spec.accessFrom",
}


def convert_image(builder: Builder, obj: Mapping[str, Any]) -> None:
    kind = obj.get("kind")
    if kind == "ImageRepository":
        _repository(builder, obj)
    elif kind == "ImagePolicy":
        _policy(builder, obj)
    else:
        _automation(builder, obj)


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or ""), str(meta.get("namespace") or "default")


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return dict(spec) if isinstance(spec, Mapping) else {}


def _rest(builder: Builder, who: str, spec: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in spec:
        if key not in known:
            builder.skip(who, f"spec.{key}", _REASONS.get(key, _NO_EQUIVALENT))


def _interval(
    builder: Builder, who: str, spec: Mapping[str, Any], key: str, out: dict[str, Any]
) -> None:
    if key in spec:
        value = duration(spec[key])
        if value is None:
            builder.skip(who, f"spec.{key}", f"{spec[key]!r} is not a duration gitmoor reads")
        else:
            out[key] = value


def _repository(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    out: dict[str, Any] = {"image": spec.get("image")}
    _interval(builder, who, spec, "interval", out)
    _interval(builder, who, spec, "timeout", out)
    for ref in ("secretRef", "certSecretRef"):
        secret = (spec.get(ref) or {}).get("name")
        if secret:
            out[ref] = {"name": secret}
    if "certSecretRef" in out:
        builder.check(
            who,
            "spec.certSecretRef",
            "gitmoor reads its ca.crt; tls.crt and tls.key "
            "(client certificates) have no equivalent",
        )
    if isinstance(spec.get("exclusionList"), list):
        out["exclusionList"] = [str(e) for e in spec["exclusionList"]]
    if spec.get("suspend"):
        out["suspend"] = True
    _rest(
        builder,
        who,
        spec,
        ("image", "interval", "timeout", "secretRef", "certSecretRef", "exclusionList", "suspend"),
    )
    builder.add(who, document("ImageRepository", name, namespace, out))


def _policy(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    ref = spec.get("imageRepositoryRef") or {}
    out: dict[str, Any] = {"imageRepositoryRef": {"name": ref.get("name")}}
    if ref.get("namespace"):
        out["imageRepositoryRef"]["namespace"] = ref["namespace"]
    policy = spec.get("policy") or {}
    out["policy"] = {
        k: dict(v or {}) for k, v in policy.items() if k in ("semver", "alphabetical", "numerical")
    }
    for key in policy:
        if key not in out["policy"]:
            builder.skip(who, f"spec.policy.{key}", _NO_EQUIVALENT)
    tags = spec.get("filterTags")
    if isinstance(tags, Mapping) and tags.get("pattern"):
        out["filterTags"] = {
            "pattern": str(tags["pattern"]),
            "extract": str(tags.get("extract") or ""),
        }
    if "numerical" in out["policy"]:
        builder.check(
            who,
            "spec.policy.numerical",
            "gitmoor ignores values that are not numbers where Flux fails the whole list",
        )
    _rest(builder, who, spec, ("imageRepositoryRef", "policy", "filterTags", "interval"))
    builder.add(who, document("ImagePolicy", name, namespace, out))


def _automation(builder: Builder, obj: Mapping[str, Any]) -> None:
    who = subject(obj)
    name, namespace = _meta(obj)
    spec = _spec(obj)
    source = spec.get("sourceRef") or {}
    if source.get("kind", "GitRepository") != "GitRepository":
        builder.skip(who, "", f"its source is a {source.get('kind')}; gitmoor writes to Git only")
        return
    out: dict[str, Any] = {"sourceRef": {"name": source.get("name")}}
    if source.get("namespace"):
        out["sourceRef"]["namespace"] = source["namespace"]
    _interval(builder, who, spec, "interval", out)
    git = spec.get("git") or {}
    commit = git.get("commit") or {}
    author = commit.get("author") or {}
    gm_git: dict[str, Any] = {
        "commit": {"author": {"name": author.get("name"), "email": author.get("email")}}
    }
    checkout_ref = ((git.get("checkout") or {}).get("ref")) or {}
    if checkout_ref.get("branch"):
        gm_git["checkout"] = {"ref": {"branch": checkout_ref["branch"]}}
    for key in checkout_ref:
        if key != "branch":
            builder.skip(who, f"spec.git.checkout.ref.{key}", "gitmoor checks out a branch only")
    push = git.get("push") or {}
    if push.get("branch"):
        gm_git["push"] = {"branch": push["branch"]}
    for key in push:
        if key != "branch":
            builder.skip(who, f"spec.git.push.{key}", "gitmoor pushes to one branch")
    if commit.get("messageTemplate"):
        gm_git["commit"]["messageTemplate"] = commit["messageTemplate"]
        builder.check(
            who,
            "spec.git.commit.messageTemplate",
            "gitmoor fills in {{ .Changes }}, {{ .AutomationObject }} and {{ .Policies }} only; "
            "Go template actions ({{ range }}, {{ if }}) are written as they are",
        )
    signing = (commit.get("signingKey") or {}).get("secretRef") or {}
    if signing.get("name"):
        gm_git["commit"]["signingKey"] = {"secretRef": {"name": signing["name"]}}
        builder.check(
            who,
            "spec.git.commit.signingKey",
            "gitmoor reads git.asc (or identity, an SSH key); a key with a passphrase is not "
            "supported",
        )
    out["git"] = gm_git
    update = spec.get("update") or {}
    if update:
        out["update"] = {"path": str(update.get("path") or "./"), "strategy": "Setters"}
    if spec.get("suspend"):
        out["suspend"] = True
    _rest(builder, who, spec, ("sourceRef", "interval", "git", "update", "suspend"))
    builder.add(who, document("ImageUpdateAutomation", name, namespace, out))
