"""Whether the till's changes reach the shop's journal server (``[journal] url``).

For the status dot and F12: read from the forwarder's memory (``online``,
the last error) without waiting on the network; ``backlog`` (a local count)
only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerState:
    url: str
    online: bool | None  # None: not reached yet
    backlog: int | None  # changes journaled here, not on the server yet (None: not counted)
    error: str | None  # why it is offline
    conflict: str | None  # forwarding stopped: the server would not take a change as made here


def server_state(journal: Any, url: str | None, *, count: bool = False) -> ServerState | None:
    """The journal server's state for this till (None: no server configured, or written directly)."""
    forwarder = getattr(journal, "forwarder", None)
    if forwarder is None or not url:
        return None
    from pos_app.journal.postgres import shown_url

    return ServerState(shown_url(url), forwarder.online, journal.backlog() if count else None, forwarder.error,
                       forwarder.conflict)
