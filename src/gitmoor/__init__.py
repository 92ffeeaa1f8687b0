"""gitmoor keeps Kubernetes clusters moored to Git: a pull-based GitOps agent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gitmoor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
