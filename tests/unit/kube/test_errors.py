"""How API error statuses map onto the retry decision."""

import orjson
import pytest

from gitmoor.errors import (
    KubeNotFoundError,
    KubePermanentError,
    KubeTransientError,
    NamespaceNotFoundError,
    PermanentError,
    TransientError,
)
from gitmoor.kube.client import Resource, _api_error, _come_back_in
from gitmoor.model import ObjectRef

REF = ObjectRef("apps", "Deployment", "prod", "web")


def _status(code: int, message: str, reason: str) -> bytes:
    return orjson.dumps({"kind": "Status", "code": code, "message": message, "reason": reason})


@pytest.mark.parametrize("code", [429, 500, 503, 504])
def test_throttling_and_server_errors_are_transient(code: int) -> None:
    err = _api_error(
        "PATCH",
        "/apis/x",
        code,
        _status(code, "busy", "TooManyRequests"),
        {"Retry-After": "3"},
        REF,
    )
    assert isinstance(err, KubeTransientError)
    assert isinstance(err, TransientError)
    assert err.retry_after == 3.0


def test_invalid_object_is_permanent_and_names_object_field_and_status() -> None:
    message = 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1'
    err = _api_error("PATCH", "/apis/x", 422, _status(422, message, "Invalid"), {}, REF)
    assert isinstance(err, KubePermanentError)
    assert isinstance(err, PermanentError)
    assert not isinstance(err, TransientError)
    assert str(err).startswith("Deployment/prod/web: ")
    assert "spec.replicas" in str(err)
    assert "HTTP 422, Invalid" in str(err)
    assert err.ref == REF


def test_not_found_has_its_own_type() -> None:
    err = _api_error("GET", "/api/v1/x", 404, _status(404, "not found", "NotFound"), {}, None)
    assert isinstance(err, KubeNotFoundError)
    assert "GET /api/v1/x" in str(err)


def test_a_body_that_is_not_json_still_gives_a_readable_message() -> None:
    err = _api_error("GET", "/healthz?x=1", 502, b"<html>bad gateway</html>", {}, None)
    assert isinstance(err, KubeTransientError)
    assert "bad gateway" in str(err)
    assert "?x=1" not in str(err)


def test_resource_paths_for_core_grouped_namespaced_and_cluster_scoped_kinds() -> None:
    cm = Resource("", "v1", "ConfigMap", "configmaps", namespaced=True)
    crd = Resource(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
    )
    assert cm.path("ns", "a") == "/api/v1/namespaces/ns/configmaps/a"
    assert cm.path() == "/api/v1/configmaps"
    assert (
        crd.path("ignored", "x.y") == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y"
    )
    assert crd.api_version == "apiextensions.k8s.io/v1"


def _missing_namespace(name: str) -> bytes:
    return orjson.dumps(
        {
            "kind": "Status",
            "code": 404,
            "reason": "NotFound",
            "message": f'namespaces "{name}" not found',
            "details": {"name": name, "kind": "namespaces"},
        }
    )


def test_an_object_whose_namespace_does_not_exist_names_the_namespace() -> None:
    err = _api_error("PATCH", "/apis/apps/v1/x", 404, _missing_namespace("prod"), {}, REF)
    assert isinstance(err, NamespaceNotFoundError)
    assert isinstance(err, KubeNotFoundError)  # still a 404 to whoever only reads that
    assert err.namespace == "prod"
    assert err.ref == REF


def test_a_missing_namespace_of_another_name_is_only_not_found() -> None:
    # A Namespace object read by name: it is what is missing, not its namespace.
    ns = ObjectRef("", "Namespace", "", "prod")
    err = _api_error("GET", "/api/v1/namespaces/prod", 404, _missing_namespace("prod"), {}, ns)
    assert isinstance(err, KubeNotFoundError)
    assert not isinstance(err, NamespaceNotFoundError)
    other = _api_error("PATCH", "/apis/x", 404, _missing_namespace("staging"), {}, REF)
    assert not isinstance(other, NamespaceNotFoundError)


def _told(code: int, retry_after: str | None) -> KubeTransientError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    err = _api_error("GET", "/apis/x", code, _status(code, "wait", "TooManyRequests"), headers, REF)
    assert isinstance(err, KubeTransientError)
    return err


@pytest.mark.parametrize(
    ("why", "code", "retry_after", "waited", "pause"),
    [
        ("storage starting: come back in 1 s", 429, "1", 0.0, 1.0),
        ("a longer Retry-After is waited 1 s at a time", 429, "5", 0.0, 1.0),
        ("Retry-After 0: a short pause, not a spin", 429, "0", 0.0, 0.1),
        ("the last of the budget", 429, "1", 9.5, 0.5),
        ("the budget spent: the error goes up", 429, "1", 10.0, None),
        ("a 429 that does not say when: the caller's backoff decides", 429, None, 0.0, None),
        ("a 503 is the caller's to retry", 503, "1", 0.0, None),
    ],
)
def test_when_to_ask_again_after_being_told_to_come_back(
    why: str, code: int, retry_after: str | None, waited: float, pause: float | None
) -> None:
    assert _come_back_in(_told(code, retry_after), waited) == pause, why
