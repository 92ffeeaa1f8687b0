"""A drift correction's ledger record names what was put back (object and field paths, never
values), and the UI reads it back from the message."""

from __future__ import annotations

import pytest

from gitmoor.model import Action, ChangeSet, ObjectChange, ObjectRef
from gitmoor.reconcile.records import corrected_fields, correction_message

SETTINGS = ObjectRef("", "ConfigMap", "apps", "settings")
WEB = ObjectRef("apps", "Deployment", "apps", "web")
NODE = ObjectRef("", "Namespace", "", "apps")


def _change(ref: ObjectRef, action: Action, what: str) -> ObjectChange:
    return ObjectChange(ref, "v1", action, "1", what)


@pytest.mark.parametrize(
    ("changes", "message", "fields"),
    [
        (
            [_change(SETTINGS, Action.CONFIGURED, "data.mode")],
            "1 configured: ConfigMap/apps/settings (data.mode)",
            {"ConfigMap/apps/settings": ("data.mode",)},
        ),
        (
            [
                _change(SETTINGS, Action.CREATED, "deleted"),
                _change(WEB, Action.CONFIGURED, "spec.replicas, spec.template.metadata[a.b/c]"),
                _change(NODE, Action.CONFIGURED, "metadata.labels.team"),
            ],
            "1 created, 2 configured: ConfigMap/apps/settings (deleted); "
            "Deployment/apps/web (spec.replicas, spec.template.metadata[a.b/c]); "
            "Namespace/apps (metadata.labels.team)",
            {
                "ConfigMap/apps/settings": ("deleted",),
                "Deployment/apps/web": ("spec.replicas", "spec.template.metadata[a.b/c]"),
                "Namespace/apps": ("metadata.labels.team",),
            },
        ),
        # Left alone (changed meanwhile): nothing written, nothing named.
        (
            [_change(SETTINGS, Action.SKIPPED, "changed meanwhile: the watch reports it")],
            "1 skipped",
            {},
        ),
    ],
)
def test_a_correction_names_the_fields_it_put_back(
    changes: list[ObjectChange], message: str, fields: dict[str, tuple[str, ...]]
) -> None:
    written = correction_message(ChangeSet(tuple(changes)))
    assert (written, corrected_fields(written)) == (message, fields)


@pytest.mark.parametrize("message", ["", "1 configured", "could not: anything", "nothing to do"])
def test_other_messages_name_no_fields(message: str) -> None:
    assert corrected_fields(message) == {}
