"""Real signing keys for test commits and tags: an OpenPGP key in a throwaway GNUPGHOME (no
passphrase) or an SSH ed25519 key, used by `Worktree.commit(..., signer=)` through git itself.

`public` is what a user would put in the verification Secret: `gpg --export --armor` output,
or an allowed-signers line. `stop()` ends the gpg-agent that signing started.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_TIMEOUT = 60


@dataclass(frozen=True)
class Signer:
    kind: str  # "openpgp" or "ssh"
    fingerprint: str  # as git reports it: the primary key's hex fingerprint, or SHA256:...
    public: str
    config: tuple[tuple[str, str], ...]
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if "GNUPGHOME" in self.env:
            subprocess.run(
                ["gpgconf", "--kill", "all"],
                env={**os.environ, **self.env},
                capture_output=True,
                check=False,
                timeout=_TIMEOUT,
            )


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=_TIMEOUT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def openpgp_signer(directory: Path, name: str, email: str) -> Signer:
    """A new ed25519 OpenPGP signing key, alone in its own GNUPGHOME."""
    home = directory / "gnupg"
    home.mkdir(mode=0o700, parents=True)
    env = {"GNUPGHOME": str(home)}
    _run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            f"{name} <{email}>",
            "ed25519",
            "sign",
            "never",
        ],
        env,
    )
    listing = _run(["gpg", "--batch", "--with-colons", "--list-keys"], env)
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    public = _run(["gpg", "--batch", "--export", "--armor", fingerprint], env)
    config = (("gpg.format", "openpgp"), ("user.signingkey", fingerprint))
    return Signer("openpgp", fingerprint, public, config, env)


def ssh_signer(directory: Path, principal: str) -> Signer:
    """A new ed25519 SSH key; `public` is its allowed-signers line for `principal`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(key)])
    pub = Path(f"{key}.pub").read_text(encoding="utf-8").split()
    fingerprint = _run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)]).split()[1]
    config = (("gpg.format", "ssh"), ("user.signingkey", str(key)))
    return Signer("ssh", fingerprint, f"{principal} {pub[0]} {pub[1]}\n", config)
