"""The benchmark's own small Kubernetes client: one keep-alive HTTPS connection, and a count of
every request it makes, labelled the way kube-apiserver labels `apiserver_request_total`.

The count is what makes the apiserver's numbers fair: whatever the harness itself asked for
(creating resources, polling status, editing an object out of band) is subtracted, so a
scenario's reads and writes are the tool's own.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

Obj = dict[str, Any]
RequestKey = tuple[str, str, str]  # (verb as the apiserver names it, resource, subresource)

APPLY_TYPE = "application/apply-patch+yaml"
MERGE_TYPE = "application/merge-patch+json"


@dataclass(frozen=True)
class Kind:
    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespaced: bool


KINDS: dict[str, Kind] = {
    "Namespace": Kind("/api/v1", "namespaces", False),
    "Secret": Kind("/api/v1", "secrets", True),
    "ConfigMap": Kind("/api/v1", "configmaps", True),
    "CustomResourceDefinition": Kind(
        "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False
    ),
    "GitSource": Kind("/apis/gitmoor.io/v1alpha1", "gitsources", True),
    "Sync": Kind("/apis/gitmoor.io/v1alpha1", "syncs", True),
    "GitRepository": Kind("/apis/source.toolkit.fluxcd.io/v1", "gitrepositories", True),
    "Kustomization": Kind("/apis/kustomize.toolkit.fluxcd.io/v1", "kustomizations", True),
}


class KubeAPIError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {str(body)[:500]}")
        self.status = status


def _data_file(directory: Path, name: str, data: str) -> str:
    path = directory / name
    path.write_bytes(base64.b64decode(data))
    path.chmod(0o600)
    return str(path)


class KubeAPI:
    """Talks to the cluster of one kubeconfig (client certificates or a bearer token)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self._keys = tempfile.TemporaryDirectory(prefix="gitmoor-bench-kube-")
        keys = Path(self._keys.name)
        ctx = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif "certificate-authority-data" in cluster:
            ctx.load_verify_locations(
                cafile=_data_file(keys, "ca.crt", cluster["certificate-authority-data"])
            )
        elif "certificate-authority" in cluster:
            ctx.load_verify_locations(cafile=cluster["certificate-authority"])
        cert = user.get("client-certificate") or (
            _data_file(keys, "client.crt", user["client-certificate-data"])
            if "client-certificate-data" in user
            else None
        )
        key = user.get("client-key") or (
            _data_file(keys, "client.key", user["client-key-data"])
            if "client-key-data" in user
            else None
        )
        if cert and key:
            ctx.load_cert_chain(cert, key)
        self._token = user.get("token")
        url = urlsplit(cluster["server"])
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 443
        self._base = url.path.rstrip("/")
        self._ssl = ctx
        self._conn: http.client.HTTPSConnection | None = None
        self.counts: Counter[RequestKey] = Counter()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._keys.cleanup()

    # -- raw requests --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        count: RequestKey | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if count is not None:
            self.counts[count] += 1
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, context=self._ssl, timeout=timeout
                )
            try:
                self._conn.request(method, self._base + path, body=data, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                # The server closed a kept-alive connection: one fresh connection, then give up.
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return resp.status, parsed

    def _checked(self, method: str, path: str, status: int, body: Any, ok: tuple[int, ...]) -> Any:
        if status not in ok:
            raise KubeAPIError(method, path, status, body)
        return body

    def metrics_text(self) -> str:
        # /metrics is a non-resource URL: the apiserver counts it with an empty component label,
        # which the accounting leaves out altogether.
        status, body = self.request("GET", "/metrics")
        return str(self._checked("GET", "/metrics", status, body, (200,)))

    # -- objects -----------------------------------------------------------------------------
    @staticmethod
    def path(kind: str, namespace: str = "", name: str = "", subresource: str = "") -> str:
        k = KINDS[kind]
        parts = [k.prefix]
        if k.namespaced and namespace:
            parts.append(f"/namespaces/{namespace}")
        parts.append(f"/{k.plural}")
        if name:
            parts.append(f"/{name}")
        if subresource:
            parts.append(f"/{subresource}")
        return "".join(parts)

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        path = self.path(kind, namespace, name)
        status, body = self.request("GET", path, count=("GET", KINDS[kind].plural, ""))
        if status == 404:
            return None
        result: Obj = self._checked("GET", path, status, body, (200,))
        return result

    def list_objects(self, kind: str, namespace: str = "", *, selector: str = "") -> list[Obj]:
        path = self.path(kind, namespace)
        if selector:
            path += "?" + urlencode({"labelSelector": selector})
        status, body = self.request("GET", path, count=("LIST", KINDS[kind].plural, ""))
        items: list[Obj] = self._checked("GET", path, status, body, (200,))["items"]
        return items

    def apply(self, obj: Obj, *, manager: str = "gitmoor-bench") -> Obj:
        kind = str(obj["kind"])
        meta = obj["metadata"]
        path = self.path(kind, meta.get("namespace", ""), meta["name"])
        path += "?" + urlencode({"fieldManager": manager, "force": "true"})
        status, body = self.request(
            "PATCH",
            path,
            obj,
            content_type=APPLY_TYPE,
            count=("APPLY", KINDS[kind].plural, ""),
        )
        result: Obj = self._checked("PATCH", path, status, body, (200, 201))
        return result

    def merge_patch(
        self, kind: str, name: str, namespace: str, patch: Obj, *, manager: str = "gitmoor-bench"
    ) -> Obj:
        path = self.path(kind, namespace, name) + "?" + urlencode({"fieldManager": manager})
        status, body = self.request(
            "PATCH", path, patch, content_type=MERGE_TYPE, count=("PATCH", KINDS[kind].plural, "")
        )
        result: Obj = self._checked("PATCH", path, status, body, (200,))
        return result

    def delete(self, kind: str, name: str, namespace: str = "") -> None:
        path = self.path(kind, namespace, name)
        status, body = self.request("DELETE", path, count=("DELETE", KINDS[kind].plural, ""))
        self._checked("DELETE", path, status, body, (200, 202, 404))

    def apply_crds(self, crds: list[Obj], *, timeout: float = 60.0) -> None:
        """Apply CRDs and wait until every one is Established."""
        for crd in crds:
            self.apply(crd)
        deadline = time.monotonic() + timeout
        for crd in crds:
            name = crd["metadata"]["name"]
            while True:
                live = self.get("CustomResourceDefinition", name) or {}
                conditions = (live.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not established after {timeout:.0f}s")
                time.sleep(0.2)
