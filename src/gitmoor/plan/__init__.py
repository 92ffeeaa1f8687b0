"""Desired manifests + live objects + inventory -> Plan.

Server-side dry run, normalised diff, phases, what to prune.

Never mutates the cluster."""
