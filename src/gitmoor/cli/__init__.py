"""The `gitmoor` command: thin; it parses, calls library functions and prints."""

from gitmoor.cli.app import app, main

__all__ = ["app", "main"]
