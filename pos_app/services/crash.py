"""Crash points for the crash tests: ``POS_CRASH_AT=<where>`` kills this
process with SIGKILL at that point, as a power cut would.

Points: ``<op>:before_send`` (intent committed, request not sent),
``<op>:after_send`` (request on its way; the kill comes ``POS_CRASH_DELAY``
seconds later, default 0.3, while the provider is still answering),
``<op>:after_response`` (answer received, outcome not committed),
``<op>:undecided`` (the answer was lost and the state did not decide it yet), with
``<op>`` one of the core's operations (authorize, capture, void, refund,
create, undo: services/journaled.py passes them all); and ``close:before_commit``,
``close:after_commit``. Unset in normal use: each check is one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import os
import signal

ENV = "POS_CRASH_AT"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crashpoint(where: str) -> None:
    if os.environ.get(ENV) == where:
        _die()


def arm_after_send(op: str) -> None:
    """Die shortly after the request for ``op`` has been sent (call just before sending)."""
    if os.environ.get(ENV) == f"{op}:after_send":
        delay = float(os.environ.get("POS_CRASH_DELAY", "0.3"))
        asyncio.get_running_loop().call_later(delay, _die)
