"""The SOPS keys of a Sync's `spec.decryption`, read from its Secret at each use (a rotated key
is used at once), with the agent's identity: a tenant's ServiceAccount needs no Secrets."""

from __future__ import annotations

import base64

from gitmoor.errors import DecryptionKeysError, NotReadyError
from gitmoor.kube import Kube
from gitmoor.model.resources import Sync
from gitmoor.render import Keys


async def decryption_keys(kube: Kube, sync: Sync) -> Keys | None:
    decryption = sync.spec.decryption
    if decryption is None:
        return None
    ns, name = sync.metadata.namespace, decryption.secret_ref.name
    secret = await kube.get("v1", "Secret", name, ns)
    if secret is None:
        raise NotReadyError(
            "DecryptionSecretNotFound", f"Secret {ns}/{name} named in spec.decryption not found"
        )
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    try:
        return Keys.from_secret(data)
    except ValueError as err:
        raise DecryptionKeysError(f"Secret {ns}/{name} of spec.decryption {err}") from None
