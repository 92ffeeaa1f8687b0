"""What git said about a signature, as a verdict; which objects a verify mode checks.

Pure: the signatures themselves are checked by git (with gpg or ssh-keygen underneath); this
module only reads git's answer. A commit's comes from `git show --format=%G?...`, git's own
summary. A tag has no such format (the `signature` atoms of for-each-ref are for commits, and
newer than our git), so its verdict is read from `git verify-tag --raw`: gpg's status lines
(gnupg's doc/DETAILS) or ssh-keygen's first line, with git's exit status deciding.

Letters are git's `%G?`: G good, U good but of unknown validity, X good but expired, Y good by
an expired key, R good by a revoked key, E cannot be checked (no such key), N no signature,
B bad. Only G counts. The keyring gitmoor builds holds nothing but the listed OpenPGP keys,
each with ultimate owner trust, so a listed key gives G; git reports U for an SSH key missing
from allowed_signers, and so U is refused like an unknown key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmoor.errors import SourceVerificationError
from gitmoor.model import Signature
from gitmoor.model.resources import VerifyMode
from gitmoor.sources.remote import Target

# The object's signature as git sees it: grade, signing key's fingerprint, the primary key's
# fingerprint (OpenPGP only), the key id, and the signer (user id or SSH principal).
COMMIT_FORMAT = "%G?%x00%GF%x00%GP%x00%GK%x00%GS"
ACCEPTED = "G"

_VERDICTS = {
    "G": ("Verified", "is signed by a listed key"),
    "U": ("UnknownKey", "is signed by a key the Secret does not list"),
    "X": ("ExpiredSignature", "has a signature that has expired"),
    "Y": ("ExpiredKey", "is signed by a key that has expired"),
    "R": ("RevokedKey", "is signed by a revoked key"),
    "E": ("UnknownKey", "is signed by a key the Secret does not list (or cannot be checked)"),
    "N": ("Unsigned", "is not signed"),
    "B": ("BadSignature", "has a bad signature (changed after it was signed?)"),
}
# gpg's status keywords, in the precedence git gives them, and the letter each means.
_GPG_STATUS = (
    ("BADSIG", "B"),
    ("EXPKEYSIG", "Y"),
    ("REVKEYSIG", "R"),
    ("EXPSIG", "X"),
    ("ERRSIG", "E"),
    ("GOODSIG", "G"),
)
_SSH_GOOD = re.compile(
    r'^Good "git" signature (?:for (?P<principal>.+) )?with \S+ key (?P<fpr>\S+)'
)


@dataclass(frozen=True)
class Check:
    """git's verdict on one signed object. `key` is what identifies the signing key when
    nothing better is known (an OpenPGP key id); `fingerprint` the primary key's when known."""

    grade: str
    fingerprint: str = ""
    key: str = ""
    signer: str = ""

    @property
    def ok(self) -> bool:
        return self.grade == ACCEPTED and bool(self.fingerprint)

    @property
    def verdict(self) -> str:
        return _VERDICTS.get(self.grade, ("CannotCheck", ""))[0]

    @property
    def identity(self) -> str | None:
        """The signing key as well as it is known: fingerprint, else key id; None unsigned."""
        return self.fingerprint or self.key or None


def parse_commit_check(output: str) -> Check:
    """Read `git show -s --format=COMMIT_FORMAT`."""
    fields = output.rstrip("\n").split("\x00")
    if len(fields) != 5 or len(fields[0]) != 1:
        return Check("E")
    grade, fingerprint, primary, key, signer = fields
    return Check(grade, primary or fingerprint, key, signer)


def parse_tag_check(returncode: int, output: str) -> Check:
    """Read `git verify-tag --raw` (its stderr) and its exit status.

    With `gpg.minTrustLevel=fully` git exits 0 only for a good signature by a trusted key, so
    a G is never read from output alone: a zero exit is required too.
    """
    lines = output.splitlines()
    ssh = next((m for line in lines if (m := _SSH_GOOD.match(line))), None)
    if ssh is not None:
        principal = ssh.group("principal")
        grade = "G" if returncode == 0 and principal else "U"
        return Check(grade, ssh.group("fpr"), ssh.group("fpr"), principal or "")
    status = {
        words[1]: words[2:]
        for line in lines
        if line.startswith("[GNUPG:] ") and len(words := line.split()) > 1
    }
    for keyword, grade in _GPG_STATUS:
        if keyword not in status:
            continue
        args = status[keyword]
        key = args[0] if args else ""
        valid = status.get("VALIDSIG", [])
        if grade == "G":
            # VALIDSIG's last field is the primary key's fingerprint, its first the subkey's.
            fingerprint = valid[-1] if len(valid) >= 10 else (valid[0] if valid else "")
            signer = " ".join(args[1:])
            return Check("G" if returncode == 0 else "U", fingerprint, key, signer)
        fingerprint = args[6] if keyword == "ERRSIG" and len(args) > 6 else ""
        return Check(grade, fingerprint, key, " ".join(args[1:]) if keyword != "ERRSIG" else "")
    if any("no signature found" in line for line in lines):
        return Check("N")
    # A verifier that said something and failed found the signature bad; git failing on its
    # own (fatal:, error:) or saying nothing leaves the signature unchecked.
    failed = returncode != 0 and lines
    if failed and not any(line.startswith(("fatal:", "error:")) for line in lines):
        return Check("B")
    return Check("E")


def objects_to_check(mode: VerifyMode, target: Target) -> tuple[tuple[str, str], ...]:
    """(kind, sha) of each object whose signature `mode` requires, tag first."""
    objects: list[tuple[str, str]] = []
    if mode in ("tag", "tagAndHead"):
        objects.append(("tag", target.tag or ""))
    if mode in ("head", "tagAndHead"):
        objects.append(("commit", target.sha))
    return tuple(objects)


def signature_of(kind: str, sha: str, check: Check) -> Signature:
    return Signature(kind, sha, check.fingerprint, check.signer)


def refusal(
    check: Check, *, kind: str, sha: str, target: Target, url: str, origin: str
) -> SourceVerificationError:
    """The error for an object whose check failed: what, whose key, and what to do."""
    _, said = _VERDICTS.get(check.grade, ("", "could not be checked"))
    hint = "sign it with a key in the Secret, or add its public key there"
    if kind == "commit":
        what = f"commit {sha} of {url} {said}"
    else:
        name = (target.ref or "").removeprefix("refs/tags/")
        what = f"tag {name} ({sha[:12]}) of {url}, at commit {target.sha}, {said}"
        if not sha:
            check = Check("N")
            what = f"tag {name} of {url}, at commit {target.sha}, is a lightweight tag"
            hint = "verify.mode tag needs an annotated tag signed by a key in the Secret"
    by = check.identity
    signed_by = f" (key {by}{f', {check.signer}' if check.signer else ''})" if by else ""
    return SourceVerificationError(
        f"{what}{signed_by}: refused by spec.verify (keys from Secret {origin}); {hint}",
        url=url,
        signed=kind,
        sha=sha or target.sha,
        commit=target.sha,
        signer=by,
        verdict=check.verdict,
    )
