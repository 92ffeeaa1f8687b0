"""Turn a failed git command into the error a user can act on, without leaking secrets.

git and ssh say what went wrong only in words on stderr (in the C locale we force), so the
classification matches those words. The stderr quoted in a message is scrubbed first: known
secret values, anything after `Authorization:`/`Basic`/`Bearer`, passwords in URLs and private
key blocks are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gitmoor.errors import (
    RefNotFoundError,
    SourceAuthError,
    SourceError,
    SourceUnavailableError,
)

_REDACTED = "<redacted>"
_PATTERNS = (
    (re.compile(r"(?i)(authorization:\s*)[^\r\n]*"), r"\1" + _REDACTED),
    (re.compile(r"(?i)\b(basic|bearer|token)(\s+)[A-Za-z0-9+/=._~-]{6,}"), r"\1\2" + _REDACTED),
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@"), r"\1:" + _REDACTED + "@"),
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
        ),
        "<private key>",
    ),
)
_MAX_DETAIL = 400

_HOST_KEY = (
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "host key is known",
)
_TLS = (
    "server certificate verification failed",
    "SSL certificate problem",
    "certificate verify failed",
    "unable to get local issuer certificate",
    "self-signed certificate",
    "self signed certificate",
    "no alternative certificate subject name",
    "SSL: certificate subject name",
    "gnutls_handshake() failed",
    "SSL_connect",
    "TLS connect error",
)
_AUTH = (
    "Authentication failed for",
    "could not read Username",
    "could not read Password",
    "Permission denied (publickey",
    "Permission denied, please try again",
    "Too many authentication failures",
    "returned error: 401",
    "returned error: 403",
    "HTTP Basic: Access denied",
    "invalid credentials",
)
_BAD_KEY = ("Load key", "invalid format", "incorrect passphrase")
_NO_REPO = (
    "not found",
    "returned error: 404",
    "does not appear to be a git repository",
    "No such file or directory",
)
_NETWORK = (
    "Could not resolve host",
    "Could not resolve hostname",
    "Failed to connect",
    "Connection refused",
    "Connection timed out",
    "Connection reset",
    "Network is unreachable",
    "No route to host",
    "ssh: connect to host",
    "Empty reply from server",
)
# git's boilerplate after a failed remote command, which tells the user nothing.
_NOISE = ("Please make sure you have the correct access rights", "and the repository exists.")
_NO_REF = (
    "couldn't find remote ref",
    "not our ref",
    "no such remote ref",
    "unadvertised object",
    "Could not find remote branch",
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with secrets and anything shaped like a credential replaced."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def detail(stderr: str, secrets: Iterable[str] = ()) -> str:
    """The telling part of git's stderr, scrubbed, on one line: hints and blank lines dropped."""
    lines = [
        line.strip()
        for line in scrub(stderr, secrets).splitlines()
        if line.strip()
        and not line.lstrip().startswith("hint:")
        and not any(line.strip().startswith(n) for n in _NOISE)
    ]
    text = "; ".join(lines[-4:])
    return text if len(text) <= _MAX_DETAIL else "..." + text[-_MAX_DETAIL:]


def _has(text: str, markers: Iterable[str]) -> bool:
    return any(marker in text for marker in markers)


def classify(
    stderr: str, *, url: str, secrets: Iterable[str] = (), has_credentials: bool
) -> SourceError:
    """The error for a git command talking to `url` that failed with `stderr`;
    `has_credentials` tells whether a password, token or key was offered."""
    said = detail(stderr, secrets)
    suffix = f" (git: {said})" if said else ""
    if _has(stderr, _HOST_KEY):
        return SourceAuthError(
            f"host key verification failed for {url}: the server's host key is not in the "
            f"Secret's known_hosts, or it changed{suffix}",
            url=url,
        )
    if _has(stderr, _TLS):
        return tls_failed(url, suffix)
    if _has(stderr, _BAD_KEY):
        return SourceAuthError(
            f"authentication failed for {url}: the Secret's identity is not a usable private "
            f"key (passphrase-protected keys are not supported){suffix}",
            url=url,
        )
    if _has(stderr, _AUTH):
        return auth_refused(url, suffix, has_credentials=has_credentials)
    if _has(stderr, _NO_REF):
        return RefNotFoundError(f"the requested revision is not in {url}{suffix}", url=url)
    if _has(stderr, _NETWORK):
        return unreachable(url, suffix)
    if _has(stderr, _NO_REPO):
        return no_repository(url, suffix)
    return SourceUnavailableError(f"cannot fetch from {url}{suffix}", url=url)


# The messages, shared by the git command's failures and the in-process check's (`httpcheck`),
# so a condition reads the same whichever found it. `suffix` is " (git: ...)" or alike.


def tls_failed(url: str, suffix: str = "") -> SourceAuthError:
    return SourceAuthError(
        f"TLS certificate verification failed for {url}: the server's certificate is not "
        f"trusted (set caFile in the Secret for a private CA){suffix}",
        url=url,
    )


def auth_refused(url: str, suffix: str = "", *, has_credentials: bool) -> SourceAuthError:
    why = (
        "the server refused the credentials from the Secret"
        if has_credentials
        else "the server asks for credentials and none were given (set username and "
        "password, or bearerToken, in the Secret named by secretRef)"
    )
    return SourceAuthError(f"authentication failed for {url}: {why}{suffix}", url=url)


def unreachable(url: str, suffix: str = "") -> SourceUnavailableError:
    return SourceUnavailableError(f"cannot reach {url}{suffix}", url=url)


def no_repository(url: str, suffix: str = "") -> SourceUnavailableError:
    return SourceUnavailableError(f"no repository found at {url}{suffix}", url=url)
