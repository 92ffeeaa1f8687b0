"""The keys a GitSource trusts to sign its revisions, as read from the Secret in spec.verify.

A Secret key ending in `.asc` holds armored OpenPGP public keys (`gpg --export --armor`, one or
several); the key `allowed_signers`, and any ending in `.allowed_signers`, hold SSH
allowed-signers lines (`principal key-type base64-key`). Other keys are ignored, so one Secret
can serve several purposes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from gitmoor.model.credentials import InvalidSecretDataError

OPENPGP_SUFFIX = ".asc"
ALLOWED_SIGNERS = "allowed_signers"


class NoSigningKeysError(ValueError):
    """The Secret holds no key of either kind: nothing could ever verify."""


@dataclass(frozen=True)
class SigningKeys:
    """Public keys: not secret, but they decide what may deploy. `origin` names the Secret
    (`namespace/name`) for messages; `openpgp` pairs each Secret key with its armored keys."""

    origin: str
    openpgp: tuple[tuple[str, bytes], ...] = ()
    allowed_signers: bytes = b""

    @classmethod
    def from_secret_data(cls, data: dict[str, str], *, origin: str) -> SigningKeys:
        openpgp: list[tuple[str, bytes]] = []
        signers: list[bytes] = []
        for name in sorted(data):
            is_openpgp = name.endswith(OPENPGP_SUFFIX)
            is_ssh = name == ALLOWED_SIGNERS or name.endswith(f".{ALLOWED_SIGNERS}")
            if not (is_openpgp or is_ssh):
                continue
            try:
                value = base64.b64decode(data[name] or "", validate=True)
            except (binascii.Error, ValueError):
                raise InvalidSecretDataError(name, "not valid base64") from None
            if not value.strip():
                continue
            if is_openpgp:
                openpgp.append((name, value))
            else:
                signers.append(value if value.endswith(b"\n") else value + b"\n")
        if not openpgp and not signers:
            raise NoSigningKeysError(
                f"Secret {origin} has no key ending in {OPENPGP_SUFFIX} (armored OpenPGP public "
                f"keys) and no {ALLOWED_SIGNERS} key (SSH allowed signers): nothing could verify"
            )
        return cls(origin, tuple(openpgp), b"".join(signers))

    @property
    def digest(self) -> str:
        """Changes whenever a key is added, removed or replaced: verdicts are cached under it."""
        hashed = hashlib.sha256()
        for name, value in self.openpgp:
            hashed.update(b"openpgp\0%s\0%d\0" % (name.encode(), len(value)))
            hashed.update(value)
        hashed.update(b"ssh\0")
        hashed.update(self.allowed_signers)
        return hashed.hexdigest()
