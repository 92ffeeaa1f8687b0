"""Which paths of a checkout stay out of the artifact: the GitSource's `ignore` patterns
(gitignore syntax) and, always, anything named `.git`."""

from __future__ import annotations

from functools import lru_cache

import pathspec


class IgnoreRules:
    """gitignore semantics over paths relative to the repository root, `/`-separated.

    As in Git, a file inside an ignored directory stays ignored even when a later `!pattern`
    names it: Git never looks inside a directory it ignores.
    """

    def __init__(self, patterns: str | None) -> None:
        self.patterns = patterns or ""
        self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns.splitlines())
        self._dir_ignored = lru_cache(maxsize=4096)(self._dir_ignored_uncached)

    def ignores(self, path: str) -> bool:
        """True when the file (or symlink) at `path` is left out."""
        parts = path.strip("/").split("/")
        if any(part.lower() == ".git" for part in parts):
            return True
        if not self.patterns:
            return False
        if len(parts) > 1 and self._dir_ignored("/".join(parts[:-1])):
            return True
        return self._spec.match_file("/".join(parts))

    def _dir_ignored_uncached(self, directory: str) -> bool:
        parent, _, _ = directory.rpartition("/")
        if parent and self._dir_ignored(parent):
            return True
        return self._spec.match_file(directory + "/")
