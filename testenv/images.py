"""Container images for the image automation tests: pushed to the test registry (Debian's
docker-registry) through the Distribution API exactly as `docker push` / `crane` do (blob
uploads, then an OCI image manifest naming a real config and layer), and a pre-receive hook that
protects a branch of a test Git repository.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import ssl
import tarfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

from testenv.registry import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Pushed:
    image: str  # host:port/repository
    tag: str
    digest: str  # of the manifest
    created: datetime


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(text: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        content = text.encode()
        info = tarfile.TarInfo("app/version")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


class ImagePusher:
    """Pushes images to `registry` with its htpasswd credentials."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.base = f"https://{registry.host}"
        self._ssl = ssl.create_default_context(cafile=str(registry.ca_path))
        token = f"{registry.username}:{registry.password}".encode()
        self._auth = "Basic " + base64.b64encode(token).decode()

    def _request(
        self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(  # noqa: S310 - https URLs of the test registry
            url,
            data=body if method in ("POST", "PUT") else None,
            method=method,
            headers={"Authorization": self._auth, **(headers or {})},
        )
        with urllib.request.urlopen(request, context=self._ssl, timeout=30) as answer:  # noqa: S310 - https only
            return answer.status, dict(answer.headers)

    def _blob(self, repository: str, data: bytes) -> str:
        digest = _digest(data)
        status, headers = self._request("POST", f"{self.base}/v2/{repository}/blobs/uploads/")
        assert status == 202, status
        location = urljoin(self.base, headers["Location"])
        joiner = "&" if "?" in location else "?"
        status, _ = self._request(
            "PUT",
            f"{location}{joiner}digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        assert status == 201, status
        return digest

    def push(self, repository: str, tag: str, *, created: datetime) -> Pushed:
        """A one-layer image `repository:tag` whose config says it was built at `created`."""
        layer = _layer(f"{repository}:{tag}\n")
        config = json.dumps(
            {
                "created": created.strftime("%Y-%m-%dT%H:%M:%S.%f000Z"),
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/app/run"]},
                "rootfs": {"type": "layers", "diff_ids": [_digest(gzip.decompress(layer))]},
            }
        ).encode()
        layer_digest = self._blob(repository, layer)
        config_digest = self._blob(repository, config)
        return self.tag(repository, tag, config, config_digest, layer, layer_digest, created)

    def tag(
        self,
        repository: str,
        tag: str,
        config: bytes,
        config_digest: str,
        layer: bytes,
        layer_digest: str,
        created: datetime,
    ) -> Pushed:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            }
        ).encode()
        status, _ = self._request(
            "PUT",
            f"{self.base}/v2/{repository}/manifests/{tag}",
            manifest,
            {"Content-Type": OCI_MANIFEST},
        )
        assert status == 201, status
        return Pushed(f"{self.registry.host}/{repository}", tag, _digest(manifest), created)

    def push_many(self, repository: str, tags: list[str], *, created: datetime) -> None:
        """One image under many tags: the blobs once, then a manifest PUT per tag over a few
        kept-alive connections."""
        first = self.push(repository, tags[0], created=created)
        manifest_url = f"/v2/{repository}/manifests/{first.digest}"
        request = urllib.request.Request(  # noqa: S310 - https URLs of the test registry
            f"{self.base}{manifest_url}",
            headers={"Authorization": self._auth, "Accept": OCI_MANIFEST},
        )
        with urllib.request.urlopen(request, context=self._ssl, timeout=30) as answer:  # noqa: S310
            manifest = answer.read()
        chunks = [tags[1:][i::8] for i in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            for done in [pool.submit(self._put_all, repository, c, manifest) for c in chunks]:
                done.result()

    def _put_all(self, repository: str, tags: list[str], manifest: bytes) -> None:
        host, _, port = self.registry.host.rpartition(":")
        connection = http.client.HTTPSConnection(host, int(port), context=self._ssl, timeout=30)
        try:
            for tag in tags:
                connection.request(
                    "PUT",
                    f"/v2/{repository}/manifests/{tag}",
                    body=manifest,
                    headers={"Authorization": self._auth, "Content-Type": OCI_MANIFEST},
                )
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 201, answer.status
        finally:
            connection.close()


def protect_branch(bare_repository: Path, branch: str, *, except_committer: str) -> None:
    """A pre-receive hook in the bare repository refusing pushes to `branch` of commits by
    anyone but `except_committer` (an e-mail), as a Git host's branch protection refuses bots
    while maintainers may still push."""
    hook = bare_repository / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        f'  if [ "$ref" = "refs/heads/{branch}" ] && '
        f'[ "$(git log -1 --format=%ce "$new")" != "{except_committer}" ]; then\n'
        f'    echo "protected branch: {branch} does not accept pushes" >&2\n'
        "    exit 1\n"
        "  fi\n"
        "done\n"
    )
    hook.chmod(0o755)
