"""The only code that talks to the Kubernetes API.

Objects stay plain dicts parsed with orjson: the generated model classes cost 10-40x more to
deserialise and add nothing to an agent that only moves manifests around.
"""

from gitmoor.kube.client import FIELD_MANAGER, Kube, RawAnswer, Resource, WatchEvent

__all__ = ["FIELD_MANAGER", "Kube", "RawAnswer", "Resource", "WatchEvent"]
