"""A token service for the test registry: docker-registry's `auth: token` sends clients here
with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; this answers GET /token with
a JWT (ES256, its certificate chain in `x5c`, issued by the test CA the registry trusts as
`rootcertbundle`) granting what the Basic-authenticated user may do on the scope asked for.

Users: `username` may pull anything; `reader` may pull only repositories below `public/`
(asked for more, it gets a token without that access, and the registry refuses the request,
as a real registry refuses a user without the right).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from testenv.pki import CertificateAuthority

SERVICE = "gitmoor-test-registry"
ISSUER = "gitmoor-test-tokens"
LOOPBACK = "127.0.0.1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """HTTPS on loopback in a thread of the test process; see the module doc."""

    def __init__(self, ca: CertificateAuthority, username: str, password: str) -> None:
        self.ca = ca
        self.users = {username: password}
        self.full = username
        self.reader = "reader"
        self.reader_password = secrets.token_urlsafe(12)
        self.users[self.reader] = self.reader_password
        self.requests: list[str] = []  # "GET /token?... 200"
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        signing = ca.issue("token-signing", ISSUER, server=True)
        self._key = serialization.load_pem_private_key(signing.key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(signing.cert.read_bytes())
        self._x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]

    @property
    def realm(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/token"

    @property
    def root_bundle(self) -> Path:
        return self.ca.cert_path

    def start(self) -> TokenService:
        serving = self.ca.issue("token-service", "localhost", hosts=(LOOPBACK,), server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(serving.cert, serving.key)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = service.answer(self.path, self.headers.get("Authorization", ""))
                service.requests.append(f"GET {self.path} {status}")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- tokens ------------------------------------------------------------------------------
    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        user = self._user(authorization)
        if user is None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
        query = parse_qs(urlsplit(path).query)
        if query.get("service", [""])[0] != SERVICE:
            return 400, {"errors": [{"code": "DENIED", "message": "unknown service"}]}
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = [a for a in actions.split(",") if self._may(user, name, a)]
            access.append({"type": kind, "name": name, "actions": allowed})
        token = self.issue(user, access)
        return 200, {"token": token, "access_token": token, "expires_in": 300}

    def issue(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": self._x5c}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def push_authorization(self, repository: str) -> str:
        """What the test's pusher sends: a token for pull and push on `repository`."""
        access = [{"type": "repository", "name": repository, "actions": ["pull", "push"]}]
        return f"Bearer {self.issue(self.full, access)}"

    def _user(self, authorization: str) -> str | None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        expected = self.users.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return None
        return user

    def _may(self, user: str, repository: str, action: str) -> bool:
        if action != "pull":
            return False
        return user == self.full or repository.startswith("public/")
