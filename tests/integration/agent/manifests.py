"""YAML snippets for test repositories."""

from __future__ import annotations


def configmap(name: str, namespace: str, **data: str) -> str:
    lines = "".join(f"  {k}: {v!r}\n" for k, v in data.items()) or "  {}\n"
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"data:\n{lines}"
    )


def deployment(
    name: str, namespace: str, *, image: str = "nginx:1.27", replicas: int = 1, extra_spec: str = ""
) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: main
          image: {image}
{extra_spec}"""


# A pod spec no node can run: its Deployment never becomes Available.
UNSCHEDULABLE = "      nodeSelector:\n        no-such-label: anywhere\n"


def service(name: str, namespace: str) -> str:
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector:
    app: {name}
  ports:
    - port: 80
      targetPort: 8080
"""


def crd(group: str, kind: str, *, version_extra: str = "") -> str:
    """A namespaced CRD serving `v1` of `kind`, any content allowed, no status subresource (a
    test can write the status as a controller would); `version_extra` is more YAML for the
    version, indented by six spaces (printer columns, say)."""
    plural = f"{kind.lower()}s"
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, listKind: {kind}List}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
{version_extra}      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""


def custom(api_version: str, kind: str, name: str, namespace: str, spec: str) -> str:
    """One custom resource whose spec is the YAML mapping `spec` (flow style: `{size: small}`)."""
    return (
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec: {spec}\n"
    )


BULK_LABEL = "gitmoor-test=bulk"


def bulk(namespace: str, count: int, version: str = "1") -> str:
    """One file of `count` small ConfigMaps `bulk-0000`..., labelled BULK_LABEL: an agent
    takes seconds to write them, long enough to stop it in the middle."""
    return "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bulk-{i:04d}\n"
        f"  namespace: {namespace}\n  labels:\n    gitmoor-test: bulk\n"
        f"data:\n  n: '{i}'\n  version: '{version}'\n"
        for i in range(count)
    )
