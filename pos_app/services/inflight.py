"""One provider conversation at a time per till.

Every use case that may call a provider runs under the till's provider lock
(``provider_call``): cashier steps (pay, void, cancel, close, storno),
reconciliation (one operation at a time) and reloading keys. So

* reconciliation never decides an operation this till is still sending (it
  would read the old balance and call a redemption that is on its way "did
  not happen");
* two steps that arrive together (F8 pressed twice) run one after the other,
  and the second sees what the first did instead of sending it again;
* nothing waits on the event loop: callers run in workers and show "please
  wait" meanwhile; scanning and the screen stay live.

Nested calls (a cancel that voids voucher payments) run inside the lock
their task already holds: a context variable marks the holder.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_holding: ContextVar[bool] = ContextVar("pos_provider_lock_held", default=False)


class Locked(Protocol):
    provider_lock: asyncio.Lock
    calls_in_flight: int


async def exclusively(till: Locked, call: Callable[[], Awaitable[R]]) -> R:
    """Run ``call`` holding the till's provider lock (at once if this task holds it)."""
    if _holding.get():
        return await call()
    async with till.provider_lock:
        token = _holding.set(True)
        till.calls_in_flight += 1
        try:
            return await call()
        finally:
            till.calls_in_flight -= 1
            _holding.reset(token)


def provider_call(
    method: Callable[Concatenate[Any, P], Awaitable[R]],
) -> Callable[Concatenate[Any, P], Awaitable[R]]:
    """Run the method under the provider lock of its till's session (``self.session``)."""

    @functools.wraps(method)
    async def locked(self: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        session: Locked = getattr(self, "session", self)
        return await exclusively(session, lambda: method(self, *args, **kwargs))

    return locked
