from __future__ import annotations

from pathlib import Path

import pytest

from gitmoor.errors import RenderError, RenderErrors
from gitmoor.model import ObjectRef
from gitmoor.model.limits import Limits
from gitmoor.render import RenderOptions, render

OPTIONS = RenderOptions(release_name="shop", namespace="shop")


def subjects(rendered) -> list[str]:
    return [m.ref.subject for m in rendered.manifests]


async def test_every_manifest_file_below_the_path_in_path_order(data: Path) -> None:
    rendered = await render(data, "plain", OPTIONS)

    assert subjects(rendered) == [
        "ServiceAccount/shop/worker",  # apps/list.yaml, flattened
        "ConfigMap/shop/worker-config",
        "ConfigMap/shop/web-settings",  # apps/web/settings.json
        "Deployment/shop/web",  # apps/web/web.yaml, two documents
        "Service/shop/web",
        "Namespace/shop",  # namespace.yaml
        "ResourceQuota/shop/shop-quota",  # nested/deeper/quota.yml
    ]
    # README.md, notes.txt and the .hidden directory are not read.
    names = {m.ref.name for m in rendered.manifests}
    assert not names & {"ignored-because-txt", "ignored-because-hidden"}


async def test_each_object_knows_its_file_and_the_line_its_document_starts_on(
    data: Path,
) -> None:
    rendered = await render(data, "plain", OPTIONS)
    where = {m.ref.subject: m.where for m in rendered.manifests}

    assert where["Deployment/shop/web"] == "apps/web/web.yaml:3"
    assert where["Service/shop/web"] == "apps/web/web.yaml:21"
    assert where["ConfigMap/shop/web-settings"] == "apps/web/settings.json:1"
    assert where["ServiceAccount/shop/worker"] == "apps/list.yaml:4"
    assert where["ConfigMap/shop/worker-config"] == "apps/list.yaml:9"
    assert where["ResourceQuota/shop/shop-quota"] == "nested/deeper/quota.yml:1"


async def test_a_sub_path_is_rendered_alone_and_sources_are_relative_to_it(data: Path) -> None:
    rendered = await render(data, "plain/apps/web", OPTIONS)

    assert [(m.ref.subject, m.where) for m in rendered.manifests] == [
        ("ConfigMap/shop/web-settings", "settings.json:1"),
        ("Deployment/shop/web", "web.yaml:3"),
        ("Service/shop/web", "web.yaml:21"),
    ]


async def test_values_read_as_kubectl_reads_them(data: Path) -> None:
    rendered = await render(data, "plain/apps", OPTIONS)
    config = next(m for m in rendered.manifests if m.ref.name == "worker-config")

    # A date stays text (go-yaml v2 hands kubectl a string); YAML 1.1 `yes` is a boolean.
    assert config.obj["data"] == {"started": "2024-01-31", "verbose": True}


async def test_equal_objects_give_equal_digests_and_a_change_a_new_one(tree, data: Path) -> None:
    first = await render(data, "plain", OPTIONS)
    again = await render(data, "plain", OPTIONS)
    changed_root = tree(
        {
            "cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: a}
            data: {k: "1"}
            """
        }
    )
    one = await render(changed_root, ".", OPTIONS)
    (changed_root / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: '2'}\n"
    )
    two = await render(changed_root, ".", OPTIONS)

    assert first.digest == again.digest
    assert first.digest.startswith("sha256:")
    assert len(first.digest) == 7 + 64
    assert one.digest != two.digest


async def test_key_order_and_layout_do_not_change_the_digest(tree) -> None:
    flow = tree({"a/cm.yaml": "{kind: ConfigMap, apiVersion: v1, metadata: {name: a}}\n"})
    block = tree(
        {
            "b/cm.json": '{"apiVersion": "v1", "metadata": {"name": "a"}, "kind": "ConfigMap"}',
        }
    )

    assert (await render(flow, "a", OPTIONS)).digest == (await render(block, "b", OPTIONS)).digest


async def test_an_empty_directory_renders_nothing(tree) -> None:
    root = tree({"empty/README.md": "nothing here\n"})

    rendered = await render(root, "empty", OPTIONS)

    assert rendered.manifests == ()


async def test_invalid_yaml_names_the_file_and_the_line_of_the_problem(tree) -> None:
    root = tree(
        {
            "app/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
            "app/broken.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: broken
            data:
              key: [unclosed
              other: 1
            """,
        }
    )

    with pytest.raises(RenderError) as caught:
        await render(root, "app", OPTIONS)

    assert caught.value.file == "broken.yaml"
    assert caught.value.line == 7
    assert str(caught.value).startswith("broken.yaml:7: invalid YAML:")
    assert "flow sequence" in str(caught.value)


async def test_invalid_json_names_the_file_and_line(tree) -> None:
    root = tree({"cm.json": '{\n  "apiVersion": "v1",\n  "kind": \n}\n'})

    with pytest.raises(RenderError) as caught:
        await render(root, ".", OPTIONS)

    assert (caught.value.file, caught.value.line) == ("cm.json", 4)
    assert "invalid JSON" in str(caught.value)


async def test_a_key_given_twice_is_an_error_as_in_kubectl(tree) -> None:
    root = tree(
        {
            "cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: twice
              name: again
            """
        }
    )

    with pytest.raises(RenderError) as caught:
        await render(root, ".", OPTIONS)

    assert (caught.value.file, caught.value.line) == ("cm.yaml", 5)
    assert "'name' twice (first on line 4)" in str(caught.value)


async def test_merge_keys_may_repeat_a_key_they_override(tree) -> None:
    root = tree(
        {
            "cm.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: merged}
            data:
              <<: {a: "1", b: "2"}
              b: "3"
            """
        }
    )

    rendered = await render(root, ".", OPTIONS)

    assert rendered.manifests[0].obj["data"] == {"a": "1", "b": "3"}


async def test_all_invalid_objects_are_reported_at_once(tree) -> None:
    root = tree(
        {
            "a.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              namespace: shop
            """,
            "b/b.yaml": """
            apiVersion: v1
            kind: Secret
            metadata: {name: fine}
            ---
            kind: Service
            metadata: {name: web}
            """,
            "c.json": '["not", "an", "object"]',
        }
    )

    with pytest.raises(RenderErrors) as caught:
        await render(root, ".", OPTIONS)

    errors = caught.value.errors
    assert [(e.file, e.line) for e in errors] == [("a.yaml", 1), ("b/b.yaml", 5), ("c.json", 1)]
    assert "missing metadata.name" in errors[0].cause
    assert "kind ConfigMap" in errors[0].cause
    assert "namespace shop" in errors[0].cause
    assert "missing apiVersion" in errors[1].cause
    assert "name web" in errors[1].cause
    assert "is a list, not an object" in errors[2].cause
    message = str(caught.value)
    assert "a.yaml:1:" in message
    assert "b/b.yaml:5:" in message
    assert "c.json:1:" in message


async def test_syntax_and_object_errors_in_different_files_come_together(tree) -> None:
    root = tree(
        {
            "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n",
            "b.yaml": "apiVersion: v1\nmetadata: {name: b}\n",
        }
    )

    with pytest.raises(RenderErrors) as caught:
        await render(root, ".", OPTIONS)

    assert [e.file for e in caught.value.errors] == ["a.yaml", "b.yaml"]


async def test_the_same_object_twice_names_both_places(tree) -> None:
    root = tree(
        {
            "one.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop}
            """,
            "two/again.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: other}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop}
            """,
        }
    )

    with pytest.raises(RenderError) as caught:
        await render(root, ".", OPTIONS)

    error = caught.value
    assert error.ref == ObjectRef("apps", "Deployment", "shop", "web")
    assert (error.file, error.line) == ("two/again.yaml", 5)
    assert str(error) == (
        "two/again.yaml:5: Deployment/shop/web: defined twice: also at one.yaml:1"
    )


async def test_an_object_in_another_api_version_is_still_the_same_object(tree) -> None:
    root = tree(
        {
            "a.yaml": "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\n"
            "metadata: {name: web}\n",
            "b.yaml": "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
            "metadata: {name: web}\n",
        }
    )

    with pytest.raises(RenderError, match=r"defined twice: also at a\.yaml:1"):
        await render(root, ".", OPTIONS)


async def test_many_files_under_the_file_limit_still_add_up_to_a_bound(tree) -> None:
    # Each file is small enough alone; together they are more than one render may hold.
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {a: '%s'}\n"
    root = tree({f"app/cm{i}.yaml": cm % (i, "x" * 4000) for i in range(10)})
    tight = RenderOptions(release_name="a", namespace="a", limits=Limits(max_render_bytes=20_000))

    with pytest.raises(RenderError, match="add up to more than 20,000 bytes"):
        await render(root, "app", tight)
    rendered = await render(root, "app", RenderOptions(release_name="a", namespace="a"))
    assert len(rendered.manifests) == 10


async def test_objects_named_by_generate_name_render_each_one(tree) -> None:
    # Argo CD's hook examples: Jobs with only a prefix, two of them alike.
    job = """
    apiVersion: batch/v1
    kind: Job
    metadata:
      generateName: migrate-
      annotations: {argocd.argoproj.io/hook: PreSync}
    spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}
    """
    root = tree({"hooks.yaml": job + "---" + job})

    rendered = await render(root, ".", OPTIONS)

    assert subjects(rendered) == ["Job/migrate-*", "Job/migrate-*"]
