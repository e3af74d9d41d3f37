"""Which provider calls this process is making right now.

Reconciliation decides operations whose outcome the journal does not know.
An operation this process is still sending is not lost, it is in flight:
deciding it from the balance before its answer arrives would get it wrong.
So every use case that may call a provider counts itself on the till while
it runs, and reconciliation waits until nothing is counted.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Counted(Protocol):
    calls_in_flight: int


def provider_call(
    method: Callable[Concatenate[Any, P], Awaitable[R]],
) -> Callable[Concatenate[Any, P], Awaitable[R]]:
    """Count the call on the till (``self.till`` or the till itself) while it runs."""

    @functools.wraps(method)
    async def counted(self: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        till: Counted = getattr(self, "till", self)
        till.calls_in_flight += 1
        try:
            return await method(self, *args, **kwargs)
        finally:
            till.calls_in_flight -= 1

    return counted
