"""Which directories `file://` GitSources may read, as `gitmoor run` decides it from
--allow-file-sources and whether it runs in a cluster: in a cluster none by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.cli.agent import _file_roots

IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}


@pytest.mark.parametrize(
    ("environ", "allowed", "roots"),
    [
        pytest.param(IN_CLUSTER, [], (), id="in a cluster: none by default"),
        pytest.param(
            IN_CLUSTER, [Path("/srv/git")], (Path("/srv/git"),), id="in a cluster: those allowed"
        ),
        pytest.param({}, [], None, id="out of a cluster: any path"),
        pytest.param(
            {},
            [Path("/srv/a"), Path("/srv/b")],
            (Path("/srv/a"), Path("/srv/b")),
            id="out of a cluster: only those allowed when given",
        ),
    ],
)
def test_file_sources_are_off_in_a_cluster_unless_a_root_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    allowed: list[Path],
    roots: tuple[Path, ...] | None,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    assert _file_roots(allowed) == roots
