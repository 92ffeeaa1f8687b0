"""Which transport a GitSource URL uses, and how to show it in messages."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# `host:path`; not `transport::address`, which git reads as a remote helper to run.
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//|:)(?P<path>.+)$"
)


class Transport(enum.StrEnum):
    HTTPS = "https"
    HTTP = "http"
    SSH = "ssh"
    FILE = "file"


class UnsupportedUrlError(ValueError):
    """The URL is not one gitmoor fetches from; the message never repeats a password."""


@dataclass(frozen=True)
class RemoteUrl:
    """A remote's URL as git gets it (`url`), its transport, and `display`, safe for messages."""

    url: str
    transport: Transport

    @property
    def display(self) -> str:
        return self.url


def parse_remote_url(url: str) -> RemoteUrl:
    text = url.strip()
    if not text or text.startswith("-"):
        raise UnsupportedUrlError("url is empty or starts with '-'")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        raise UnsupportedUrlError("url contains whitespace or control characters")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("https", "http", "ssh", "file"):
        parts = urlsplit(text)
        userinfo = parts.netloc.rpartition("@")[0]
        # A user name is fine in ssh URLs (git@host); a password is a secret in any URL.
        if ":" in userinfo or (scheme in ("https", "http") and userinfo):
            raise UnsupportedUrlError(
                f"{scheme} url must not carry credentials: put them in the Secret (secretRef)"
            )
        if scheme != "file" and not parts.hostname:
            raise UnsupportedUrlError(f"{scheme} url has no host")
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise UnsupportedUrlError("file url needs an absolute path (file:///path/to/repo)")
        return RemoteUrl(text, Transport(scheme))
    if scheme:
        raise UnsupportedUrlError(
            f"unsupported url scheme {scheme!r}: expected https, http, ssh, file or git@host:path"
        )
    if _SCP_LIKE.match(text):
        return RemoteUrl(text, Transport.SSH)
    raise UnsupportedUrlError(
        "url is not https://, http://, ssh://, file:// or scp-like (git@host:org/repo)"
    )
