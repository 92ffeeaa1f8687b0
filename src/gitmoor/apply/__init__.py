"""Carry out a Plan phase by phase, writing only what differs -> ChangeSet."""
