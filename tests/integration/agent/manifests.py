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
