"""Push manifests to the test registry as an OCI artifact, the way `flux push artifact` lays
one out (an empty config of Flux's type, one tar+gzip layer of the files, annotations naming
the source and revision), through the Distribution API itself: a monolithic blob upload (POST
then PUT ?digest=) and a manifest PUT. Hostile layers (raw bytes) are pushed the same way."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import ssl
import tarfile
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_LAYER = "application/vnd.cncf.flux.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Pusher:
    """Writes to one registry (host, Basic credentials, the CA its certificate chains to)."""

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        ca_path: Path,
        *,
        authorization: Callable[[str], str] | None = None,
    ) -> None:
        self.base = f"https://{host}"
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.basic = f"Basic {token}"
        # repository -> the Authorization header (a token registry's bearer token)
        self.authorization = authorization
        self.context = ssl.create_default_context(cafile=str(ca_path))

    def push(
        self,
        repository: str,
        tag: str,
        files: Mapping[str, str] | None = None,
        *,
        layer: bytes | None = None,
        media_type: str = FLUX_LAYER,
        annotations: Mapping[str, str] | None = None,
        layer_digest: str | None = None,
        layer_annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Push an artifact of `files` (or the raw `layer`); returns the manifest's digest.
        `layer_digest` overrides the digest the manifest claims for the layer (a lie);
        `layer_annotations` are the layer's (`oras push` names a file's layer by its title)."""
        data = layer if layer is not None else tar_gz(files or {})
        config = b"{}"
        config_digest = self.blob(repository, config)
        digest = self.blob(repository, data)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": FLUX_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {
                    "mediaType": media_type,
                    "digest": layer_digest or digest,
                    "size": len(data),
                    **({"annotations": dict(layer_annotations)} if layer_annotations else {}),
                }
            ],
            "annotations": dict(annotations or {}),
        }
        body = json.dumps(manifest).encode()
        self._request(
            "PUT",
            f"{self.base}/v2/{repository}/manifests/{tag}",
            body,
            {"Content-Type": OCI_MANIFEST, **self._auth(repository)},
        )
        return "sha256:" + hashlib.sha256(body).hexdigest()

    @staticmethod
    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def blob(self, repository: str, data: bytes) -> str:
        digest = self.digest(data)
        auth = self._auth(repository)
        answer = self._request("POST", f"{self.base}/v2/{repository}/blobs/uploads/", b"", auth)
        location = urljoin(self.base, answer.headers["Location"])
        joiner = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{joiner}digest={digest}",
            data,
            {"Content-Type": "application/octet-stream", **auth},
        )
        return digest

    def _auth(self, repository: str) -> dict[str, str]:
        if self.authorization is not None:
            return {"Authorization": self.authorization(repository)}
        return {"Authorization": self.basic}

    def _request(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - https to the test registry
            url, data=body, method=method, headers=dict(headers)
        )
        answer = urllib.request.urlopen(  # noqa: S310
            request, context=self.context, timeout=30
        )
        answer.read()
        return answer


def tar_gz(files: Mapping[str, str | bytes], *, mode: int = 0o644) -> bytes:
    """A tar+gzip of `files` (path -> content), as `flux push artifact` packs a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in sorted(files.items()):
            raw = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = mode
            tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


def tar_gz_with(members: list[tarfile.TarInfo], contents: Mapping[str, bytes]) -> bytes:
    """A tar+gzip of hand-made members (links, climbing paths) for the refusal tests."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info in members:
            raw = contents.get(info.name)
            tar.addfile(info, io.BytesIO(raw) if raw is not None else None)
    return out.getvalue()
