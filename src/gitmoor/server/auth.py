"""Bearer tokens for `/metrics`, read from a file: in a cluster, a key of a Secret mounted as a
volume. One token per line; several while one is being rotated. The file is read again when it
changes (the kubelet updates a mounted Secret in place), so a rotation needs no restart.
"""

from __future__ import annotations

import hmac
from pathlib import Path

SCHEME = "Bearer "


class TokenFileError(ValueError):
    """The token file cannot be used; the message names it and says why."""


class BearerTokens:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._tokens: tuple[bytes, ...] = ()

    def load(self) -> tuple[bytes, ...]:
        """The tokens as the file has them now; raises TokenFileError when it is unreadable or
        holds none (an empty file must not mean "anyone")."""
        try:
            stat = self._path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                raw = self._path.read_bytes()
                self._tokens = tuple(t.strip() for t in raw.splitlines() if t.strip())
                self._stamp = stamp
        except OSError as problem:
            raise TokenFileError(
                f"metrics token file {self._path}: {problem.strerror or problem}; mount the "
                "Secret key there or change --metrics-token-file"
            ) from None
        if not self._tokens:
            raise TokenFileError(
                f"metrics token file {self._path} holds no token: write one a line"
            )
        return self._tokens

    def allows(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header carries one of the tokens (constant-time)."""
        tokens = self.load()
        if not authorization or not authorization.startswith(SCHEME):
            return False
        given = authorization[len(SCHEME) :].strip().encode("utf-8", "replace")
        # Compared with every token, so the time taken does not tell which one came close.
        return sum(hmac.compare_digest(t, given) for t in tokens) > 0
