"""Git source -> Artifact: remote-head check, shallow fetch, checkout, verification, ignore rules.

Touches neither manifests nor the cluster. Git runs as the real `git` command, one killable
process per step, with credentials passed only through its environment and private files.
"""

from gitmoor.sources.fetcher import GitFetcher
from gitmoor.sources.ignore import IgnoreRules
from gitmoor.sources.semver_range import InvalidRangeError, SemverRange

__all__ = ["GitFetcher", "IgnoreRules", "InvalidRangeError", "SemverRange"]
