"""Judging a revision's signatures: git checks each object in a keyring of exactly the listed
keys, and the verdicts are remembered by object and keys digest, so an unchanged head is judged
once and again only when the keys change. What git says is read by `signatures`."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from gitmoor.model import Signature
from gitmoor.model.signing import SigningKeys
from gitmoor.sources.keyring import verifying_environment
from gitmoor.sources.process import GitResult
from gitmoor.sources.remote import Target
from gitmoor.sources.signatures import (
    COMMIT_FORMAT,
    Check,
    parse_commit_check,
    parse_tag_check,
    refusal,
    signature_of,
)

log = logging.getLogger(__name__)

# A few verdicts per source is all an agent needs; the oldest are forgotten first.
_KEPT = 1024


class RunGit(Protocol):
    """Run git in the repository holding the objects, in `env`; `check`: a failure raises."""

    def __call__(
        self, label: str, args: list[str], *, env: Mapping[str, str], check: bool
    ) -> Awaitable[GitResult]: ...


class Verdicts:
    def __init__(self) -> None:
        self._known: OrderedDict[tuple[str, str], Check] = OrderedDict()

    def get(self, sha: str, keys: SigningKeys) -> Check | None:
        found = self._known.get((sha, keys.digest))
        if found is not None:
            self._known.move_to_end((sha, keys.digest))
        return found

    def missing(
        self, objects: Sequence[tuple[str, str]], keys: SigningKeys
    ) -> list[tuple[str, str]]:
        """The (kind, sha) of `objects` not judged under `keys` yet (a lightweight tag, with no
        sha, has nothing to judge)."""
        return [(kind, sha) for kind, sha in objects if sha and self.get(sha, keys) is None]

    async def judge(
        self,
        objects: Sequence[tuple[str, str]],
        keys: SigningKeys,
        run: RunGit,
        *,
        base: Mapping[str, str],
        scratch: Path,
        deadline: float,
        url: str,
    ) -> None:
        """Have git judge each object not judged yet, in one keyring of exactly `keys`."""
        pending = self.missing(objects, keys)
        if not pending:
            return
        async with verifying_environment(
            keys, base=base, scratch=scratch, deadline=deadline, url=url
        ) as env:
            for kind, sha in pending:
                if kind == "tag":
                    result = await run(
                        "verify-tag", ["verify-tag", "--raw", sha], env=env, check=False
                    )
                    check = parse_tag_check(result.returncode, result.stderr)
                else:
                    show = ["show", "-s", "--no-color", f"--format={COMMIT_FORMAT}", sha]
                    result = await run("verify-commit", show, env=env, check=True)
                    check = parse_commit_check(result.text)
                log.debug("%s %s of %s: signature %s", kind, sha, url, check.grade)
                self._known[(sha, keys.digest)] = check
        while len(self._known) > _KEPT:
            self._known.popitem(last=False)

    def required(
        self,
        objects: Sequence[tuple[str, str]],
        keys: SigningKeys,
        *,
        target: Target,
        url: str,
    ) -> tuple[Signature, ...]:
        """The signatures of `objects`, all judged good; else SourceVerificationError for the
        first that is not (unjudged counts as not)."""
        signatures: list[Signature] = []
        for kind, sha in objects:
            check = (self.get(sha, keys) if sha else None) or Check("N" if not sha else "E")
            if not check.ok:
                raise refusal(check, kind=kind, sha=sha, target=target, url=url, origin=keys.origin)
            signatures.append(signature_of(kind, sha, check))
        return tuple(signatures)
