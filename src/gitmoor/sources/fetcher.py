"""GitFetcher: a GitSource's URL and ref -> an Artifact on disk, fetching only what changed.

Per source key the cache holds a bare repository (`repos/<key>`), filled by shallow fetches of
exactly the commits asked for, and the newest few artifacts (`artifacts/<key>/<sha>/`, see
`store`). One fetch of a key runs at a time; different keys fetch in parallel.

A source with `spec.verify` has its commit (or tag) signature checked before anything is
unpacked; a revision that fails is never returned. Verdicts are remembered by object and keys
digest, so an unchanged head is checked once, and again only when the keys change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from gitmoor.errors import (
    RefNotFoundError,
    SourceConfigError,
    SourceUnavailableError,
)
from gitmoor.model import Artifact, Commit, Signature
from gitmoor.model.credentials import GitCredentials
from gitmoor.model.resources import GitSourceSpec, VerifyMode
from gitmoor.model.signing import SigningKeys
from gitmoor.sources.diagnose import classify, detail
from gitmoor.sources.digest import tree_digest
from gitmoor.sources.environment import (
    RemoteEnvironment,
    authorization,
    base_environment,
    remote_environment,
)
from gitmoor.sources.httpcheck import HttpChecks
from gitmoor.sources.ignore import IgnoreRules
from gitmoor.sources.process import GitResult, GitTimeoutError, run_git
from gitmoor.sources.remote import (
    Query,
    RemoteRefs,
    Target,
    exact_commit,
    parse_ls_remote,
    query_for,
    resolve,
    revision_of,
)
from gitmoor.sources.sharing import CheckKey, SharedChecks, fingerprint
from gitmoor.sources.signatures import objects_to_check
from gitmoor.sources.sshcontrol import ControlMasters
from gitmoor.sources.store import ArtifactStore, Stored, key_slug
from gitmoor.sources.tree import unpack_tree
from gitmoor.sources.urls import RemoteUrl, Transport, UnsupportedUrlError, parse_remote_url
from gitmoor.sources.verify import Verdicts

log = logging.getLogger(__name__)

# Every depth-1 fetch adds a shallow boundary and a few objects nothing will read again; past
# this many the repository is started afresh (which costs one ordinary shallow fetch).
_MAX_SHALLOW_ROOTS = 32
# Beats `git archive`'s `export-ignore`/`export-subst` attributes, which would otherwise let
# the repository's .gitattributes drop or rewrite files in the artifact.
_ATTRIBUTES = "* -export-ignore -export-subst\n"
_COMMIT_FORMAT = "%H%x00%an%x00%ae%x00%aI%x00%B"


@dataclass(frozen=True)
class _Call:
    """What one public call works with: the source, where it is, and its time budget."""

    key: str
    remote: RemoteUrl
    credentials: GitCredentials | None
    deadline: float
    timeout: float


class GitFetcher:
    """Fetches GitSources into `cache_dir` with the `git` command.

    `remote_revision` is the cheap check: over HTTP(S) an in-process `ls-refs` on a kept-alive
    connection (`httpcheck`), else one `git ls-remote`; `fetch` does that check too and returns
    the cached artifact when the commit is unchanged, so an unchanged source costs one check and
    no writes. Sources asking the same remote the same question share a check (`sharing`).
    `git_calls` counts the git commands run, by subcommand, and the in-process checks as
    `ls-refs`. `close()` ends the kept connections.
    """

    def __init__(
        self, cache_dir: Path, *, keep: int = 3, file_roots: tuple[Path, ...] | None = None
    ) -> None:
        """`file_roots`: the directories `file://` sources may read below (None: anywhere, as
        out of a cluster; empty: none, as in one). The cache itself is never readable so."""
        self.cache_dir = cache_dir.absolute()
        self.file_roots = None if file_roots is None else tuple(r.resolve() for r in file_roots)
        self.keep = max(keep, 1)
        self._repos = self.cache_dir / "repos"
        self._store = ArtifactStore(self.cache_dir / "artifacts")
        self._home = self.cache_dir / "home"
        self._scratch = self.cache_dir / "tmp"
        for directory in (self.cache_dir, self._home, self._repos):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Key files and half-made repositories left by a process that died mid-fetch.
        shutil.rmtree(self._scratch, ignore_errors=True)
        for leftover in self._repos.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._env = base_environment(self._home)
        self._locks: dict[str, asyncio.Lock] = {}
        self._latest: dict[str, Stored] = {}
        self._calls: Counter[str] = Counter()
        self._verdicts = Verdicts()
        self._http = HttpChecks()
        self._checks = SharedChecks()
        self._masters = ControlMasters()

    @property
    def git_calls(self) -> Mapping[str, int]:
        """How many git commands ran, by subcommand (`ls-remote`, `fetch`, `archive`,
        `verify-commit`, `verify-tag`, ...), and how many keyrings were built (`keyring`)."""
        return MappingProxyType(dict(self._calls))

    @property
    def check_connections(self) -> int:
        """Connections the in-process HTTP(S) checks opened: kept alive and reused."""
        return self._http.connections

    @property
    def shared_checks(self) -> int:
        """Checks answered from another source's check of the same remote and ref."""
        return self._checks.shared

    @property
    def ssh_masters(self) -> list[Path]:
        """The sockets of the shared ssh connections now open."""
        return self._masters.sockets()

    async def close(self) -> None:
        """Close the kept connections (HTTP pools, ssh control masters); a check after this
        opens new ones."""
        self._http.close()
        self._http = HttpChecks()
        await self._masters.close(self._env)

    @property
    def fetch_count(self) -> int:
        """How many `git fetch` commands ran: the network transfers of objects."""
        return self._calls["fetch"]

    # -- public ----------------------------------------------------------------------------------

    async def remote_revision(
        self,
        key: str,
        spec: GitSourceSpec,
        credentials: GitCredentials | None,
        *,
        timeout: float,
        fresh_since: float = math.inf,
    ) -> tuple[str, str]:
        """The revision (`main@sha1:<hex>`) and commit sha the source's ref names right now
        (or as another source's check of the same remote saw it, if that check began at or
        after `fresh_since`, a `time.monotonic()` instant: see `sharing.fresh_since`)."""
        call = self._call(key, spec, credentials, timeout)
        target = await self._resolve(call, spec, fresh_since)
        return target.revision, target.sha

    async def fetch(
        self,
        key: str,
        spec: GitSourceSpec,
        credentials: GitCredentials | None,
        *,
        timeout: float,
        keys: SigningKeys | None = None,
        fresh_since: float = math.inf,
    ) -> Artifact:
        """The artifact of the commit the source's ref names, fetched if not cached already.
        `fresh_since`: as in `remote_revision`.

        With `spec.verify`, only when signed as it requires by one of `keys`; otherwise
        SourceVerificationError, and nothing of the revision is unpacked.
        """
        started = time.monotonic()
        call = self._call(key, spec, credentials, timeout)
        target = await self._resolve(call, spec, fresh_since)
        ignore = spec.ignore or ""
        async with self._lock(key):
            signatures: tuple[Signature, ...] = ()
            if spec.verify is not None:
                if keys is None:
                    raise SourceConfigError(
                        "spec.verify is set but no keys were read for it", url=call.remote.display
                    )
                target, signatures = await self._verify(call, target, spec.verify.mode, keys)
            reused = self._reuse(call, target, ignore)
            if reused is not None:
                log.debug("source %s unchanged at %s", key, target.revision)
                return replace(reused, verified_by=signatures)
            stored = await self._fetch_locked(call, target, ignore)
        artifact = replace(stored.artifact, verified_by=signatures)
        log.info(
            "source %s fetched %s (%s)%s in %.2fs",
            key,
            artifact.revision,
            artifact.digest,
            f" signed by {artifact.signer}" if artifact.signer else "",
            time.monotonic() - started,
        )
        return artifact

    # -- resolving refs --------------------------------------------------------------------------

    def _call(
        self, key: str, spec: GitSourceSpec, credentials: GitCredentials | None, timeout: float
    ) -> _Call:
        try:
            remote = parse_remote_url(spec.url)
        except UnsupportedUrlError as err:
            raise SourceConfigError(str(err), url=_safe_url(spec.url)) from None
        if remote.transport is Transport.FILE:
            self._check_file_source(remote)
        deadline = asyncio.get_running_loop().time() + timeout
        return _Call(key, remote, credentials, deadline, timeout)

    def _check_file_source(self, remote: RemoteUrl) -> None:
        """A `file://` source reads the agent's own disk: another source's checkout, a mounted
        Secret. It is refused unless the agent allows a root it lies below."""
        where = Path(urlsplit(remote.url).path).resolve()
        if where == self.cache_dir or self.cache_dir in where.parents:
            raise SourceConfigError(
                "file:// sources may not read the agent's cache", url=remote.display
            )
        if self.file_roots is None:
            return
        if not any(where == r or r in where.parents for r in self.file_roots):
            allowed = ", ".join(str(r) for r in self.file_roots) or "none"
            raise SourceConfigError(
                f"file:// sources are allowed only below --allow-file-sources ({allowed})",
                url=remote.display,
            )

    async def _resolve(self, call: _Call, spec: GitSourceSpec, fresh_since: float) -> Target:
        ref = spec.ref
        sha = exact_commit(ref)
        if sha is not None:
            return Target(revision_of(None, sha), sha, None)
        if ref.commit:
            return await self._resolve_short_commit(call, ref.commit)
        url = call.remote.display
        query = query_for(ref, url=url)
        key = CheckKey(call.remote.url, query, fingerprint(call.credentials))
        refs = await self._checks.refs(key, fresh_since, lambda: self._list_refs(call, query))
        return resolve(ref, refs, url=url)

    async def _list_refs(self, call: _Call, query: Query) -> RemoteRefs:
        """What `git ls-remote` says for `query`: asked in process over HTTP(S), where
        connections are kept; by the git command over SSH (through a shared ssh connection,
        see `environment`) and for file:// URLs."""
        if call.remote.transport in (Transport.HTTPS, Transport.HTTP):
            authorization(call.remote, call.credentials)  # a half Secret is refused unasked
            self._calls["ls-refs"] += 1
            return await self._http.list_refs(
                call.remote,
                call.credentials,
                query,
                timeout=call.timeout,
                deadline=call.deadline,
            )
        listing = await self._git(
            "ls-remote",
            ["ls-remote", *query.options, "--", call.remote.url, *query.patterns],
            call,
            cwd=self._home,
            remote=True,
        )
        return parse_ls_remote(listing.text)

    async def _resolve_short_commit(self, call: _Call, prefix: str) -> Target:
        """An abbreviated sha can only be expanded by a repository that holds the commit: a
        cached artifact, the cached repository, or else a full fetch of branches and tags."""
        known = self._latest.get(call.key)
        if known is None or not known.artifact.commit.sha.startswith(prefix):
            known = await asyncio.to_thread(self._store.find, call.key, prefix)
        if known is not None:
            full = known.artifact.commit.sha
            return Target(revision_of(None, full), full, None)
        async with self._lock(call.key):
            repo = await self._repository(call)
            sha = await self._rev_parse(call, repo, prefix)
            if sha is None:
                # History is needed to find the commit: start from a repository with no
                # shallow boundaries and fetch every branch and tag in full.
                await asyncio.to_thread(shutil.rmtree, repo, True)
                repo = await self._repository(call)
                await self._git(
                    "fetch",
                    [
                        *_in(repo),
                        "fetch",
                        "--quiet",
                        "--no-tags",
                        "--",
                        call.remote.url,
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*",
                    ],
                    call,
                    cwd=repo,
                    remote=True,
                )
                sha = await self._rev_parse(call, repo, prefix)
        if sha is None:
            raise RefNotFoundError(
                f"commit {prefix} not found in {call.remote.display} "
                "(or the abbreviation is ambiguous: give the full sha)",
                url=call.remote.display,
            )
        return Target(revision_of(None, sha), sha, None)

    # -- signatures ------------------------------------------------------------------------------

    async def _verify(
        self, call: _Call, target: Target, mode: VerifyMode, keys: SigningKeys
    ) -> tuple[Target, tuple[Signature, ...]]:
        """The signatures `mode` requires of `target`, each by one of `keys`; raises
        SourceVerificationError for the first that is missing or not good. Only objects not
        judged under the same keys yet are fetched and checked."""
        objects = objects_to_check(mode, target)
        if self._verdicts.missing(objects, keys):
            repo = await self._repository(call)
            if target.tag and mode != "head":
                await self._fetch_tag(call, repo, target)
            fetched = await self._fetch_commit(call, repo, target)
            if fetched.sha != target.sha:
                # The server made us fetch a branch by name and it had moved: judge what we hold.
                target = fetched
                objects = objects_to_check(mode, target)
            self._calls["keyring"] += 1
            await self._verdicts.judge(
                objects,
                keys,
                functools.partial(self._git_in, repo, call),
                base=self._env,
                scratch=self._scratch,
                deadline=call.deadline,
                url=call.remote.display,
            )
        signatures = self._verdicts.required(objects, keys, target=target, url=call.remote.display)
        return target, signatures

    async def _git_in(
        self,
        repo: Path,
        call: _Call,
        label: str,
        args: list[str],
        *,
        env: Mapping[str, str],
        check: bool,
    ) -> GitResult:
        return await self._git(label, [*_in(repo), *args], call, cwd=repo, check=check, env=env)

    async def _fetch_tag(self, call: _Call, repo: Path, target: Target) -> None:
        """Make sure `repo` holds the annotated tag object `target.tag` (with its commit)."""
        assert target.tag is not None
        if await self._has_object(call, repo, target.tag, "tag"):
            return
        fetch = [*_in(repo), "fetch", "--quiet", "--depth=1", "--no-tags", "--", call.remote.url]
        try:
            await self._git("fetch", [*fetch, target.tag], call, cwd=repo, remote=True)
            return
        except RefNotFoundError:
            if target.ref is None:
                raise
        await self._git("fetch", [*fetch, target.ref], call, cwd=repo, remote=True)
        if await self._rev_parse(call, repo, "FETCH_HEAD", "tag") != target.tag:
            raise SourceUnavailableError(
                f"{target.ref} of {call.remote.display} moved while it was fetched; "
                "it is fetched again at the next check",
                url=call.remote.display,
            )

    # -- the cache -------------------------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _reuse(self, call: _Call, target: Target, ignore: str) -> Artifact | None:
        """The artifact of `target` made with the same ignore rules, if it is still on disk."""
        stored = self._latest.get(call.key)
        usable = (
            stored is not None
            and stored.artifact.commit.sha == target.sha
            and stored.ignore == ignore
            and Path(stored.artifact.path).is_dir()
        )
        if not usable:
            stored = self._store.load(call.key, target.sha)
            if stored is None or stored.ignore != ignore:
                return None
            self._store.touch(call.key, target.sha)
            self._latest[call.key] = stored
        assert stored is not None
        artifact = stored.artifact
        if artifact.revision != target.revision or artifact.url != call.remote.display:
            # The same commit reached through another ref (or URL): same files, its own name.
            artifact = replace(artifact, revision=target.revision, url=call.remote.display)
        return artifact

    async def _fetch_locked(self, call: _Call, target: Target, ignore: str) -> Stored:
        repo = await self._repository(call)
        target = await self._fetch_commit(call, repo, target)
        commit = await self._commit(call, repo, target.sha)
        stored = await self._materialise(call, repo, target, commit, ignore)
        self._latest[call.key] = stored
        deleted = await asyncio.to_thread(
            self._store.prune, call.key, keep=self.keep, protect=target.sha
        )
        if deleted:
            log.debug("source %s: removed old artifacts %s", call.key, ", ".join(deleted))
        return stored

    async def _repository(self, call: _Call) -> Path:
        """The key's bare repository, created if missing, free of what a killed git left."""
        repo = self._repos / key_slug(call.key)
        if (repo / "HEAD").is_file():
            if await asyncio.to_thread(_shallow_roots, repo) <= _MAX_SHALLOW_ROOTS:
                await asyncio.to_thread(_remove_stale_locks, repo)
                return repo
            await asyncio.to_thread(shutil.rmtree, repo, True)
        elif repo.exists():
            await asyncio.to_thread(shutil.rmtree, repo, True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._repos))
        try:
            fresh = staging / "repo"
            await self._git(
                "init",
                ["init", "--quiet", "--bare", "--template=", str(fresh)],
                call,
                cwd=self._home,
            )
            (fresh / "info").mkdir(exist_ok=True)
            (fresh / "info" / "attributes").write_text(_ATTRIBUTES, encoding="utf-8")
            fresh.rename(repo)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return repo

    async def _fetch_commit(self, call: _Call, repo: Path, target: Target) -> Target:
        """Make sure `repo` holds `target`'s commit, fetching it with depth 1 if not.

        The commit is fetched by its sha, so what is unpacked is exactly what ls-remote saw
        even if the branch moves meanwhile. A server that refuses unadvertised objects gets
        asked for the ref by name instead, and the target follows what that returned.
        """
        if await self._has_object(call, repo, target.sha, "commit"):
            return target
        fetch = [*_in(repo), "fetch", "--quiet", "--depth=1", "--no-tags", "--"]
        try:
            await self._git(
                "fetch", [*fetch, call.remote.url, target.sha], call, cwd=repo, remote=True
            )
            return target
        except RefNotFoundError:
            if target.ref is None:
                raise RefNotFoundError(
                    f"commit {target.sha} not found in {call.remote.display}",
                    url=call.remote.display,
                ) from None
        await self._git("fetch", [*fetch, call.remote.url, target.ref], call, cwd=repo, remote=True)
        sha = await self._rev_parse(call, repo, "FETCH_HEAD")
        if sha is None:
            raise RefNotFoundError(
                f"{target.ref} not found in {call.remote.display}", url=call.remote.display
            )
        name = target.revision.rpartition("@")[0] or None
        return Target(revision_of(name, sha), sha, target.ref)

    async def _has_object(self, call: _Call, repo: Path, sha: str, kind: str) -> bool:
        if _holds_nothing(repo):
            return False  # a first fetch: no git process to learn that
        result = await self._git(
            "cat-file",
            [*_in(repo), "cat-file", "-e", f"{sha}^{{{kind}}}"],
            call,
            cwd=repo,
            check=False,
        )
        return result.ok

    async def _rev_parse(
        self, call: _Call, repo: Path, name: str, kind: str = "commit"
    ) -> str | None:
        result = await self._git(
            "rev-parse",
            [*_in(repo), "rev-parse", "--verify", "--quiet", f"{name}^{{{kind}}}"],
            call,
            cwd=repo,
            check=False,
        )
        sha = result.text.strip()
        return sha if result.ok and sha else None

    async def _commit(self, call: _Call, repo: Path, sha: str) -> Commit:
        result = await self._git(
            "show",
            [*_in(repo), "show", "-s", "--no-color", f"--format={_COMMIT_FORMAT}", sha, "--"],
            call,
            cwd=repo,
        )
        fields = result.text.split("\x00", 4)
        if len(fields) != 5:
            raise SourceUnavailableError(
                f"could not read commit {sha} of {call.remote.display}", url=call.remote.display
            )
        full, author, email, when, message = fields
        return Commit(
            sha=full.strip(),
            author=author,
            author_email=email,
            time=datetime.fromisoformat(when),
            message=message.rstrip("\n"),
        )

    async def _materialise(
        self, call: _Call, repo: Path, target: Target, commit: Commit, ignore: str
    ) -> Stored:
        """Unpack the commit's tree beside its final place, digest it, and move it in."""
        staging = await asyncio.to_thread(self._store.stage, call.key)
        try:
            archive = staging / "tree.tar"
            await self._git(
                "archive",
                [
                    *_in(repo),
                    "archive",
                    "--format=tar",
                    f"--output={archive}",
                    _tree_of(target.sha),
                ],
                call,
                cwd=repo,
            )
            tree = staging / "tree"
            digest, refused = await asyncio.to_thread(_unpack, archive, tree, IgnoreRules(ignore))
            artifact = Artifact(
                url=call.remote.display,
                revision=target.revision,
                digest=digest,
                path=str(tree),
                commit=commit,
                fetched_at=datetime.now(UTC),
                refused=refused,
            )
            return await asyncio.to_thread(self._store.install, call.key, tree, artifact, ignore)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)

    # -- running git -----------------------------------------------------------------------------

    async def _git(
        self,
        label: str,
        args: Sequence[str],
        call: _Call,
        *,
        cwd: Path,
        remote: bool = False,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> GitResult:
        """Run git for `call`; with `remote`, in an environment carrying its credentials; else
        in `env` (default: the base environment).

        Failures become SourceErrors: a remote command's by what git said (see `diagnose`), a
        local one's as the cache being unusable (the repository is dropped, to be rebuilt).
        """
        url = call.remote.display
        environment: contextlib.AbstractContextManager[RemoteEnvironment] = (
            remote_environment(
                call.remote,
                call.credentials,
                base=self._env,
                scratch=self._scratch,
                connect_timeout=call.timeout,
                control_dir=(
                    self._masters.directory if call.remote.transport is Transport.SSH else None
                ),
            )
            if remote
            else contextlib.nullcontext(RemoteEnvironment(dict(env or self._env), ()))
        )
        with environment as running:
            self._calls[label] += 1
            try:
                result = await run_git(args, env=running.env, cwd=cwd, deadline=call.deadline)
            except GitTimeoutError:
                raise SourceUnavailableError(
                    f"git {label} for {url} timed out after {call.timeout:g}s", url=url
                ) from None
            if result.ok or not check:
                return result
            if remote:
                raise classify(
                    result.stderr,
                    url=url,
                    secrets=running.secrets,
                    has_credentials=_offers_credentials(call.credentials),
                )
        await asyncio.to_thread(shutil.rmtree, self._repos / key_slug(call.key), True)
        raise SourceUnavailableError(
            f"git {label} failed in the cache for {url}; the cached repository was reset "
            f"(git: {detail(result.stderr, running.secrets)})",
            url=url,
        )


def _tree_of(sha: str) -> str:
    # The tree, not the commit: then `git archive` writes no pax header with the commit id,
    # which Python's tarfile cannot read when nothing follows it (an empty tree).
    return f"{sha}^{{tree}}"


def _offers_credentials(credentials: GitCredentials | None) -> bool:
    if credentials is None:
        return False
    return bool(credentials.password or credentials.bearer_token or credentials.identity)


def _in(repo: Path) -> list[str]:
    return ["--git-dir", str(repo)]


def _unpack(archive: Path, tree: Path, rules: IgnoreRules) -> tuple[str, tuple[str, ...]]:
    tree.mkdir()
    unpacked = unpack_tree(archive, tree, rules)
    archive.unlink()
    return tree_digest(tree), unpacked.refused


def _shallow_roots(repo: Path) -> int:
    try:
        return len((repo / "shallow").read_text(encoding="ascii").split())
    except FileNotFoundError:
        return 0


def _holds_nothing(repo: Path) -> bool:
    """Whether the bare repository has no object at all (just created): no pack and no
    loose-object directory."""
    objects = repo / "objects"
    try:
        with os.scandir(objects) as entries:
            names = {e.name for e in entries}
        with os.scandir(objects / "pack") as packs:
            packed = any(True for _ in packs)
    except FileNotFoundError:
        return False  # not the layout we made: let git answer
    return not packed and names <= {"info", "pack"}


def _remove_stale_locks(repo: Path) -> None:
    """Lock files a killed git left behind would fail every later command in the repository.
    Only this fetcher, holding the key's lock, runs git here, so any lock file is stale."""
    for pattern in ("*.lock", "refs/**/*.lock", "objects/pack/tmp_*", "objects/info/*.lock"):
        for leftover in repo.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _safe_url(url: str) -> str:
    """A URL we refused, for the error: whatever stood before an `@` (maybe a password) dropped."""
    scheme, sep, rest = url.partition("://")
    if sep:
        host_and_path = rest.rpartition("@")[2]
        return f"{scheme}://{host_and_path}"
    return url


__all__ = ["GitFetcher"]
