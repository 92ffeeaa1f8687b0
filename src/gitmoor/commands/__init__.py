"""What the CLI (and later the web UI) asks of gitmoor: run the agent, sync now, suspend,
resume, roll back, preview, bootstrap. Use cases over the agent and the stages; no printing and
no argument parsing here."""
