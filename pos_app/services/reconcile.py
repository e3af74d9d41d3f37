"""Reconciliation: settle every provider operation whose outcome the journal
does not know (the till was killed, lost power or the network mid-call, or
the provider has not shown it yet). At start-up, by itself in the background
while any is open, and on F12 ``r``; each through the one settling path
(:func:`pos_app.services.journaled.settle`), never by sending it again.

Until an operation is decided, the voucher it touches cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pos_app.journal import OpRecord
from pos_app.services import journaled
from pos_app.services.inflight import exclusively
from pos_app.services.journaled import Decision
from pos_app.services.session import Session
from pos_app.services.wording import outcome_text

# When nothing says sooner (the provider cannot be asked, or the state moved
# some other way), the till looks again this often.
RETRY_S = 30.0
SOONEST_S = 1.0


@dataclass(frozen=True, slots=True)
class Resolution:
    op_id: int
    text: str
    resolved: bool
    operation: str = ""
    until: datetime | None = None


class Recovery:
    def __init__(self, session: Session) -> None:
        self.session = session

    def open_ops(self) -> list[OpRecord]:
        return self.session.journal.ops(open_only=True)

    def flagged(self) -> list[OpRecord]:
        """Operations whose answer contradicted the request, or that a later read contradicts."""
        return self.session.journal.ops(flagged=True)

    async def run(self) -> list[Resolution]:
        """Try every open operation once; what was decided and what still is not.

        One operation at a time under the till's provider lock (inflight.py):
        a cashier step in flight finishes first, and an operation it settled
        meanwhile is skipped.
        """
        results = []
        for listed in self.open_ops():
            result = await exclusively(self.session, lambda op_id=listed.id: self._try(op_id))
            if result is not None:
                results.append(result)
        self.session.reload()
        return results

    async def _try(self, op_id: int) -> Resolution | None:
        current = [op for op in self.open_ops() if op.id == op_id]
        if not current:
            return None  # settled by a cashier step while this run waited
        result = await journaled.settle(self.session, current[0])
        return Resolution(op_id, outcome_text(self.session, result), result.decision is not Decision.UNDECIDED,
                          current[0].operation, result.until)

    def next_check_in(self) -> float | None:
        """Seconds until the till should look again by itself; None when nothing is open.

        An operation waiting out its settle window is looked at when the window
        ends; others every ``RETRY_S``.
        """
        ops = self.open_ops()
        if not ops:
            return None
        now = self.session.utcnow()
        waits = []
        for op in ops:
            left = (journaled.deadline(self.session, op) - now).total_seconds()
            waits.append(left if left > 0 else RETRY_S)
        return max(SOONEST_S, min(min(waits), RETRY_S))
