"""Notifications to people and systems (generic webhook, Slack, GitHub/GitLab commit status):
queued, deduplicated, retried in the background; never fails a reconcile."""

from gitmoor.notify.notifier import Notifier, ReadSecret
from gitmoor.notify.retry import RetryPolicy

__all__ = ["Notifier", "ReadSecret", "RetryPolicy"]
