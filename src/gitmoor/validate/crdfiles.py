"""CustomResourceDefinitions given with `--crds FILE|DIR`: for kinds defined outside the
validated paths (installed by another tool, or vendored elsewhere)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from gitmoor.model import Manifest
from gitmoor.validate.crds import is_crd
from gitmoor.validate.problems import Problem

_SUFFIXES = (".yaml", ".yml", ".json")
_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


def load_crd_files(paths: Sequence[Path], root: Path) -> tuple[list[Manifest], list[Problem]]:
    """The CRDs in `paths` (files, or directories searched for *.yaml, *.yml, *.json); other
    documents are ignored. Files are named relative to `root` when inside it."""
    manifests: list[Manifest] = []
    problems: list[Problem] = []
    for file in _files(paths):
        name = _display(file, root)
        try:
            text = file.read_bytes()
        except OSError as err:
            problems.append(
                Problem(name, None, "", "", f"cannot read: {err.strerror}", check="crds")
            )
            continue
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                obj = loader.construct_document(node)
                if isinstance(obj, dict) and is_crd(obj):
                    manifests.append(Manifest(obj, name, node.start_mark.line + 1))
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            problems.append(
                Problem(
                    name,
                    mark.line + 1 if mark else None,
                    "",
                    "",
                    f"invalid YAML: {err.problem or err.context or err}",
                    check="crds",
                )
            )
        except yaml.YAMLError as err:
            problems.append(Problem(name, None, "", "", f"cannot read YAML: {err}", check="crds"))
        finally:
            loader.dispose()
    return manifests, problems


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in _SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            yield path


def _display(file: Path, root: Path) -> str:
    try:
        return file.resolve().relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()
