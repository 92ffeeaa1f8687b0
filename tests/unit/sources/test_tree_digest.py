"""The artifact digest covers exactly the content a renderer could read, and unpacking a tree
never writes outside the artifact."""

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from gitmoor.sources.digest import tree_digest
from gitmoor.sources.ignore import IgnoreRules
from gitmoor.sources.tree import unpack_tree
from testenv.hostile import chained_symlink_chart


def make_tree(root: Path, files: dict[str, str], *, executable: tuple[str, ...] = ()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if name in executable else 0o644)
    return root


FILES = {"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n", "dir/sub/c.json": "{}\n"}


def test_same_content_same_digest_whatever_the_order_times_and_modes(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "one", FILES)
    second = make_tree(tmp_path / "two", dict(reversed(FILES.items())))
    os.utime(second / "a.yaml", (1, 1))
    (second / "dir/b.yaml").chmod(0o600)  # not executable either way
    (second / "empty-dir").mkdir()
    digest = tree_digest(first)
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    assert tree_digest(second) == digest


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "new file", "removed file", "executable bit", "move to subdir"],
)
def test_any_change_a_renderer_could_see_changes_the_digest(tmp_path: Path, change: str) -> None:
    base = tree_digest(make_tree(tmp_path / "base", FILES))
    other = make_tree(tmp_path / "other", FILES)
    if change == "content":
        (other / "a.yaml").write_text("a: 2\n")
    elif change == "rename":
        (other / "a.yaml").rename(other / "z.yaml")
    elif change == "new file":
        (other / "new.yaml").write_text("")
    elif change == "removed file":
        (other / "dir/b.yaml").unlink()
    elif change == "executable bit":
        (other / "a.yaml").chmod(0o755)
    else:
        (other / "dir/sub").mkdir(exist_ok=True)
        (other / "a.yaml").rename(other / "dir/sub/a.yaml")
    assert tree_digest(other) != base


def test_symlinks_count_by_their_target(tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one", FILES)
    (one / "link").symlink_to("dir/b.yaml")
    two = make_tree(tmp_path / "two", FILES)
    (two / "link").symlink_to("a.yaml")
    three = make_tree(tmp_path / "three", FILES)
    (three / "link").symlink_to("dir/b.yaml")
    assert tree_digest(one) != tree_digest(two)
    assert tree_digest(one) == tree_digest(three)
    assert tree_digest(one) != tree_digest(make_tree(tmp_path / "plain", FILES))


def test_the_digest_of_nothing_is_stable(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


# --- unpacking ------------------------------------------------------------------------------------


def tar_with(tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes, int]]) -> Path:
    path = tmp_path / "tree.tar"
    with tarfile.open(path, "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data, mode = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = mode
                tar.addfile(info, io.BytesIO(data))
    return path


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def test_unpack_keeps_files_modes_and_safe_links(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path,
        [
            ("app/deploy.yaml", b"replicas: 1\n", 0o664),
            ("bin/run.sh", b"#!/bin/sh\n", 0o775),
            link("app/current", "deploy.yaml"),
            link("app/up", "../bin/run.sh"),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    result = unpack_tree(archive, out, IgnoreRules(None))
    assert result.files == 4
    assert result.refused == ()
    assert (out / "app/deploy.yaml").read_text() == "replicas: 1\n"
    assert (out / "app/deploy.yaml").stat().st_mode & 0o777 == 0o644
    assert (out / "bin/run.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "app/current").readlink() == Path("deploy.yaml")
    assert (out / "app/up").read_text() == "#!/bin/sh\n"


def test_unpack_refuses_anything_that_leaves_the_artifact(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path,
        [
            ("../escape.txt", b"x", 0o644),
            ("/etc/absolute.txt", b"x", 0o644),
            ("a/../../climb.txt", b"x", 0o644),
            link("passwd", "/etc/passwd"),
            link("up", "../outside"),
            link("a/deep", "../../outside"),
            ("ok.yaml", b"ok\n", 0o644),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    result = unpack_tree(archive, out, IgnoreRules(None))
    assert result.files == 1
    assert len(result.refused) == 6
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["ok.yaml"]
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "climb.txt").exists()


def test_unpack_applies_ignore_rules_and_leaves_no_empty_directories(tmp_path: Path) -> None:
    docs = tarfile.TarInfo("docs")
    docs.type = tarfile.DIRTYPE
    archive = tar_with(
        tmp_path,
        [
            docs,
            ("docs/guide.md", b"guide", 0o644),
            ("app/deploy.yaml", b"x", 0o644),
            ("app/notes.md", b"y", 0o644),
            (".git/config", b"[core]", 0o644),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    result = unpack_tree(archive, out, IgnoreRules("docs/\n*.md\n"))
    assert result.ignored == 3
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "app",
        "app/deploy.yaml",
    ]


def test_links_whose_text_stays_inside_but_which_resolve_outside_are_removed(
    tmp_path: Path,
) -> None:
    # `chain/upN -> up(N-1)/..` reads as staying in `chain/`, yet climbs one level per link once
    # the tree is on disk: only the operating system's resolution tells.
    secret = tmp_path / "kubeconfig"
    secret.write_text("SENTINEL-CHAIN-KEY")
    work = tmp_path / "work"
    chained_symlink_chart(work, secret)
    subprocess.run(["git", "init", "--quiet", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "--all"], check=True)
    archive = tmp_path / "tree.tar"
    tree_id = subprocess.run(
        ["git", "-C", str(work), "write-tree"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["git", "-C", str(work), "archive", "--format=tar", f"--output={archive}", tree_id],
        check=True,
    )
    destination = tmp_path / "artifact"
    destination.mkdir()

    unpacked = unpack_tree(archive, destination, IgnoreRules(None))

    assert "chain2/k" in unpacked.refused
    assert "chain/up2" in unpacked.refused
    assert "chain/up1" not in unpacked.refused  # `..` of chain/ is the artifact itself
    root = destination.resolve()
    for path in destination.rglob("*"):
        if path.is_symlink():
            assert Path(os.path.realpath(path, strict=True)).is_relative_to(root), path
    assert not (destination / "chart" / "files" / "ext" / "k").exists()
    assert (destination / "chart" / "templates" / "leak.yaml").is_file()


def test_entries_the_ignore_rules_leave_out_are_never_judged_unsafe(tmp_path: Path) -> None:
    # A repository keeps links it does not deploy (a virtualenv's interpreter) by ignoring them:
    # an unsafe entry anywhere in a revision refuses it for every Sync.
    archive = tar_with(
        tmp_path,
        [
            link(".venv/bin/python", "/usr/bin/python3"),
            ("app/cm.yaml", b"x", 0o644),
            link("app/up", "../../outside"),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    assert unpack_tree(archive, out, IgnoreRules(".venv/\n")).refused == ("app/up",)
