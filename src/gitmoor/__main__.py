"""`python -m gitmoor` runs the CLI."""

from gitmoor.cli.app import main

main()
