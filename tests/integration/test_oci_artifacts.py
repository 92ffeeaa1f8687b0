"""OCIArtifactFetcher against the real registry (Debian's docker-registry, TLS, htpasswd), the
artifacts pushed through the Distribution API as `flux push artifact` lays them out: tag,
semver range and digest refs, the layer pulled once by digest, and every way a hostile or broken
artifact is refused. The agent's use is in tests/integration/agent/test_oci_sources.py."""

from __future__ import annotations

import secrets
import tarfile
from pathlib import Path

import pytest

from gitmoor.errors import RegistryAuthError, RegistryContentError, RegistryNotFoundError
from gitmoor.model.credentials import ChartCredentials
from gitmoor.model.resources import OCISourceSpec
from gitmoor.sources.archives import Limits
from gitmoor.sources.ociartifact import OCIArtifactFetcher
from testenv.ociartifact import tar_gz_with
from testenv.registry import Registry

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


def _creds(registry: Registry, password: str = "") -> ChartCredentials:
    return ChartCredentials(
        username=registry.username,
        password=password or registry.password,
        ca=registry.ca_path.read_bytes(),
    )


def _spec(registry: Registry, repo: str, **ref: str) -> OCISourceSpec:
    return OCISourceSpec.model_validate({"url": f"oci://{registry.host}/{repo}", "ref": ref or {}})


def _names(directory: str) -> list[str]:
    return sorted(p.name for p in Path(directory).iterdir())


def _text(*parts: str) -> str:
    return Path(*parts).read_text()


def _blob_pulls(registry: Registry, repo: str) -> int:
    return len(
        [r for r in registry.requests() if r.startswith(f"GET /v2/{repo}/blobs/") and "200" in r]
    )


async def test_tag_range_and_digest_refs_pull_the_layer_once(
    oci_registry: Registry, tmp_path: Path
) -> None:
    repo = f"manifests/a{secrets.token_hex(4)}"
    pusher = oci_registry.artifacts()
    notes = {
        "org.opencontainers.image.source": "https://git.example.com/apps.git",
        "org.opencontainers.image.revision": f"main@sha1:{GIT_SHA}",
    }
    first = pusher.push(repo, "1.0.0", {"apps/cm.yaml": CM % "one"}, annotations=notes)
    pusher.push(repo, "1.1.0", {"./apps/cm.yaml": CM % "two", "./README.md": "hi"})
    pusher.push(repo, "2.0.0", {"apps/cm.yaml": CM % "three"})
    fetcher = OCIArtifactFetcher(tmp_path / "cache")

    ranged = await fetcher.fetch(
        _spec(oci_registry, repo, semver="1.x"), _creds(oci_registry), timeout=10
    )
    assert ranged.revision.startswith("1.1.0@sha256:")
    assert _text(ranged.path, "apps", "cm.yaml") == CM % "two"
    assert ranged.url == f"oci://{oci_registry.host}/{repo}"

    by_digest = await fetcher.fetch(
        _spec(oci_registry, repo, digest=first), _creds(oci_registry), timeout=10
    )
    assert by_digest.revision == first
    assert by_digest.commit.sha == GIT_SHA  # the commit it was pushed from
    assert _text(by_digest.path, "apps", "cm.yaml") == CM % "one"

    tagged = await fetcher.fetch(
        _spec(oci_registry, repo, tag="1.0.0"), _creds(oci_registry), timeout=10
    )
    assert tagged.revision == f"1.0.0@{first}"
    assert tagged.path == by_digest.path
    # Three fetches, two layers: the one already unpacked was not downloaded again.
    assert _blob_pulls(oci_registry, repo) == 2

    # `latest` by default; absent here.
    with pytest.raises(RegistryNotFoundError, match=r":latest does not exist"):
        await fetcher.fetch(_spec(oci_registry, repo), _creds(oci_registry), timeout=10)
    with pytest.raises(RegistryNotFoundError, match=r"no tag of oci://.* matches '>=3\.0\.0'"):
        await fetcher.fetch(
            _spec(oci_registry, repo, semver=">=3.0.0"), _creds(oci_registry), timeout=10
        )


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = link
    return info


async def test_a_copied_layer_is_one_file_named_by_its_title(
    oci_registry: Registry, tmp_path: Path
) -> None:
    """`oras push REF app.yaml:application/yaml`: the layer is the file itself, not a tar."""
    repo = f"manifests/c{secrets.token_hex(4)}"
    pusher = oci_registry.artifacts()
    title = "org.opencontainers.image.title"
    yaml_type = "application/yaml"
    pusher.push(
        repo,
        "1.0.0",
        layer=(CM % "one").encode(),
        media_type=yaml_type,
        layer_annotations={title: "app.yaml"},
    )
    pusher.push(repo, "untitled", layer=(CM % "two").encode(), media_type=yaml_type)
    pusher.push(
        repo,
        "escaping",
        layer=b"x",
        media_type=yaml_type,
        layer_annotations={title: "../../etc/passwd"},
    )
    fetcher = OCIArtifactFetcher(tmp_path / "cache")

    def spec(tag: str, operation: str = "copy") -> OCISourceSpec:
        return OCISourceSpec.model_validate(
            {
                "url": f"oci://{oci_registry.host}/{repo}",
                "ref": {"tag": tag},
                "layerSelector": {"mediaType": yaml_type, "operation": operation},
            }
        )

    named = await fetcher.fetch(spec("1.0.0"), _creds(oci_registry), timeout=10)
    assert _names(named.path) == ["app.yaml"]
    assert _text(named.path, "app.yaml") == CM % "one"
    untitled = await fetcher.fetch(spec("untitled"), _creds(oci_registry), timeout=10)
    assert _text(untitled.path, "layer") == CM % "two"

    with pytest.raises(RegistryContentError) as refused:
        await fetcher.fetch(spec("escaping"), _creds(oci_registry), timeout=10)
    assert "'../../etc/passwd' is not a plain file name" in str(refused.value)
    # Extracting a layer that is no tar+gzip is refused as such, not read as a file.
    with pytest.raises(RegistryContentError):
        await fetcher.fetch(spec("1.0.0", "extract"), _creds(oci_registry), timeout=10)


@pytest.mark.parametrize(
    ("layer", "problem"),
    [
        pytest.param(
            tar_gz_with([_member("../escape.yaml", size=2)], {"../escape.yaml": b"a:"}),
            "entry '../escape.yaml' leaves the archive",
            id="climbing-path",
        ),
        pytest.param(
            tar_gz_with([_member("/etc/cron.d/x", size=2)], {"/etc/cron.d/x": b"a:"}),
            "leaves the archive",
            id="absolute-path",
        ),
        pytest.param(
            tar_gz_with([_member("cm.yaml", tarfile.SYMTYPE, link="/etc/passwd")], {}),
            "entry 'cm.yaml' is a link: refused",
            id="symlink",
        ),
        pytest.param(
            tar_gz_with([_member("dev", tarfile.CHRTYPE)], {}),
            "is not a file or directory",
            id="device",
        ),
        pytest.param(b"\x1f\x8b\x08\x00garbage", r"not a readable tar\+gzip archive", id="corrupt"),
        pytest.param(
            tar_gz_with([_member("big.yaml", size=5000)], {"big.yaml": b"x" * 5000}),
            "big.yaml is larger than 4096 bytes",
            id="oversized-file",
        ),
    ],
)
async def test_a_hostile_or_broken_layer_is_refused_and_nothing_is_kept(
    oci_registry: Registry, tmp_path: Path, layer: bytes, problem: str
) -> None:
    repo = f"manifests/h{secrets.token_hex(4)}"
    oci_registry.artifacts().push(repo, "latest", layer=layer)
    fetcher = OCIArtifactFetcher(tmp_path / "cache", Limits(max_file_bytes=4096))
    with pytest.raises(RegistryContentError, match=problem):
        await fetcher.fetch(_spec(oci_registry, repo), _creds(oci_registry), timeout=10)
    assert not list((tmp_path / "cache" / "artifacts").glob("unpacked/*"))
    assert not list((tmp_path / "cache" / "artifacts").glob("blobs/*"))


async def test_a_layer_over_the_size_limit_is_not_downloaded(
    oci_registry: Registry, tmp_path: Path
) -> None:
    repo = f"manifests/s{secrets.token_hex(4)}"
    oci_registry.artifacts().push(repo, "latest", {"a.yaml": "x: " + secrets.token_hex(4000)})
    fetcher = OCIArtifactFetcher(tmp_path, Limits(max_file_bytes=4096, max_render_bytes=1000))
    with pytest.raises(RegistryContentError, match=r"the layer is \d+ bytes, more than 1000"):
        await fetcher.fetch(_spec(oci_registry, repo), _creds(oci_registry), timeout=10)
    assert _blob_pulls(oci_registry, repo) == 0


async def test_a_blob_that_is_not_its_digest_is_refused(
    oci_registry: Registry, tmp_path: Path
) -> None:
    repo = f"manifests/d{secrets.token_hex(4)}"
    layer = tar_gz_with([_member("cm.yaml", size=2)], {"cm.yaml": b"a:"})
    pusher = oci_registry.artifacts()
    pusher.push(repo, "latest", layer=layer)
    oci_registry.tamper_blob(pusher.digest(layer))
    with pytest.raises(RegistryContentError, match=r"the blob's digest is sha256:.*: refused"):
        await OCIArtifactFetcher(tmp_path).fetch(
            _spec(oci_registry, repo), _creds(oci_registry), timeout=10
        )


async def test_no_layer_of_the_selected_type_and_refused_credentials_are_named(
    oci_registry: Registry, tmp_path: Path
) -> None:
    repo = f"manifests/m{secrets.token_hex(4)}"
    oci_registry.artifacts().push(
        repo, "latest", {"a.yaml": CM % "a"}, media_type="application/vnd.oci.image.layer.v1.tar"
    )
    fetcher = OCIArtifactFetcher(tmp_path)
    with pytest.raises(RegistryContentError, match=r"no layer of type .*spec\.layerSelector"):
        await fetcher.fetch(_spec(oci_registry, repo), _creds(oci_registry), timeout=10)
    spec = OCISourceSpec.model_validate(
        {
            "url": f"oci://{oci_registry.host}/{repo}",
            "layerSelector": {"mediaType": "application/vnd.oci.image.layer.v1.tar"},
        }
    )
    selected = await fetcher.fetch(spec, _creds(oci_registry), timeout=10)
    assert _text(selected.path, "a.yaml") == CM % "a"
    wrong = "wrong-" + secrets.token_hex(4)
    with pytest.raises(RegistryAuthError, match="answered 401") as caught:
        await fetcher.fetch(spec, _creds(oci_registry, wrong), timeout=10)
    assert wrong not in str(caught.value)


async def test_the_bearer_token_flow_pulls_and_its_refusals_are_named(
    oci_token_registry: Registry, tmp_path: Path
) -> None:
    registry = oci_token_registry
    tokens = registry.tokens
    assert tokens is not None
    private = f"private/p{secrets.token_hex(4)}"
    public = f"public/p{secrets.token_hex(4)}"
    pusher = registry.artifacts()
    pusher.push(private, "latest", {"cm.yaml": CM % "private"})
    pusher.push(public, "latest", {"cm.yaml": CM % "public"})
    fetcher = OCIArtifactFetcher(tmp_path)
    ca = registry.ca_path.read_bytes()

    # Challenged, the client asks the token service with its Basic credentials, then pulls.
    full = ChartCredentials(username=registry.username, password=registry.password, ca=ca)
    pulled = await fetcher.fetch(_spec(registry, private), full, timeout=10)
    assert _text(pulled.path, "cm.yaml") == CM % "private"
    assert f"scope=repository:{private}:pull 200" in tokens.requests[-1]

    # Wrong credentials: the token service refuses them (401), named, the password unsaid.
    wrong = "wrong-" + secrets.token_hex(4)
    bad = ChartCredentials(username=registry.username, password=wrong, ca=ca)
    with pytest.raises(RegistryAuthError, match=r"token.* answered 401") as caught:
        await fetcher.fetch(_spec(registry, private), bad, timeout=10)
    assert wrong not in str(caught.value)

    # A user the service grants no access to this repository: its token is refused.
    reader = ChartCredentials(username=tokens.reader, password=tokens.reader_password, ca=ca)
    with pytest.raises(RegistryAuthError, match="answered 401"):
        await fetcher.fetch(_spec(registry, private), reader, timeout=10)
    allowed = await OCIArtifactFetcher(tmp_path / "other").fetch(
        _spec(registry, public), reader, timeout=10
    )
    assert _text(allowed.path, "cm.yaml") == CM % "public"
