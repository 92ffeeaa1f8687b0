"""Small asyncio helpers shared by the stages."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

_T = TypeVar("_T")


async def gather(awaitables: Iterable[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run all, return results in order; on the first failure cancel the rest and raise that
    failure itself (not an ExceptionGroup), because callers decide retries by the error's type."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(a) for a in awaitables]
    except* Exception as grouped:
        first: BaseException = grouped.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]
