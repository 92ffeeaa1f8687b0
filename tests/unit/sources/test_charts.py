"""Helm repository indexes, version resolution and chart archives: the pure parts of ChartFetcher.
The HTTP part (conditional requests, credentials, caching) is tested against a real nginx in
tests/integration/agent/test_charts.py."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gitmoor.errors import ChartVersionNotFoundError
from gitmoor.model.credentials import ChartCredentials
from gitmoor.sources import SemverRange
from gitmoor.sources.archives import Limits, unpack
from gitmoor.sources.charts import ChartVersion, parse_index, resolve

INDEX = b"""\
apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 6.5.1
    digest: abc123
    urls: [podinfo-6.5.1.tgz]
  - name: podinfo
    version: 6.6.0-rc.1
    urls: [podinfo-6.6.0-rc.1.tgz]
  - name: podinfo
    version: 6.4.0
    urls: [https://mirror.example.com/podinfo-6.4.0.tgz]
  - name: podinfo
    version: not-a-version
    urls: [x.tgz]
  - name: podinfo
    version: 7
    urls: [seven.tgz]
  - just a string
  other:
  - name: other
    version: 1.0.0
    urls: [other-1.0.0.tgz]
generated: "2026-01-01T00:00:00Z"
"""


def test_only_the_charts_asked_for_are_kept_with_the_fields_used() -> None:
    parsed = parse_index(INDEX, {"podinfo", "missing"})
    assert set(parsed) == {"podinfo", "missing"}
    assert parsed["missing"] is None
    entries = parsed["podinfo"]
    assert entries is not None
    # A version YAML reads as a number, or an entry that is not a mapping, is not an entry.
    assert [e.version for e in entries] == ["6.5.1", "6.6.0-rc.1", "6.4.0", "not-a-version"]
    assert entries[0] == ChartVersion("6.5.1", "abc123", ("podinfo-6.5.1.tgz",))
    assert entries[1].digest == ""


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"entries: [1, 2]\n", "no 'entries' mapping"),
        (b"- a list\n", "no 'entries' mapping"),
        (b"entries: {a: [\n", "invalid YAML"),
        (b"entries: " + b"[" * 100 + b"]" * 100 + b"\n", "nested more than 64"),
        (b"entries:\n" + b" " * 3000 + b"a: 1\n", "indented more than"),
    ],
)
def test_what_is_not_an_index_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_index(raw, {"podinfo"})


def _entries() -> list[ChartVersion]:
    entries = parse_index(INDEX, {"podinfo"})["podinfo"]
    assert entries is not None
    return entries


@pytest.mark.parametrize(
    ("wanted", "version"),
    [
        ("*", "6.5.1"),
        ("6.x", "6.5.1"),
        ("~6.4", "6.4.0"),
        ("6.4.0", "6.4.0"),
        ("v6.4.0", "6.4.0"),
        # Pre-releases only when the range names one, as Helm does.
        (">=6.6.0-0", "6.6.0-rc.1"),
        ("6.6.0-rc.1", "6.6.0-rc.1"),
    ],
)
def test_the_highest_version_in_range_is_chosen(wanted: str, version: str) -> None:
    chosen = resolve(_entries(), SemverRange.parse(wanted), chart="podinfo", url="https://r")
    assert chosen.version == version


def test_a_range_matching_nothing_says_what_there_is() -> None:
    with pytest.raises(ChartVersionNotFoundError) as caught:
        resolve(_entries(), SemverRange.parse(">=9.0.0"), chart="podinfo", url="https://r")
    assert str(caught.value) == (
        "no version of chart 'podinfo' in https://r matches '>=9.0.0'; the newest are "
        "6.6.0-rc.1, 6.5.1, 6.4.0"
    )


def test_an_exact_version_missing_is_named_as_such() -> None:
    with pytest.raises(ChartVersionNotFoundError, match=r"^version 6\.5\.2 of chart 'podinfo'"):
        resolve(_entries(), SemverRange.parse("6.5.2"), chart="podinfo", url="https://r")


# --- archives -----------------------------------------------------------------------------------


def _tgz(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


CHART_YAML = b"apiVersion: v2\nname: web\nversion: 1.0.0\n"


def test_a_chart_archive_is_unpacked_whole(tmp_path: Path) -> None:
    archive = _tgz(
        tmp_path / "web.tgz",
        [("web/Chart.yaml", CHART_YAML), ("web/templates/cm.yaml", b"kind: ConfigMap\n")],
    )
    chart = unpack(archive, tmp_path / "out" / "digest", Limits())
    assert chart == tmp_path / "out" / "digest" / "web"
    assert (chart / "templates" / "cm.yaml").read_bytes() == b"kind: ConfigMap\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["digest"]


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([("web/Chart.yaml", CHART_YAML), ("web/../../evil", b"x")], "leaves the archive"),
        ([("/etc/evil", b"x")], "leaves the archive"),
        ([("web/Chart.yaml", CHART_YAML), _link("web/l", "/etc/passwd", tarfile.SYMTYPE)], "link"),
        (
            [("web/Chart.yaml", CHART_YAML), _link("web/h", "web/Chart.yaml", tarfile.LNKTYPE)],
            "link",
        ),
        ([("web/Chart.yaml", CHART_YAML), _device("web/dev")], "not a file or directory"),
        ([("web/Chart.yaml", CHART_YAML), ("other/x", b"x")], "more than one top directory"),
        ([("web/values.yaml", b"a: 1\n")], "holds no web/Chart.yaml"),
        ([("web/Chart.yaml", CHART_YAML), ("web/big", b"x" * 2000)], "larger than 1024 bytes"),
        ([(f"web/f{i}", b"x" * 1000) for i in range(5)], "unpacks to more than 3000 bytes"),
    ],
)
def test_unsafe_or_oversized_archives_are_refused_and_leave_nothing(
    tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], problem: str
) -> None:
    archive = _tgz(tmp_path / "bad.tgz", members)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=problem):
        unpack(archive, out / "digest", Limits(max_file_bytes=1024, max_render_bytes=3000))
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_a_corrupt_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "corrupt.tgz"
    good = _tgz(tmp_path / "good.tgz", [("web/Chart.yaml", CHART_YAML)]).read_bytes()
    archive.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable tar"):
        unpack(archive, tmp_path / "digest", Limits())
    archive.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="not a readable tar"):
        unpack(archive, tmp_path / "digest", Limits())


def test_chart_credentials_from_a_secret_never_show_their_values() -> None:
    import base64

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    creds = ChartCredentials.from_secret_data(
        {"username": b64("alice"), "password": b64("s3cret\n"), "ca.crt": b64("PEM")}
    )
    assert (creds.username, creds.password, creds.ca) == ("alice", "s3cret", b"PEM")
    assert repr(creds) == "ChartCredentials(username=<set>, password=<set>, ca=<set>)"
    token = ChartCredentials.from_secret_data({"token": b64("t0ken")})
    assert token.bearer_token == "t0ken"
    with pytest.raises(ValueError, match="'password': missing"):
        ChartCredentials.from_secret_data({"username": b64("alice")})


def test_the_next_page_of_a_tag_list_and_the_chart_layer_of_a_manifest() -> None:
    from gitmoor.sources.bounded_http import next_page as _next_page
    from gitmoor.sources.charts import _chart_layer

    current = "https://r.example.com/v2/p/web/tags/list?n=1000"
    link = '</v2/p/web/tags/list?last=1.2.0&n=1000>; rel="next"'
    assert _next_page(link, current) == "https://r.example.com/v2/p/web/tags/list?last=1.2.0&n=1000"
    assert _next_page(None, current) is None
    digest = "sha256:" + "a" * 64
    manifest = (
        b'{"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "x"},'
        b' {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "'
        + digest.encode()
        + b'"}]}'
    )
    assert _chart_layer(manifest) == digest
    assert _chart_layer(b'{"layers": []}') is None
    assert _chart_layer(b"not json") is None


def test_the_sections_helm_writes_are_read_alone_and_agree_with_the_whole_index() -> None:
    from gitmoor.sources.charts import _entries_as_helm_writes_them, _load_entries

    fast = _entries_as_helm_writes_them(INDEX, ["podinfo", "other"])
    assert fast is not None
    assert set(fast) == {"podinfo", "other"}
    whole = _load_entries(INDEX)
    assert fast == {k: whole[k] for k in ("podinfo", "other")}
    # A chart whose name another one begins with is not mistaken for it.
    prefixed = INDEX.replace(b"  other:\n", b"  podinfo-ui:\n  - {version: 9.9.9}\n  other:\n")
    assert parse_index(prefixed, {"podinfo"}) == parse_index(INDEX, {"podinfo"})
    # Another layout (JSON, quoted keys) or an absent chart: the whole index is read.
    assert _entries_as_helm_writes_them(b'{"entries": {"podinfo": []}}', ["podinfo"]) is None
    assert _entries_as_helm_writes_them(INDEX, ["missing"]) is None
    assert parse_index(b'{"entries": {"podinfo": [{"version": "1.0.0"}]}}', {"podinfo"}) == {
        "podinfo": [ChartVersion("1.0.0", "", ())]
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("RegistryDigestError", "ChartDigestError"),
        # A refusal that merely names a digest is not a digest mismatch.
        ("RegistryContentError", "ChartIndexError"),
        ("RegistryAuthError", "ChartAuthError"),
        ("RegistryNotFoundError", "ChartNotFoundError"),
        ("RegistryUnavailableError", "ChartRepositoryUnavailableError"),
    ],
)
def test_a_registry_error_becomes_the_chart_error_of_its_kind(error: str, expected: str) -> None:
    from gitmoor import errors
    from gitmoor.sources.charts import _as_chart_error, _Call

    cause = getattr(errors, error)("'x' is not a sha256 digest", url="oci://r/charts")
    call = _Call("oci://r/charts", "web", None, 5.0)
    assert type(_as_chart_error(cause, call)).__name__ == expected
