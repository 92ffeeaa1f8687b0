"""Gather every render error of one pass, so a user fixes them all in one round."""

from __future__ import annotations

from gitmoor.errors import RenderError, RenderErrors


class Problems:
    """Render errors found so far, raised together by `raise_if_any`."""

    def __init__(self) -> None:
        self.errors: list[RenderError] = []

    def add(self, error: RenderError) -> None:
        self.errors.append(error)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise one `RenderError` alone, or `RenderErrors` when there are several."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise RenderErrors(list(self.errors))
