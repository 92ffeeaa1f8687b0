"""Kubernetes object names: what makes a name valid, without the resource models (pydantic), so
the CLI can check a name it was given before it loads anything heavy."""

from __future__ import annotations

import re

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def name_problem(value: str, *, namespace: bool = False) -> str | None:
    """Why `value` cannot name an object (or, with `namespace`, a Namespace); None if it can."""
    pattern, limit = (DNS_LABEL, 63) if namespace else (DNS_SUBDOMAIN, 253)
    if not value:
        return "must not be empty"
    if len(value) > limit:
        return f"{value!r} is longer than {limit} characters"
    if not re.match(pattern, value):
        return (
            f"{value!r} is not a valid Kubernetes name: lower-case letters, digits and '-'"
            + ("" if namespace else " or '.'")
            + ", starting and ending with a letter or digit"
        )
    return None
