"""The objects that install gitmoor into a cluster, in the order they must be applied.

RBAC is split by purpose so each part can be read, audited and narrowed on its own:

- ClusterRole/ClusterRoleBinding `gitmoor`: what the agent needs for itself (its own resources and
  their status, the ConfigMaps holding large inventories, reading Secrets for Git credentials,
  recording Events);
- ClusterRoleBinding `gitmoor-auth-delegator` to `system:auth-delegator`: TokenReviews and
  SubjectAccessReviews, so the ledger API on the agent's port can check its callers' own
  Kubernetes credentials and what they may read;
- ClusterRole `gitmoor-ledger-reader`, bound to no one: what a person needs to ask the ledger
  API through the API server (`get` on the agent Service's proxy, `get` on syncs). Bind it with
  a RoleBinding in the agent's namespace (the proxy) and one in each namespace whose records
  they may read;
- Role/RoleBinding `gitmoor-leader-election`: Leases in the agent's own namespace only (the
  leader's, or with several replicas one per replica: listed to see the others, deleted when
  a replica leaves);
- ClusterRoleBinding `gitmoor-apply` to `cluster-admin`: applying arbitrary manifests from Git
  needs write access to whatever those manifests hold. This is the binding to narrow (to the
  kinds your Syncs manage), or to drop once tenants' Syncs run as their own serviceAccountName.

The ledger (SQLite by default) lives on the `data` volume: an emptyDir unless `ledger_volume`
asks for a PersistentVolumeClaim, which keeps the history across restarts of the agent's Pod.

With `replicas` above 1 the replicas share the Syncs (`gitmoor run --sharded`); they cannot
share one SQLite file on a ReadWriteOnce claim, so they need the shared PostgreSQL ledger,
whose URL they read from the `url` key of `ledger_secret`.
"""

from __future__ import annotations

from typing import Any

from gitmoor.model.api import GROUP
from gitmoor.model.crds import crds
from gitmoor.model.defaults import (
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    HTTP_PORT_NAME,
    NAME,
    STRICT,
    TENANCY_MODES,
)
from gitmoor.model.labels import PRUNE, PRUNE_DISABLED

APPLY_BINDING = "gitmoor-apply"
LEADER_ELECTION = "gitmoor-leader-election"
AUTH_DELEGATOR = "gitmoor-auth-delegator"
LEDGER_READER = "gitmoor-ledger-reader"
DATA_CLAIM = "gitmoor-data"
HTTP_PORT = 8080
# A path inside the agent's container (an emptyDir), not on the machine rendering this.
_TMP = "/tmp"  # noqa: S108
# The image's non-root user (the Dockerfile's USER); fixed so file ownership on volumes is
# predictable.
UID = 65532
_DATA = "/var/lib/gitmoor"

_PART_OF = {"app.kubernetes.io/part-of": NAME}
# Strict tenancy: a Sync acts as its namespace's `default` ServiceAccount unless it names one,
# and may not use another namespace's GitSource unless that one grants it.
STRICT_ARGS = ("--default-service-account=default", "--no-cross-namespace-refs")
_SELECTOR = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "agent"}


def manifests(
    *,
    namespace: str = DEFAULT_NAMESPACE,
    image: str = DEFAULT_IMAGE,
    ledger_volume: str | None = None,
    storage_class: str | None = None,
    tenancy: str = "cluster-admin",
    replicas: int = 1,
    ledger_secret: str | None = None,
) -> list[dict[str, Any]]:
    """CRDs, Namespace, ServiceAccount, RBAC, Service and the agent Deployment.

    CRDs and the Namespace come first, so applying the list in order always works. With
    `ledger_volume` (a size such as `1Gi`) the ledger gets a PersistentVolumeClaim of that size
    (of `storage_class`, else the cluster's default class) instead of an emptyDir.
    """
    if tenancy not in TENANCY_MODES:
        raise ValueError(f"tenancy {tenancy!r}: choose one of {', '.join(TENANCY_MODES)}")
    if replicas < 1:
        raise ValueError(f"replicas {replicas}: at least 1")
    if replicas > 1 and not ledger_secret:
        raise ValueError(
            f"{replicas} replicas need a shared ledger: name a Secret holding a PostgreSQL "
            "URL under `url` (one SQLite file cannot be shared by several Pods)"
        )
    strict = tenancy == STRICT
    # Several replicas read the shared ledger's URL; a claim would be for one Pod only.
    volume = ledger_volume if replicas == 1 else None
    persistent = bool(volume)
    claim = [_data_claim(namespace, volume, storage_class)] if volume else []
    # Strict: no cluster-admin. The agent reads everything (discovery, the drift watch) and
    # writes only its own resources; every Sync acts as a ServiceAccount of its namespace.
    apply_binding = [] if strict else [_apply_binding(namespace)]
    return [
        *(_kept_on_prune(crd) for crd in crds()),
        _namespace(namespace),
        _service_account(namespace),
        _agent_cluster_role(strict=strict),
        _cluster_role_binding(NAME, NAME, namespace),
        _cluster_role_binding(AUTH_DELEGATOR, "system:auth-delegator", namespace),
        _ledger_reader_role(),
        _leader_election_role(namespace, sharded=replicas > 1),
        _leader_election_binding(namespace),
        *apply_binding,
        *claim,
        _service(namespace),
        _deployment(
            namespace,
            image,
            persistent=persistent,
            strict=strict,
            replicas=replicas,
            ledger_secret=ledger_secret,
        ),
    ]


def _meta(name: str, namespace: str = "", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(_PART_OF)
    meta.update(extra)
    # A Sync that applies gitmoor (bootstrap) never prunes gitmoor: a commit that drops these
    # manifests must not uninstall the agent, its permissions and its CRDs.
    meta["annotations"] = {**(meta.get("annotations") or {}), PRUNE: PRUNE_DISABLED}
    return meta


def _kept_on_prune(crd: dict[str, Any]) -> dict[str, Any]:
    meta = dict(crd["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), PRUNE: PRUNE_DISABLED}
    return {**crd, "metadata": meta}


def _namespace(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)}


def _service_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)}


def _agent_cluster_role(*, strict: bool = False) -> dict[str, Any]:
    tenancy = [
        # Discovery and the drift watch: the agent itself only reads.
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
        # Each Sync's writes are made as a ServiceAccount of its namespace.
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(NAME),
        "rules": [
            *(tenancy if strict else []),
            {
                "apiGroups": [GROUP],
                "resources": [
                    "gitsources",
                    "chartsources",
                    "ocisources",
                    "syncs",
                    "imagerepositories",
                    "imagepolicies",
                    "imageupdateautomations",
                ],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {
                "apiGroups": [GROUP],
                "resources": [
                    "gitsources/status",
                    "chartsources/status",
                    "ocisources/status",
                    "syncs/status",
                    "imagerepositories/status",
                    "imagepolicies/status",
                    "imageupdateautomations/status",
                    "gitsources/finalizers",
                    "chartsources/finalizers",
                    "ocisources/finalizers",
                    "syncs/finalizers",
                ],
                "verbs": ["get", "update", "patch"],
            },
            # A Sync's inventory too large for its status is kept in ConfigMaps beside it, owned
            # by it (gitmoor.io/inventory-of=<uid>): written, read back, swept when replaced.
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get", "list", "create", "delete"],
            },
            # Git credentials and verification keys, named by a GitSource's secretRefs: watched
            # in the namespaces of sources that name one (only those named are kept).
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
            # Its own Events written; everyone's read for the web UI's Events panel, whatever
            # binding (cluster-admin, a narrower one, strict tenancy) lets it apply.
            {
                "apiGroups": ["", "events.k8s.io"],
                "resources": ["events"],
                "verbs": ["create", "patch", "get", "list", "watch"],
            },
        ],
    }


def _subject(namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": NAME, "namespace": namespace}


def _cluster_role_binding(name: str, role: str, namespace: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name, **meta),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [_subject(namespace)],
    }


def _ledger_reader_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(
            LEDGER_READER,
            annotations={
                "kubernetes.io/description": "Reading gitmoor's ledger through the API server "
                "(gitmoor history, where, at, dora without --ledger). Bind it in the agent's "
                "namespace (the Service proxy) and in each namespace whose records may be read."
            },
        ),
        "rules": [
            # The agent's Service, through the API server's proxy: the name is `service:port`.
            {
                "apiGroups": [""],
                "resources": ["services/proxy"],
                "resourceNames": [NAME, f"{NAME}:{HTTP_PORT_NAME}"],
                "verbs": ["get"],
            },
            # What the agent checks before it shows a namespace's records.
            {"apiGroups": [GROUP], "resources": ["syncs"], "verbs": ["get"]},
        ],
    }


def _leader_election_role(namespace: str, *, sharded: bool = False) -> dict[str, Any]:
    # Replicas sharing the Syncs list (and watch) each other's Leases, and delete their own
    # when they leave and those of replicas long gone.
    sharing = ["list", "watch", "delete"] if sharded else []
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(LEADER_ELECTION, namespace),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update", *sharing],
            },
            # The key that seals rollback snapshots, made on first start.
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ],
    }


def _leader_election_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(LEADER_ELECTION, namespace),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": LEADER_ELECTION,
        },
        "subjects": [_subject(namespace)],
    }


def _apply_binding(namespace: str) -> dict[str, Any]:
    return _cluster_role_binding(
        APPLY_BINDING,
        "cluster-admin",
        namespace,
        annotations={
            "kubernetes.io/description": "Lets gitmoor apply whatever the Syncs' manifests "
            "hold. Narrow this binding to the kinds your Syncs manage, or remove it when "
            "every Sync runs as its own serviceAccountName."
        },
    )


def _service(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "selector": dict(_SELECTOR),
            "ports": [{"name": HTTP_PORT_NAME, "port": HTTP_PORT, "targetPort": HTTP_PORT_NAME}],
        },
    }


def _data_claim(namespace: str, size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        # One agent writes the ledger at a time (Recreate strategy), from one node.
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(DATA_CLAIM, namespace),
        "spec": spec,
    }


def _deployment(
    namespace: str,
    image: str,
    *,
    persistent: bool,
    strict: bool = False,
    replicas: int = 1,
    ledger_secret: str | None = None,
) -> dict[str, Any]:
    labels = {**_PART_OF, **_SELECTOR}
    sharded = ("--sharded",) if replicas > 1 else ()
    ledger = (
        [
            {
                "name": "GITMOOR_LEDGER",
                "valueFrom": {"secretKeyRef": {"name": ledger_secret, "key": "url"}},
            }
        ]
        if ledger_secret
        else []
    )
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["gitmoor"],
        "args": ["run", *sharded, *(STRICT_ARGS if strict else ())],
        "env": [
            *ledger,
            # Leader election: the Lease lives in the agent's namespace, held by the pod's name.
            _field_env("GITMOOR_NAMESPACE", "metadata.namespace"),
            _field_env("GITMOOR_POD_NAME", "metadata.name"),
            # The root filesystem is read-only: git, helm and kustomize write here instead.
            {"name": "HOME", "value": _TMP},
            {"name": "XDG_CACHE_HOME", "value": "/var/cache/gitmoor"},
            # The default SQLite ledger goes under $XDG_STATE_HOME: on the data volume.
            {"name": "XDG_STATE_HOME", "value": _DATA},
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": _TMP},
            {"name": "cache", "mountPath": "/var/cache/gitmoor"},
            {"name": "data", "mountPath": _DATA},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(_SELECTOR)},
            # One writer of the ledger volume at a time, even during a rollout; sharded
            # replicas share no volume, and a rolling update hands their Syncs on one by one.
            "strategy": {"type": "Recreate" if replicas == 1 else "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "cache", "emptyDir": {}},
                        # The ledger's home.
                        _data_volume(persistent),
                    ],
                },
            },
        },
    }


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def _data_volume(persistent: bool) -> dict[str, Any]:
    if persistent:
        return {"name": "data", "persistentVolumeClaim": {"claimName": DATA_CLAIM}}
    return {"name": "data", "emptyDir": {}}
