"""Image update automation: ImageRepository, ImagePolicy and ImageUpdateAutomation.

The shapes follow Flux's image-reflector and image-automation controllers closely enough that a
Flux user recognises every field (and Flux's marker comments work unchanged in the config
repository); see the README's "Image update automation" section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gitmoor.model.api import API_VERSION
from gitmoor.model.resources import (
    Condition,
    Duration,
    LocalObjectReference,
    Name,
    NamespaceName,
    ObjectMeta,
    _Model,
)

# registry[:port]/path, lower case, as `docker pull` names an image (no tag, no digest).
_IMAGE = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
DEFAULT_EXCLUSIONS = (r"^.*\.sig$",)  # cosign signatures are tags too


def _regex(value: str, field: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"{field} {value!r} is not a regular expression: {err}") from None
    return value


# --- ImageRepository --------------------------------------------------------------------------


class ImageRepositorySpec(_Model):
    image: str = Field(
        min_length=1,
        max_length=512,
        description="The image without tag: registry/path (e.g. ghcr.io/org/app; a name "
        "without registry host is on docker.io).",
    )
    interval: Duration = Field(default="5m", description="How often tags are listed.")
    timeout: Duration = Field(default="60s", description="Limit for one scan.")
    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="A kubernetes.io/dockerconfigjson Secret: its `auths` entry for the "
        "image's registry host gives username/password (or auth) for the scan.",
    )
    cert_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="A Secret whose ca.crt is the CA bundle the registry's certificate is "
        "checked against.",
    )
    exclusion_list: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUSIONS),
        description="Regular expressions of tags left out of the scan (default: ^.*\\.sig$).",
    )
    access_from: list[NamespaceName] = Field(
        default_factory=list,
        description="Other namespaces whose ImagePolicies may use this repository when the "
        "agent refuses cross-namespace references (--no-cross-namespace-refs).",
    )
    suspend: bool = False

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if "://" in value or "@" in value or not _IMAGE.match(value):
            raise ValueError(
                f"image {value!r} must be registry/path without scheme, tag or digest "
                "(e.g. ghcr.io/org/app)"
            )
        return value

    @field_validator("exclusion_list")
    @classmethod
    def _exclusions(cls, value: list[str]) -> list[str]:
        return [_regex(v, "exclusionList entry") for v in value]


class ScanResult(_Model):
    tag_count: int
    scan_time: datetime
    latest_tags: list[str] = Field(
        default_factory=list, description="The ten tags that sort last (highest first)."
    )


class ImageRepositoryStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    canonical_image_name: str | None = None
    last_scan_result: ScanResult | None = None
    last_handled_reconcile_at: str | None = None


class ImageRepository(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["ImageRepository"] = "ImageRepository"
    metadata: ObjectMeta
    spec: ImageRepositorySpec
    status: ImageRepositoryStatus | None = None


# --- ImagePolicy ------------------------------------------------------------------------------


class ImageRepositoryReference(_Model):
    name: Name
    namespace: NamespaceName | None = Field(
        default=None, description="Defaults to the policy's own namespace."
    )


class SemverPolicy(_Model):
    range: str = Field(
        min_length=1, max_length=200, description="e.g. '>=1.0.0 <2.0.0', '^1.2', '1.x'."
    )


class OrderPolicy(_Model):
    order: Literal["asc", "desc"] = Field(
        default="asc", description="asc: the highest value wins; desc: the lowest."
    )


class Policy(_Model):
    """Exactly one way to order the tags."""

    semver: SemverPolicy | None = None
    alphabetical: OrderPolicy | None = None
    numerical: OrderPolicy | None = None

    @model_validator(mode="after")
    def _one(self) -> Policy:
        chosen = [k for k in ("semver", "alphabetical", "numerical") if getattr(self, k)]
        if len(chosen) != 1:
            raise ValueError(
                "policy takes exactly one of semver, alphabetical, numerical; got "
                + (", ".join(chosen) or "none")
            )
        return self


class TagFilter(_Model):
    pattern: str = Field(
        min_length=1, description="A regular expression a tag must match to be considered."
    )
    extract: str = Field(
        default="",
        description="What of the tag is ordered: the match expanded with this template ($1, "
        "${name}); empty: the whole tag.",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _regex(value, "filterTags.pattern")


class ImagePolicySpec(_Model):
    image_repository_ref: ImageRepositoryReference
    policy: Policy
    filter_tags: TagFilter | None = None


class LatestRef(_Model):
    name: str = Field(description="The image (registry/path).")
    tag: str
    digest: str | None = Field(default=None, description="sha256 of the tag's manifest.")
    created: datetime | None = Field(
        default=None,
        description="When the image was built (its config's `created`), when it says so.",
    )


class ImagePolicyStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    latest_ref: LatestRef | None = None
    observed_previous_ref: LatestRef | None = None
    last_handled_reconcile_at: str | None = None


class ImagePolicy(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["ImagePolicy"] = "ImagePolicy"
    metadata: ObjectMeta
    spec: ImagePolicySpec
    status: ImagePolicyStatus | None = None


# --- ImageUpdateAutomation --------------------------------------------------------------------


class AutomationSourceRef(_Model):
    kind: Literal["GitSource"] = "GitSource"
    name: Name
    namespace: NamespaceName | None = Field(
        default=None, description="Defaults to the automation's own namespace."
    )


class BranchRef(_Model):
    branch: str = Field(min_length=1, max_length=255)


class Checkout(_Model):
    ref: BranchRef


class Push(_Model):
    branch: str = Field(min_length=1, max_length=255)


class Author(_Model):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^<>\s]+@[^<>\s]+$")


class SigningKey(_Model):
    secret_ref: LocalObjectReference = Field(
        description="A Secret with git.asc (an armored OpenPGP private key without passphrase) "
        "or identity (an OpenSSH private key) to sign the update commits with."
    )


class Commit(_Model):
    author: Author
    message_template: str = Field(
        default="",
        max_length=8192,
        description="The commit message; {{ .Changes }} (one line per change), "
        "{{ .AutomationObject }} (ns/name) and {{ .Policies }} (ns/name: tag) are filled in. "
        "Default: a subject naming the new tags and one line per change.",
    )
    signing_key: SigningKey | None = None


class GitSpec(_Model):
    checkout: Checkout | None = Field(
        default=None, description="The branch to start from; default: the GitSource's branch."
    )
    commit: Commit
    push: Push | None = Field(
        default=None, description="The branch to push to; default: the checkout branch."
    )


class UpdateSpec(_Model):
    path: str = Field(default="./", description="The directory whose YAML files are updated.")
    strategy: Literal["Setters"] = "Setters"

    @model_validator(mode="after")
    def _inside(self) -> UpdateSpec:
        parts = self.path.replace("\\", "/").split("/")
        if ".." in parts or self.path.startswith("/"):
            raise ValueError(
                f"update.path {self.path!r} must stay inside the repository (no '..', not absolute)"
            )
        return self


class ImageUpdateAutomationSpec(_Model):
    source_ref: AutomationSourceRef
    git: GitSpec
    update: UpdateSpec = Field(default_factory=UpdateSpec)
    interval: Duration = Field(
        default="5m", description="How often markers are checked (at most one commit each)."
    )
    timeout: Duration = Field(default="2m", description="Limit for one clone-commit-push.")
    suspend: bool = False


class ImageUpdateAutomationStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_automation_run_time: datetime | None = None
    last_push_commit: str | None = None
    last_push_time: datetime | None = None
    observed_policies: dict[str, LatestRef] = Field(
        default_factory=dict, description="What each policy named when the last run looked."
    )
    last_handled_reconcile_at: str | None = None


class ImageUpdateAutomation(_Model):
    api_version: Literal["gitmoor.io/v1alpha1"] = API_VERSION
    kind: Literal["ImageUpdateAutomation"] = "ImageUpdateAutomation"
    metadata: ObjectMeta
    spec: ImageUpdateAutomationSpec
    status: ImageUpdateAutomationStatus | None = None


IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")


@dataclass(frozen=True)
class ImageUpdate:
    """One image field an automation's commit changed, as the ledger keeps it: which policy,
    the old and new tag, the digest, when the image was built (its config's `created`, the
    closest the registry tells to when it was pushed), and the commit that wrote it."""

    automation_namespace: str
    automation_name: str
    policy: str  # ns/name
    image: str  # registry/path
    old_tag: str
    new_tag: str
    digest: str | None
    pushed_at: datetime | None
    source_url: str
    branch: str
    commit: str
    committed_at: datetime
    file: str  # path:line of the marker
