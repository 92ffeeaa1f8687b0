"""ChartFetcher against a real OCI registry (Debian's docker-registry over TLS with htpasswd;
charts pushed with the Helm SDK as `helm push` does): tags listed for a range, the chart layer
pulled once by digest, credentials refused. The agent's use is in
tests/integration/agent/test_charts.py."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from gitmoor.errors import (
    ChartArchiveError,
    ChartAuthError,
    ChartNotFoundError,
    ChartVersionNotFoundError,
)
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import ChartSourceSpec
from gitmoor.sources.archives import Limits
from gitmoor.sources.charts import ChartFetcher
from testenv.registry import Registry

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\n"


def _creds(registry: Registry, password: str = "") -> ChartCredentials:
    return ChartCredentials(
        username=registry.username,
        password=password or registry.password,
        ca=registry.ca_path.read_bytes(),
    )


def _spec(registry: Registry, path: str, version: str, chart: str = "web") -> ChartSourceSpec:
    return ChartSourceSpec(url=f"oci://{registry.host}/{path}", chart=chart, version=version)


def _blob_pulls(registry: Registry, path: str) -> list[str]:
    return [
        r
        for r in registry.requests()
        if r.startswith(f"GET /v2/{path}/web/blobs/") and r.endswith(" 200")
    ]


async def test_the_highest_tag_in_range_is_pulled_once(
    oci_registry: Registry, tmp_path: Path
) -> None:
    path = f"p{secrets.token_hex(4)}"
    for version in ("1.0.0", "1.2.0", "2.0.0", "1.3.0-rc.1"):
        oci_registry.push("web", version, repo=path, templates={"cm.yaml": CONFIGMAP})
    fetcher = ChartFetcher(tmp_path / "cache")
    spec = _spec(oci_registry, path, "^1.0.0")

    first = await fetcher.fetch(spec, _creds(oci_registry), timeout=10)
    assert (first.chart, first.version) == ("web", "1.2.0")
    assert first.digest.startswith("sha256:")
    assert first.url == f"https://{oci_registry.host}/v2/{path}/web/blobs/{first.digest}"
    assert len(_blob_pulls(oci_registry, path)) == 1

    again = await ChartFetcher(tmp_path / "cache").fetch(spec, _creds(oci_registry), timeout=10)
    assert (again.version, again.digest) == (first.version, first.digest)
    assert len(_blob_pulls(oci_registry, path)) == 1  # known digest: no download

    oci_registry.push("web", "1.4.0", repo=path, templates={"cm.yaml": CONFIGMAP})
    newer = await fetcher.fetch(spec, _creds(oci_registry), timeout=10)
    assert newer.version == "1.4.0"
    assert len(_blob_pulls(oci_registry, path)) == 2


async def test_refusals_and_absences_are_named(oci_registry: Registry, tmp_path: Path) -> None:
    path = f"p{secrets.token_hex(4)}"
    oci_registry.push("web", "1.0.0", repo=path, templates={"cm.yaml": CONFIGMAP})
    fetcher = ChartFetcher(tmp_path)
    wrong = "wrong-" + secrets.token_hex(4)
    with pytest.raises(ChartAuthError, match="answered 401") as caught:
        await fetcher.fetch(_spec(oci_registry, path, "*"), _creds(oci_registry, wrong), timeout=10)
    assert wrong not in str(caught.value)
    with pytest.raises(ChartAuthError, match="asks for credentials"):
        await fetcher.fetch(
            _spec(oci_registry, path, "*"),
            ChartCredentials(ca=oci_registry.ca_path.read_bytes()),
            timeout=10,
        )
    with pytest.raises(ChartVersionNotFoundError, match="matches '>=2'"):
        await fetcher.fetch(_spec(oci_registry, path, ">=2"), _creds(oci_registry), timeout=10)
    with pytest.raises(ChartNotFoundError, match="holds no chart"):
        await fetcher.fetch(
            _spec(oci_registry, path, "*", chart="nope"), _creds(oci_registry), timeout=10
        )
    # An archive over the size limit is the archive's fault, named as such; not downloaded.
    small = ChartFetcher(tmp_path / "small", Limits(max_file_bytes=64))
    with pytest.raises(ChartArchiveError, match="64"):
        await small.fetch(_spec(oci_registry, path, "*"), _creds(oci_registry), timeout=10)
