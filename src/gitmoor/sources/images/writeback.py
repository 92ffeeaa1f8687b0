"""Write what image policies chose into a configuration repository: one commit, pushed.

A fresh shallow clone of the branch to push (or, when that branch does not exist yet, of the
checkout branch) in a private directory; the markers under the update path are planned
(`markers.plan`) and, when anything changes, the files are replaced whole (written aside,
renamed) and committed with the real `git` as the given author, signed when a key is given;
then pushed with the GitSource's credentials (through the environment, never argv). A push
refused because the branch moved is fetched and planned again on the new head (at most
`_ATTEMPTS` times); any other refusal raises with nothing pushed. Nothing changes: no commit.
A marker naming a policy that does not exist stops the run before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from gitmoor.errors import (
    MarkerPolicyNotFoundError,
    PushRefusedError,
    SigningKeyError,
    SourceUnavailableError,
)
from gitmoor.model.credentials import GitCredentials
from gitmoor.sources.diagnose import classify, detail, scrub
from gitmoor.sources.environment import (
    base_environment,
    remote_environment,
    with_config,
    write_private,
)
from gitmoor.sources.images.markers import Change, Image, Plan, find, plan
from gitmoor.sources.process import GitResult, GitTimeoutError, run_git, run_tool
from gitmoor.sources.urls import parse_remote_url

_ATTEMPTS = 4  # pushes tried when the branch keeps moving under us
_YAML = (".yaml", ".yml")
_MAX_FILES = 20_000
# The branch moved between our fetch and our push: seen by the client (rejected, fetch first)
# or by the server when it updates the ref (cannot lock ref: is at X but expected Y).
_MOVED = (
    "[rejected]",
    "fetch first",
    "non-fast-forward",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
)
_HOOK = ("pre-receive hook declined", "hook declined", "protected branch", "[remote rejected]")


@dataclass(frozen=True)
class SigningMaterial:
    """A private key to sign commits with: OpenPGP (armored) or an OpenSSH key."""

    kind: str  # "openpgp" | "ssh"
    key: bytes  # without a passphrase

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes], origin: str) -> SigningMaterial:
        if data.get("git.asc"):
            return cls("openpgp", data["git.asc"])
        for name in ("identity", "ssh-privatekey"):
            if data.get(name):
                key = data[name] if data[name].endswith(b"\n") else data[name] + b"\n"
                return cls("ssh", key)
        raise SigningKeyError(
            f"Secret {origin} (signingKey.secretRef) has neither git.asc (an armored OpenPGP "
            "private key) nor identity (an OpenSSH private key)",
            url="",
        )

    def __repr__(self) -> str:
        return f"SigningMaterial({self.kind})"


@dataclass(frozen=True)
class Request:
    url: str
    credentials: GitCredentials | None
    checkout: str
    push: str
    path: str
    images: Mapping[str, Image | None]  # ns/name -> choice, for every existing policy
    namespace: str  # of the automation: markers without a namespace mean it
    author_name: str
    author_email: str
    message_template: str
    automation: str  # ns/name
    signing: SigningMaterial | None = None
    timeout: float = 120.0


@dataclass(frozen=True)
class Outcome:
    """What a run did: `commit` None when nothing changed (`head` is what was looked at)."""

    head: str
    commit: str | None
    branch: str
    changes: tuple[Change, ...]
    pushed_at: datetime | None
    seen: frozenset[str]  # policies some marker under the path names
    # Markers in files the update path does not cover (`file:line (ns/policy)`): left alone.
    outside: tuple[str, ...] = ()


def message(template: str, changes: tuple[Change, ...], automation: str) -> str:
    """The commit message: the template with {{ .Changes }}, {{ .AutomationObject }} and
    {{ .Policies }} filled in, or the default (a subject naming the new values, one line per
    change)."""
    lines = "\n".join(
        f"- {c.file}:{c.line} {c.policy} ({c.field}): {c.old} -> {c.new}" for c in changes
    )
    policies = "\n".join(
        f"- {p}: {n}"
        for p, n in sorted({(c.policy, c.new) for c in changes if c.field in ("image", "tag")})
    )
    if not template.strip():
        news = sorted({c.new for c in changes if c.field in ("image", "tag")}) or sorted(
            {c.new for c in changes}
        )
        subject = "Update images to " + ", ".join(news)
        if len(subject) > 72:
            subject = f"Update {len(changes)} image fields"
        return f"{subject}\n\nAutomation: {automation}\n{lines}\n"
    values = {"Changes": lines, "AutomationObject": automation, "Policies": policies}
    out = re.sub(
        r"\{\{\s*\.(Changes|AutomationObject|Policies)\s*\}\}",
        lambda m: values[m.group(1)],
        template,
    )
    return out if out.endswith("\n") else out + "\n"


class Writer:
    """Runs write-backs in private directories under `scratch`."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    async def run(self, request: Request) -> Outcome:
        deadline = asyncio.get_running_loop().time() + request.timeout
        async with self._workdir() as work:
            home = work / "home"
            home.mkdir()
            base = base_environment(home)
            repo = work / "repo"
            repo.mkdir()
            git = _Git(request, base, work, deadline)
            await git.local(["init", "-q", "-b", request.push], repo)
            await git.local(["remote", "add", "origin", request.url], repo)
            for attempt in range(_ATTEMPTS):
                head = await git.start(repo)
                files, others = await asyncio.to_thread(_read_files, repo, request.path)
                planned = plan(files, request.images, namespace=request.namespace)
                outside = _markers_in(others, request.namespace)
                if planned.problems:
                    listed = tuple(f"{p.where}: {p.message}" for p in planned.problems)
                    raise MarkerPolicyNotFoundError(
                        "markers under the update path cannot be served, nothing was "
                        "written: " + "; ".join(listed[:5]),
                        url=parse_remote_url(request.url).display,
                        markers=listed,
                    )
                if not planned.changes:
                    return Outcome(head, None, request.push, (), None, planned.seen, outside)
                await asyncio.to_thread(_write_files, repo, planned)
                commit = await git.commit(repo, planned, head)
                # Taken before the push: what follows it (a Sync applying the commit) is later.
                pushing = datetime.now(UTC)
                if await git.push(repo, commit, last=attempt == _ATTEMPTS - 1):
                    return Outcome(
                        head,
                        commit,
                        request.push,
                        planned.changes,
                        pushing,
                        planned.seen,
                        outside,
                    )
            raise AssertionError("unreachable: the last push raises")

    @contextlib.asynccontextmanager
    async def _workdir(self) -> AsyncIterator[Path]:
        await asyncio.to_thread(self.scratch.mkdir, mode=0o700, parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="update-", dir=self.scratch))
        try:
            yield work
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)


class _Git:
    def __init__(self, request: Request, base: dict[str, str], work: Path, deadline: float) -> None:
        self.request = request
        self.base = base
        self.work = work
        self.deadline = deadline
        self.remote = parse_remote_url(request.url)

    async def local(
        self, args: list[str], cwd: Path, env: Mapping[str, str] | None = None
    ) -> GitResult:
        result = await self._run(args, cwd, env or self.base)
        if not result.ok:
            raise SourceUnavailableError(
                f"git {args[0]} failed for {self.remote.display}: {detail(result.stderr)}",
                url=self.remote.display,
            )
        return result

    async def _run(self, args: list[str], cwd: Path, env: Mapping[str, str]) -> GitResult:
        try:
            return await run_git(args, env=env, cwd=cwd, deadline=self.deadline)
        except GitTimeoutError:
            raise SourceUnavailableError(
                f"git {args[0]} for {self.remote.display} timed out", url=self.remote.display
            ) from None

    async def remote_git(self, args: list[str], cwd: Path) -> tuple[GitResult, tuple[str, ...]]:
        with remote_environment(
            self.remote,
            self.request.credentials,
            base=self.base,
            scratch=self.work / "auth",
            connect_timeout=min(30.0, self.request.timeout),
        ) as running:
            return await self._run(args, cwd, running.env), running.secrets

    def _fail(self, result: GitResult, secrets: tuple[str, ...]) -> Exception:
        credentials = self.request.credentials
        return classify(
            result.stderr,
            url=self.remote.display,
            secrets=secrets,
            has_credentials=credentials is not None and not credentials.is_empty,
        )

    async def start(self, repo: Path) -> str:
        """Fetch the push branch (else the checkout branch) and check it out: its sha."""
        request = self.request
        for branch in dict.fromkeys((request.push, request.checkout)):
            result, secrets = await self.remote_git(
                ["fetch", "-q", "--depth", "1", "origin", f"refs/heads/{branch}"], repo
            )
            if result.ok:
                break
            if "couldn't find remote ref" not in result.stderr:
                raise self._fail(result, secrets)
        else:
            raise self._fail(result, secrets)
        await self.local(["checkout", "-q", "-B", request.push, "FETCH_HEAD"], repo)
        return (await self.local(["rev-parse", "HEAD"], repo)).text.strip()

    async def commit(self, repo: Path, planned: Plan, head: str) -> str:
        request = self.request
        await self.local(["add", "--", *sorted(planned.files)], repo)
        env = with_config(
            dict(self.base),
            (
                ("user.name", request.author_name),
                ("user.email", request.author_email),
                ("commit.gpgSign", "false"),
            ),
        )
        env.update(
            GIT_AUTHOR_NAME=request.author_name,
            GIT_AUTHOR_EMAIL=request.author_email,
            GIT_COMMITTER_NAME=request.author_name,
            GIT_COMMITTER_EMAIL=request.author_email,
        )
        text = message(request.message_template, planned.changes, request.automation)
        message_file = write_private(
            self.work / f"message-{head[:12]}-{os.urandom(4).hex()}", text.encode()
        )
        args = ["commit", "-q", "--no-verify", "-F", str(message_file)]
        async with _signing(request.signing, self.work, env, self.deadline) as (signed_env, sign):
            result = await self._run([*args, *sign], repo, signed_env)
        if not result.ok:
            raise (
                SigningKeyError(
                    f"git commit failed for {self.remote.display}: {detail(result.stderr)}",
                    url=self.remote.display,
                )
                if request.signing
                else SourceUnavailableError(
                    f"git commit failed for {self.remote.display}: {detail(result.stderr)}",
                    url=self.remote.display,
                )
            )
        return (await self.local(["rev-parse", "HEAD"], repo)).text.strip()

    async def push(self, repo: Path, commit: str, *, last: bool) -> bool:
        """True when pushed; False when the branch moved (try again on its new head)."""
        branch = self.request.push
        result, secrets = await self.remote_git(
            ["push", "--porcelain", "origin", f"{commit}:refs/heads/{branch}"], repo
        )
        if result.ok:
            return True
        said = result.stderr + result.text
        if any(r in said for r in _MOVED):
            if last:
                raise PushRefusedError(
                    f"{branch} of {self.remote.display} kept moving: {_ATTEMPTS} pushes "
                    "were rejected",
                    url=self.remote.display,
                    branch=branch,
                )
            return False
        if any(h in said for h in _HOOK):
            # What the hook said (its `remote:` lines) is what tells a person why.
            hook = "; ".join(
                line[len("remote:") :].strip()
                for line in scrub(result.stderr, secrets).splitlines()
                if line.startswith("remote:") and line[len("remote:") :].strip()
            )
            raise PushRefusedError(
                f"the server refused the push to {branch} of {self.remote.display}"
                + (f": {hook}" if hook else "")
                + f" ({detail(said, secrets)})",
                url=self.remote.display,
                branch=branch,
            )
        raise self._fail(result, secrets)


_PROTECTED = (
    "signingKey: the {kind} private key in {name} is protected by a passphrase, and gitmoor "
    "has none to give: store the key without one (a key of its own for the automation)"
)


@contextlib.asynccontextmanager
async def _signing(
    material: SigningMaterial | None, work: Path, env: dict[str, str], deadline: float
) -> AsyncIterator[tuple[dict[str, str], list[str]]]:
    """The environment and `git commit` arguments that sign with `material`."""
    if material is None:
        yield env, []
        return
    if material.kind == "ssh":
        key = write_private(work / "signing-key", material.key)
        # Loading it with an empty passphrase tells a protected key (or none) before git
        # would run ssh-keygen to sign, which asks for a passphrase where it can.
        loaded = await run_tool(
            "ssh-keygen", ["-y", "-P", "", "-f", str(key)], env=env, cwd=work, deadline=deadline
        )
        if not loaded.ok:
            raise SigningKeyError(
                _PROTECTED.format(kind="OpenSSH", name="identity")
                if "passphrase" in loaded.stderr
                else "signingKey: identity is not an OpenSSH private key "
                f"({detail(loaded.stderr)})",
                url="",
            )
        yield with_config(dict(env), (("gpg.format", "ssh"), ("user.signingkey", str(key)))), ["-S"]
        return
    # gpg signs through its agent, whose socket path must stay short: a directory in the
    # system's temp, removed with the agent afterwards.
    home = Path(tempfile.mkdtemp(prefix="gm-sign-"))
    signed = dict(env, GNUPGHOME=str(home))
    try:
        # Never ask for a passphrase (a pinentry would wait for someone): fail instead.
        (home / "gpg.conf").write_text("pinentry-mode error\n")
        imported = await run_tool(
            "gpg",
            ["--batch", "--status-fd", "1", "--import"],
            env=signed,
            cwd=home,
            deadline=deadline,
            stdin=material.key,
        )
        fingerprints = [
            line.split()[-1]
            for line in imported.text.splitlines()
            if line.startswith("[GNUPG:] IMPORT_OK ") and len(line.split()) >= 4
        ]
        secret_keys = await run_tool(
            "gpg",
            ["--batch", "--with-colons", "--list-secret-keys"],
            env=signed,
            cwd=home,
            deadline=deadline,
        )
        primary = next(
            (
                line.split(":")[9]
                for line in secret_keys.text.splitlines()
                if line.startswith("fpr:")
            ),
            None,
        )
        if not fingerprints or primary is None:
            raise SigningKeyError(
                "signingKey: git.asc holds no OpenPGP private key (expected the output of "
                "`gpg --export-secret-keys --armor`)",
                url="",
            )
        probe = await run_tool(
            "gpg",
            ["--batch", "--local-user", primary, "--detach-sign", "--output", "-"],
            env=signed,
            cwd=home,
            deadline=deadline,
            stdin=b"gitmoor signing probe\n",
        )
        if not probe.ok:
            raise SigningKeyError(
                _PROTECTED.format(kind="OpenPGP", name="git.asc")
                if "pinentry" in probe.stderr or "passphrase" in probe.stderr.lower()
                else f"signingKey: cannot sign with the key in git.asc ({detail(probe.stderr)})",
                url="",
            )
        config: list[tuple[str, str]] = [("gpg.format", "openpgp"), ("user.signingkey", primary)]
        yield with_config(signed, tuple(config)), ["-S"]
    finally:
        with contextlib.suppress(Exception):
            await run_tool(
                "gpgconf", ["--kill", "all"], env=signed, cwd=home, deadline=deadline + 10
            )
        shutil.rmtree(home, ignore_errors=True)


def _read_files(repo: Path, path: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The YAML files of the repository that may hold markers, by repository path: those
    under `path`, and the others."""
    root = (repo / path).resolve()
    inside: dict[str, bytes] = {}
    others: dict[str, bytes] = {}
    if not root.is_relative_to(repo.resolve()):
        return inside, others
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if not name.endswith(_YAML) or full.is_symlink():
                continue
            content = full.read_bytes()
            if b"$imagepolicy" not in content:
                continue
            relative = str(PurePosixPath(full.relative_to(repo)))
            (inside if full.resolve().is_relative_to(root) else others)[relative] = content
            if len(inside) + len(others) > _MAX_FILES:
                return inside, others
    return inside, others


def _markers_in(files: Mapping[str, bytes], namespace: str) -> tuple[str, ...]:
    found = []
    for name, content in sorted(files.items()):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{m.where} ({m.policy_key})" for m in find(text, name, namespace=namespace)]
    return tuple(found)


def _write_files(repo: Path, planned: Plan) -> None:
    """Each file replaced whole: written aside, then renamed over the old one."""
    for name, content in planned.files.items():
        target = repo / name
        aside = target.with_name(f".{target.name}.gitmoor-new")
        aside.write_bytes(content)
        aside.chmod(target.stat().st_mode & 0o777)
        aside.replace(target)
