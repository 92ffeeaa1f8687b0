from gitmoor.model import ObjectRef


def test_core_and_grouped_objects_get_their_group_from_api_version() -> None:
    cm = ObjectRef.from_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
    )
    deploy = ObjectRef.from_object(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b", "namespace": "n"}}
    )
    assert cm == ObjectRef("", "ConfigMap", "n", "a")
    assert deploy == ObjectRef("apps", "Deployment", "n", "b")


def test_subject_is_kind_namespace_name_and_drops_the_namespace_when_cluster_scoped() -> None:
    assert ObjectRef("apps", "Deployment", "prod", "web").subject == "Deployment/prod/web"
    assert ObjectRef("", "Namespace", "", "prod").subject == "Namespace/prod"
    assert str(ObjectRef("", "Namespace", "", "prod")) == "Namespace/prod"


def test_refs_sort_and_hash_as_values() -> None:
    a = ObjectRef("", "ConfigMap", "n", "a")
    b = ObjectRef("", "ConfigMap", "n", "b")
    assert sorted([b, a]) == [a, b]
    assert {a: 1}[ObjectRef("", "ConfigMap", "n", "a")] == 1
