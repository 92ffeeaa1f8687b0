"""ChartFetcher against a real Helm repository (nginx over TLS with basic auth, charts packaged
and indexed with the Helm SDK): conditional requests, the cache, credentials and what goes
wrong. The agent's use of it is in tests/integration/agent/test_charts.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tarfile
import time
from pathlib import Path

import pytest

from gitmoor.errors import (
    ChartArchiveError,
    ChartAuthError,
    ChartDigestError,
    ChartNotFoundError,
    ChartRepositoryUnavailableError,
    ChartVersionNotFoundError,
)
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import ChartSourceSpec
from gitmoor.sources.archives import Limits
from gitmoor.sources.charts import ChartFetcher
from gitmoor.sources.sweep import sweep
from testenv.chartrepo import ChartRepository
from testenv.ociartifact import tar_gz, tar_gz_with
from testenv.ports import free_port

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}}
data: {greeting: {{ .Values.greeting | quote }}}
"""


@pytest.fixture
def repo_name() -> str:
    return f"r{secrets.token_hex(4)}"


def _spec(repo: ChartRepository, name: str, version: str, chart: str = "web") -> ChartSourceSpec:
    return ChartSourceSpec(url=f"{repo.url}/{name}", chart=chart, version=version)


def _creds(repo: ChartRepository, password: str | None = None) -> ChartCredentials:
    return ChartCredentials(
        username=repo.username,
        password=password or repo.password,
        ca=repo.ca_path.read_bytes(),
    )


def _mine(repo: ChartRepository, name: str) -> list[str]:
    return [r for r in repo.requests() if f" /{name}/" in r]


def _publish(repo: ChartRepository, name: str, version: str, chart: str = "web") -> Path:
    return repo.publish(
        chart, version, templates={"cm.yaml": CONFIGMAP}, values="greeting: hi\n", repo=name
    )


async def test_the_highest_version_in_range_is_fetched_once_then_checked_with_a_304(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    for version in ("1.0.0", "1.2.0", "2.0.0", "1.3.0-rc.1"):
        _publish(repo, repo_name, version)
    fetcher = ChartFetcher(tmp_path / "cache")
    spec = _spec(repo, repo_name, "^1.0.0")

    first = await fetcher.fetch(spec, _creds(repo), timeout=10)
    assert (first.chart, first.version) == ("web", "1.2.0")
    assert first.digest.startswith("sha256:")
    assert await asyncio.to_thread(Path(first.path, "templates", "cm.yaml").is_file)
    assert first.url == f"{repo.url}/{repo_name}/web-1.2.0.tgz"
    assert _mine(repo, repo_name) == [
        f"GET /{repo_name}/index.yaml 200",
        f"GET /{repo_name}/web-1.2.0.tgz 200",
    ]

    # Unchanged: a 304, no download; a new process (a restart) reads the cache from disk.
    for again in (fetcher, ChartFetcher(tmp_path / "cache")):
        same = await again.fetch(spec, _creds(repo), timeout=10)
        assert (same.version, same.digest, same.path) == (first.version, first.digest, first.path)
    assert _mine(repo, repo_name)[2:] == [
        f"GET /{repo_name}/index.yaml 304",
        f"GET /{repo_name}/index.yaml 304",
    ]

    # A new version in range: the index once more, the new archive.
    _publish(repo, repo_name, "1.4.0")
    newer = await fetcher.fetch(spec, _creds(repo), timeout=10)
    assert newer.version == "1.4.0"
    assert _mine(repo, repo_name)[4:] == [
        f"GET /{repo_name}/index.yaml 200",
        f"GET /{repo_name}/web-1.4.0.tgz 200",
    ]


async def test_another_chart_of_an_unchanged_index_is_read_from_the_kept_copy(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    _publish(repo, repo_name, "1.0.0", chart="web")
    _publish(repo, repo_name, "3.1.0", chart="api")
    fetcher = ChartFetcher(tmp_path / "cache")
    await fetcher.fetch(_spec(repo, repo_name, "*", "web"), _creds(repo), timeout=10)
    api = await fetcher.fetch(_spec(repo, repo_name, "*", "api"), _creds(repo), timeout=10)
    assert api.version == "3.1.0"
    assert _mine(repo, repo_name)[2:] == [
        f"GET /{repo_name}/index.yaml 304",
        f"GET /{repo_name}/api-3.1.0.tgz 200",
    ]


async def test_wrong_credentials_or_an_unknown_ca_are_authentication_failures(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    _publish(repo, repo_name, "1.0.0")
    fetcher = ChartFetcher(tmp_path / "cache")
    wrong = "not-the-password-" + secrets.token_hex(4)
    with pytest.raises(ChartAuthError) as caught:
        await fetcher.fetch(_spec(repo, repo_name, "*"), _creds(repo, wrong), timeout=10)
    assert str(caught.value) == (
        f"{repo.url}/{repo_name}/index.yaml answered 401 Unauthorized: the repository refused "
        "the credentials of spec.secretRef"
    )
    assert wrong not in str(caught.value)
    without_ca = ChartCredentials(username=repo.username, password=repo.password)
    with pytest.raises(ChartAuthError, match="certificate did not verify"):
        await fetcher.fetch(_spec(repo, repo_name, "*"), without_ca, timeout=10)


async def test_what_the_index_does_not_hold_is_named(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    _publish(repo, repo_name, "1.0.0")
    fetcher = ChartFetcher(tmp_path / "cache")
    with pytest.raises(
        ChartVersionNotFoundError, match=r"matches '>=2\.0\.0'; the newest are 1\.0\.0"
    ):
        await fetcher.fetch(_spec(repo, repo_name, ">=2.0.0"), _creds(repo), timeout=10)
    with pytest.raises(ChartNotFoundError, match="lists no chart 'nginx'"):
        await fetcher.fetch(_spec(repo, repo_name, "*", "nginx"), _creds(repo), timeout=10)


async def test_an_archive_that_is_not_what_the_index_says_is_refused(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    archive = _publish(repo, repo_name, "1.0.0")
    # Changed on the server after indexing (a compromised mirror, a broken upload).
    data = bytearray(archive.read_bytes())
    data[-5] ^= 0xFF
    archive.write_bytes(bytes(data))
    fetcher = ChartFetcher(tmp_path / "cache")
    with pytest.raises(ChartDigestError, match="the index says sha256:"):
        await fetcher.fetch(_spec(repo, repo_name, "*"), _creds(repo), timeout=10)
    assert not list((tmp_path / "cache" / "charts").glob("unpacked/*"))


async def test_an_unreachable_repository_is_unavailable(tmp_path: Path) -> None:
    spec = ChartSourceSpec(url=f"https://127.0.0.1:{free_port()}/charts", chart="web")
    with pytest.raises(ChartRepositoryUnavailableError, match=r"127\.0\.0\.1"):
        await ChartFetcher(tmp_path).fetch(spec, None, timeout=5)


async def test_a_chart_in_use_stays_cached_and_an_unused_one_is_swept_then_fetched_again(
    chart_repository: ChartRepository, repo_name: str, tmp_path: Path
) -> None:
    repo = chart_repository
    _publish(repo, repo_name, "1.0.0")
    fetcher = ChartFetcher(tmp_path / "cache")
    spec = _spec(repo, repo_name, "1.0.0")
    first = await fetcher.fetch(spec, _creds(repo), timeout=10)
    unpacked = Path(first.path).parent
    day_ago = time.time() - 86400
    os.utime(unpacked, (day_ago, day_ago))
    # Checking the source again (a 304) marks the chart as used: the sweep leaves it.
    await fetcher.fetch(spec, _creds(repo), timeout=10)
    assert sweep(tmp_path / "cache", keep=3600, held=set()) == 0
    # Unused for longer than keep: the archive, the unpacked chart and the index go ...
    for area in ("unpacked", "archives", "index"):
        for entry in (tmp_path / "cache" / "charts" / area).iterdir():
            os.utime(entry, (day_ago, day_ago))
    assert sweep(tmp_path / "cache", keep=3600, held=set()) == 3
    assert not unpacked.exists()
    # ... and come back when asked for.
    again = await ChartFetcher(tmp_path / "cache").fetch(spec, _creds(repo), timeout=10)
    assert again.digest == first.digest
    assert _mine(repo, repo_name)[-2:] == [
        f"GET /{repo_name}/index.yaml 200",
        f"GET /{repo_name}/web-1.0.0.tgz 200",
    ]


def _serve(repo: ChartRepository, name: str, archive: bytes) -> None:
    """An index listing one archive with its true digest: the repository is honest, the
    archive is not a chart one may unpack."""
    into = repo.charts_dir / name
    into.mkdir(parents=True)
    (into / "web-1.0.0.tgz").write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    (into / "index.yaml").write_text(
        "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.0.0\n"
        f"    digest: {digest}\n    urls: [web-1.0.0.tgz]\n"
    )


def _link() -> tarfile.TarInfo:
    info = tarfile.TarInfo("web/templates/cm.yaml")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/shadow"
    return info


@pytest.mark.parametrize(
    ("archive", "limit", "problem"),
    [
        pytest.param(b"\x1f\x8b\x08\x00not gzip at all", None, "not a readable tar", id="corrupt"),
        pytest.param(
            tar_gz({"web/Chart.yaml": "name: web\n", "web/big": secrets.token_hex(4000)}),
            1024,
            "larger than 1024 bytes",
            id="oversized",
        ),
        pytest.param(tar_gz_with([_link()], {}), None, "is a link: refused", id="link"),
        pytest.param(
            tar_gz({"web/values.yaml": "a: 1\n"}), None, "no web/Chart.yaml", id="no-chart"
        ),
    ],
)
async def test_an_archive_that_is_no_safe_chart_is_refused_and_nothing_is_kept(
    chart_repository: ChartRepository,
    repo_name: str,
    tmp_path: Path,
    archive: bytes,
    limit: int | None,
    problem: str,
) -> None:
    _serve(chart_repository, repo_name, archive)
    limits = Limits(max_file_bytes=limit) if limit else Limits()
    fetcher = ChartFetcher(tmp_path / "cache", limits)
    with pytest.raises(ChartArchiveError, match=problem):
        await fetcher.fetch(
            _spec(chart_repository, repo_name, "1.0.0"), _creds(chart_repository), timeout=10
        )
    assert not list((tmp_path / "cache" / "charts").glob("unpacked/*"))
    assert not list((tmp_path / "cache" / "charts").glob("archives/*"))
