"""Hostile manifests cost at most what `Limits` allow, and are refused with file and line."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitmoor.errors import RenderError, RenderErrors
from gitmoor.model.limits import DEFAULT_LIMITS, Limits
from gitmoor.render import RenderOptions, render
from gitmoor.render.documents import Document, parse_json, parse_yaml
from gitmoor.render.objects import to_manifests
from gitmoor.render.problems import Problems

OPTIONS = RenderOptions(release_name="shop", namespace="shop")
MIB = 1024 * 1024


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each level is a list of `width` aliases of the level before, so
    level n expands to width**(n+1) strings. One level per line, level 0 on line 1."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def read(text: str | bytes, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    return [document.obj for document in parse_yaml(text, "bomb.yaml", limits=limits)]


def refused_within(max_bytes: int, action: Callable[[], object]) -> RenderError:
    """The RenderError `action` raises, checked to have allocated at most `max_bytes` on the
    way (peak of Python's allocations, where expanded YAML would live)."""
    tracemalloc.start()
    try:
        with pytest.raises(RenderError) as caught:
            action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < max_bytes, f"peak {peak} bytes"
    return caught.value


# --- aliases ------------------------------------------------------------------------------------


def test_aliases_within_the_limit_are_read_as_shared_blocks() -> None:
    [doc] = read(laughs(3, width=3))

    assert doc["l2"] == [[["lol"] * 3] * 3] * 3


def test_the_nodes_aliases_add_are_counted_expanded() -> None:
    text = "a: &a [x, y]\nb: [*a, *a]\n"  # each alias adds the list and its two strings

    assert read(text, Limits(max_alias_nodes=6)) == [{"a": ["x", "y"], "b": [["x", "y"]] * 2}]
    with pytest.raises(RenderError) as caught:
        read(text, Limits(max_alias_nodes=5))
    assert str(caught.value) == "bomb.yaml:2: YAML aliases expand beyond 5 nodes (an alias bomb?)"


def test_an_alias_bomb_stops_at_the_alias_that_crosses_the_limit() -> None:
    # Line 2 adds 9 * 10 nodes; the first alias of line 3 adds 91 more: past 100.
    error = refused_within(MIB, lambda: read(laughs(9), Limits(max_alias_nodes=100)))

    assert (error.file, error.line) == ("bomb.yaml", 3)


def test_a_billion_laughs_is_refused_fast_under_the_default_limit() -> None:
    text = laughs(9)  # 9**9 strings: about 387 million
    assert len(text) < 600

    error = refused_within(4 * MIB, lambda: read(text))

    # Lines 2-6 add 672,588 nodes; line 7's first alias adds 597,871 more.
    assert str(error) == "bomb.yaml:7: YAML aliases expand beyond 1,000,000 nodes (an alias bomb?)"


def test_aliases_are_counted_over_all_documents_of_a_file() -> None:
    one = "a: &a [x, y]\nb: [*a, *a]\n"  # 6 nodes added per document

    assert len(read(f"{one}---\n{one}", Limits(max_alias_nodes=12))) == 2
    with pytest.raises(RenderError, match=r"^bomb\.yaml:5: YAML aliases expand beyond 11 "):
        read(f"{one}---\n{one}", Limits(max_alias_nodes=11))


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        read("a: &a\n  - x\n  - *a\n")

    assert str(caught.value) == (
        "bomb.yaml:3: alias *a is used inside the node it names, so it never ends"
    )


async def test_render_keeps_to_the_limits_it_is_given(tree) -> None:
    root = tree(
        {
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
            "data:\n  x: &x aaaa\n  y: *x\n  z: *x\n",
        }
    )
    limits = Limits(max_alias_nodes=1)

    await render(root, ".", OPTIONS)  # the defaults allow two aliased strings
    with pytest.raises(RenderError, match=r"^cm\.yaml:7: YAML aliases expand beyond 1 nodes"):
        await render(root, ".", RenderOptions(release_name="a", namespace="b", limits=limits))


# --- nesting ------------------------------------------------------------------------------------


def test_nesting_up_to_the_limit_is_read_and_beyond_it_refused() -> None:
    assert read(nested(100)) != []
    with pytest.raises(RenderError) as caught:
        read(nested(101))

    assert str(caught.value) == "bomb.yaml:1: YAML nested deeper than 100 levels"


def test_block_nesting_names_the_line_that_goes_too_deep() -> None:
    text = "".join("  " * level + "a:\n" for level in range(12)) + "  " * 12 + "end\n"

    assert read(text, Limits(max_depth=12)) != []
    with pytest.raises(RenderError, match=r"^bomb\.yaml:11: YAML nested deeper than 10 levels$"):
        read(text, Limits(max_depth=10))


def test_nesting_that_crashed_libyaml_is_a_clean_error() -> None:
    # libyaml's C composer recursed once per level and overflowed the stack here.
    error = refused_within(MIB, lambda: read(nested(100_000)))

    assert error.cause == "YAML nested deeper than 100 levels"


def test_an_alias_counts_the_depth_of_the_node_it_names() -> None:
    text = f"a: &a {nested(6)}\nb: [[*a]]\n"  # the alias sits 3 levels deep

    assert read(text, Limits(max_depth=9)) != []
    with pytest.raises(RenderError) as caught:
        read(text, Limits(max_depth=8))
    assert str(caught.value) == (
        "bomb.yaml:2: YAML nested deeper than 8 levels once alias *a is expanded"
    )


def test_json_nested_too_deep_is_refused_before_it_is_serialised() -> None:
    assert list(parse_json(nested(100).encode(), "deep.json"))
    with pytest.raises(RenderError) as caught:
        list(parse_json(nested(101).encode(), "deep.json"))
    assert str(caught.value) == "deep.json: JSON nested deeper than 100 levels"
    with pytest.raises(RenderError, match=r"^deep\.json:1: invalid JSON"):
        list(parse_json(nested(5000).encode(), "deep.json"))


async def test_a_deep_manifest_is_a_render_error_not_a_digest_crash(tree) -> None:
    root = tree(
        {
            "cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n"
            f"data:\n  x: {nested(300)}\n",
            "cm.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"},'
            f' "data": {{"x": {nested(300)}}}}}',
        }
    )

    with pytest.raises(RenderErrors) as caught:
        await render(root, ".", OPTIONS)

    assert [str(error) for error in caught.value.errors] == [
        "cm.json: JSON nested deeper than 100 levels",
        "cm.yaml:5: YAML nested deeper than 100 levels",
    ]


# --- file size ----------------------------------------------------------------------------------


async def test_a_file_over_the_size_limit_is_refused_and_one_at_it_read(tree) -> None:
    at_limit = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    over = '{"kind": "ConfigMap"}' + " " * len(at_limit)
    root = tree({"a/cm.yaml": at_limit, "b/cm.json": over})
    limits = Limits(max_file_bytes=len(at_limit))
    options = RenderOptions(release_name="a", namespace="b", limits=limits)

    assert len((await render(root, "a", options)).manifests) == 1
    with pytest.raises(RenderError) as caught:
        await render(root, "b", options)
    assert str(caught.value) == (
        f"cm.json: the file is {len(over)} bytes, over the limit of {len(at_limit)} bytes per file"
    )


def test_a_huge_file_is_refused_before_it_is_read(tree) -> None:
    root = tree({"ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
    with (root / "huge.yaml").open("wb") as huge:
        huge.truncate(40 * MIB)  # sparse: 40 MiB that cost no disk and would cost memory

    error = refused_within(4 * MIB, lambda: asyncio.run(render(root, ".", OPTIONS)))

    assert str(error) == "huge.yaml: the file is 40 MiB, over the limit of 32 MiB per file"


async def test_a_values_file_over_the_size_limit_is_refused(copy_data) -> None:
    root = copy_data("chart")
    (root / "chart/shop/big-values.yaml").write_text("replicas: 2\n" * 10)
    limits = Limits(max_file_bytes=100)
    options = RenderOptions(
        release_name="web", namespace="store", values_files=("big-values.yaml",), limits=limits
    )

    with pytest.raises(
        RenderError, match=r"^big-values\.yaml: the file is 120 bytes, over the limit of 100 bytes"
    ):
        await render(root, "chart/shop", options)


# --- objects ------------------------------------------------------------------------------------


def configmaps(*names: str) -> str:
    return "---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\n" for n in names
    )


async def test_objects_beyond_the_limit_are_refused_and_list_items_count_one_by_one(tree) -> None:
    items = "".join(
        f"- {{apiVersion: v1, kind: Secret, metadata: {{name: s{i}}}}}\n" for i in (1, 2)
    )
    root = tree({"a.yaml": configmaps("a", "b"), "b.yaml": f"kind: List\nitems:\n{items}"})

    def options(max_objects: int) -> RenderOptions:
        return RenderOptions(
            release_name="a", namespace="b", limits=Limits(max_objects=max_objects)
        )

    assert len((await render(root, ".", options(4))).manifests) == 4
    with pytest.raises(RenderError) as caught:
        await render(root, ".", options(3))
    assert str(caught.value) == (
        "b.yaml:4: more than 3 objects, the limit for one render: split the path into several Syncs"
    )


def test_files_after_the_object_limit_are_not_read() -> None:
    problems = Problems()
    read: list[str] = []

    def documents() -> Iterator[Document]:
        for name in ("a.yaml", "b.yaml", "c.yaml"):
            read.append(name)
            yield from parse_yaml(configmaps(f"{name[0]}1", f"{name[0]}2"), name)

    manifests = to_manifests(documents(), problems, Limits(max_objects=3))

    assert [m.ref.name for m in manifests] == ["a1", "a2", "b1"]
    assert read == ["a.yaml", "b.yaml"]
    assert [str(e) for e in problems.errors] == [
        "b.yaml:5: more than 3 objects, the limit for one render: split the path into several Syncs"
    ]


async def test_kustomize_and_helm_output_keep_to_the_object_limit(data: Path) -> None:
    limits = Limits(max_objects=2)
    options = RenderOptions(release_name="web", namespace="store", limits=limits)

    with pytest.raises(RenderError, match=r"more than 2 objects, the limit for one render"):
        await render(data, "kustomize/overlays/prod", options)
    with pytest.raises(RenderError, match=r"more than 2 objects, the limit for one render"):
        await render(data, "chart/shop", options)


# --- the limits themselves ----------------------------------------------------------------------


def test_defaults_apply_when_nothing_is_passed() -> None:
    assert OPTIONS.limits == Limits(
        max_file_bytes=32 * MIB, max_depth=100, max_alias_nodes=1_000_000, max_objects=100_000
    )


@pytest.mark.parametrize(
    "limits",
    [{"max_depth": 0}, {"max_depth": 201}, {"max_file_bytes": 0}, {"max_objects": -1}],
)
def test_limits_that_cannot_work_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(limits))):
        Limits(**limits)
