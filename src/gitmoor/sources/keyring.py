"""A throwaway keyring for one verification: the listed keys and nothing else.

Every check gets a private directory (0700) with its own GNUPGHOME holding only the OpenPGP keys
of the Secret, and an allowed-signers file holding only its SSH lines; git is pointed at both
through its environment, and the directory is removed when the check is done. Nothing of the
machine's or user's keyrings can vouch for a commit, and a key removed from the Secret is gone
at the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from gitmoor.errors import SourceConfigError, SourceUnavailableError
from gitmoor.model.signing import SigningKeys
from gitmoor.sources.environment import with_config, write_private
from gitmoor.sources.process import GitResult, GitTimeoutError, run_tool

# no-autostart: verifying needs neither gpg-agent nor dirmngr, and a daemon started here would
# outlive the directory it runs in. No key is ever fetched from a keyserver.
_GPG_CONF = b"no-autostart\nno-auto-key-retrieve\n"
_IMPORTED = "[GNUPG:] IMPORT_OK "
# Ultimate owner trust: a private keyring has no trust db, and a key the user listed is one they
# trust; without it gpg calls every signature of unknown validity (git's U).
_ULTIMATE = 6


@contextlib.asynccontextmanager
async def verifying_environment(
    keys: SigningKeys, *, base: Mapping[str, str], scratch: Path, deadline: float, url: str
) -> AsyncIterator[dict[str, str]]:
    """Yield the environment in which `git verify-*` trusts exactly `keys`."""
    home = await asyncio.to_thread(_private_home, scratch)
    try:
        env = dict(base)
        env["GNUPGHOME"] = str(home / "gnupg")
        fingerprints: list[str] = []
        for name, armored in keys.openpgp:
            found = await _import(home, env, armored, deadline, url)
            if not found:
                raise SourceConfigError(
                    f"Secret {keys.origin} key {name!r} holds no OpenPGP public key: expected "
                    "the output of `gpg --export --armor <fingerprint>`",
                    url=url,
                )
            fingerprints += found
        if fingerprints:
            trust = "".join(f"{fpr}:{_ULTIMATE}:\n" for fpr in dict.fromkeys(fingerprints))
            trusted = await _gpg(home, env, "--import-ownertrust", trust.encode(), deadline, url)
            if not trusted.ok:
                raise SourceUnavailableError(
                    f"gpg could not trust the keys of Secret {keys.origin} for {url}: "
                    f"{trusted.stderr.strip()[-300:]}",
                    url=url,
                )
        # git stops with a BUG when the file is missing, even for an OpenPGP signature.
        signers = await asyncio.to_thread(
            write_private, home / "allowed_signers", keys.allowed_signers
        )
        yield with_config(
            env,
            (
                ("gpg.program", "gpg"),
                ("gpg.ssh.program", "ssh-keygen"),
                ("gpg.ssh.allowedSignersFile", str(signers)),
                ("gpg.minTrustLevel", "fully"),
            ),
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, home, True)


def _private_home(scratch: Path) -> Path:
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="keys-", dir=scratch))  # 0700, like every mkdtemp
    gnupg = home / "gnupg"
    gnupg.mkdir(mode=0o700)
    write_private(gnupg / "gpg.conf", _GPG_CONF)
    return home


async def _import(
    home: Path, env: Mapping[str, str], armored: bytes, deadline: float, url: str
) -> list[str]:
    """Import one Secret key's armored keys; the fingerprints gpg imported."""
    result = await _gpg(home, env, "--import", armored, deadline, url)
    return [
        line.removeprefix(_IMPORTED).split()[-1]
        for line in result.text.splitlines()
        if line.startswith(_IMPORTED)
    ]


async def _gpg(
    home: Path, env: Mapping[str, str], command: str, content: bytes, deadline: float, url: str
) -> GitResult:
    """Run `gpg command FILE` on `content` written to a private file (status lines on stdout)."""
    path = home / "input"
    await asyncio.to_thread(write_private, path, content)
    try:
        result = await run_tool(
            "gpg",
            ["--batch", "--no-tty", "--status-fd", "1", command, str(path)],
            env=env,
            cwd=home,
            deadline=deadline,
        )
    except GitTimeoutError:
        raise SourceUnavailableError(f"gpg {command} timed out for {url}", url=url) from None
    finally:
        await asyncio.to_thread(path.unlink, True)
    return result
