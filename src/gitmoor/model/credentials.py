"""Credentials for a Git remote, as read from a Kubernetes Secret (the keys Flux uses)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields

# The keys follow Flux's GitRepository Secrets, so existing Secrets work unchanged.
SECRET_KEYS = ("username", "password", "bearerToken", "identity", "known_hosts", "caFile")


class InvalidSecretDataError(ValueError):
    """A Secret's value is not valid base64 (or not text where text is needed).

    The message names the key only: the value is a secret.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"secret key {key!r}: {problem}")
        self.key = key


@dataclass(frozen=True, repr=False)
class GitCredentials:
    """HTTPS basic auth or bearer token, an SSH key with its known_hosts, and a CA bundle.

    Every field is optional here; which ones a URL needs is decided where the URL is known.
    `repr()` shows which fields are set, never their values, so the object can be logged.
    """

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    identity: bytes | None = None
    known_hosts: bytes | None = None
    ca_file: bytes | None = None

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> GitCredentials:
        """Decode a Secret's base64 `data`; unknown keys are ignored, empty values are unset."""
        raw: dict[str, bytes] = {}
        for key in SECRET_KEYS:
            encoded = data.get(key)
            if not encoded:
                continue
            try:
                decoded = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidSecretDataError(key, "not valid base64") from None
            if decoded:
                raw[key] = decoded
        return cls(
            username=_text(raw, "username"),
            password=_text(raw, "password"),
            bearer_token=_text(raw, "bearerToken"),
            identity=raw.get("identity"),
            known_hosts=raw.get("known_hosts"),
            ca_file=raw.get("caFile"),
        )

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def secret_strings(self) -> tuple[str, ...]:
        """The values that must never appear in a message, for scrubbing."""
        return tuple(s for s in (self.password, self.bearer_token) if s)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}=<set>" for f in fields(self) if getattr(self, f.name) is not None
        )
        return f"GitCredentials({shown})"

    __str__ = __repr__


def _text(raw: dict[str, bytes], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSecretDataError(key, "not UTF-8 text") from None
    # Secrets made with `echo` carry a trailing newline that would break an HTTP header.
    return text.rstrip("\r\n") or None


@dataclass(frozen=True, repr=False)
class ChartCredentials:
    """Basic auth or a bearer token for a Helm repository, and a CA bundle (PEM).

    Read from a ChartSource's Secret: `username` + `password`, or `bearerToken` (also `token`),
    and `ca.crt` (also `caFile`). `repr()` names the fields set, never their values.
    """

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ca: bytes | None = None

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> ChartCredentials:
        raw: dict[str, bytes] = {}
        for key in ("username", "password", "bearerToken", "token", "ca.crt", "caFile"):
            encoded = data.get(key)
            if not encoded:
                continue
            try:
                decoded = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidSecretDataError(key, "not valid base64") from None
            if decoded:
                raw[key] = decoded
        username, password = _text(raw, "username"), _text(raw, "password")
        if (username is None) != (password is None):
            raise InvalidSecretDataError(
                "username" if username is None else "password",
                "missing: basic auth needs both username and password",
            )
        return cls(
            username=username,
            password=password,
            bearer_token=_text(raw, "bearerToken") or _text(raw, "token"),
            ca=raw.get("ca.crt") or raw.get("caFile"),
        )

    def secret_strings(self) -> tuple[str, ...]:
        """The values that must never appear in a message, for scrubbing."""
        return tuple(s for s in (self.password, self.bearer_token) if s)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}=<set>" for f in fields(self) if getattr(self, f.name) is not None
        )
        return f"ChartCredentials({shown})"

    __str__ = __repr__
