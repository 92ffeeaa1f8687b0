"""The semver range grammar lives in `gitmoor.model.semver_range` (the ledger reads chart
versions with it too); the sources import it from here as before."""

from gitmoor.model.semver_range import InvalidRangeError, SemverRange, parse_tag

__all__ = ["InvalidRangeError", "SemverRange", "parse_tag"]
