"""What the journal hands back: operation and receipt records, operation states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pos_app.domain.money import Money


class JournalError(RuntimeError):
    """The journal cannot be used; the message says what to do."""


class JournalWriteError(JournalError):
    """The journal could not be written: the disk is full, the journal or its folder
    is read-only, an input/output error, or another program holds it.

    Nothing saved before is lost: the step that failed was rolled back as a
    whole. The message says what is wrong and how to fix it, for the shop
    owner; ``reason`` is one of ``full``, ``read_only``, ``io``, ``busy``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class JournalBehindError(JournalError):
    """The journal has fewer orders than this till is known to have numbered (a copy
    without its ``-wal``, an old backup): starting on it would reuse order numbers."""

    def __init__(self, message: str, journal_number: int, known_number: int) -> None:
        super().__init__(message)
        self.journal_number = journal_number
        self.known_number = known_number


class OpState:
    """States of a provider operation row."""

    SENT = "sent"  # intent committed, request (maybe) on its way
    OK = "ok"  # provider answered: done
    FAILED = "failed"  # provider answered or could not be reached: not done
    UNKNOWN = "unknown"  # sent, no usable answer: must be reconciled
    DONE = "done"  # was unknown, reconciliation found it happened
    NOT_DONE = "not_done"  # was unknown, reconciliation found it did not happen

    OPEN = (SENT, UNKNOWN)


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One provider operation as journaled: the intent, then its outcome."""

    id: int
    outlet: str
    till: str
    reference: str
    order_id: int | None
    tender_id: int | None
    line_id: int | None
    provider: str
    operation: str  # OpKind value: authorize, capture, void, refund, create, undo
    code: str
    amount: Money | None
    request: dict[str, Any]
    before: dict[str, Any] | None  # the provider state read just before the send
    before_at: str | None
    state: str
    refs: dict[str, str]
    result: dict[str, Any]
    error: str | None
    flag: str | None  # a contradicting answer or a late contradiction (F12)
    settle_by: str | None  # not "did not happen" before this time (ISO, UTC)
    checks: int
    checked_at: str | None
    sent_at: str
    ended_at: str | None

    @property
    def is_open(self) -> bool:
        return self.state in OpState.OPEN


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    id: int
    order_id: int | None
    kind: str
    text: str
    escpos: bytes
    created_at: str
    printed_at: str | None
    print_error: str | None


@dataclass(frozen=True, slots=True)
class ClosedOrder:
    """What closing an order committed: its number, its receipt, and the order
    that started in the same transaction (None when none was asked for)."""

    number: int
    receipt_id: int
    next_order_id: int | None


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """An X or Z report as journaled: its period (events ``from_event < id <= to_event``,
    times ``period_from`` .. ``period_to``) and its figures (JSON text), as computed
    when it was made."""

    id: int
    kind: str  # "X" or "Z"
    number: int
    from_event: int
    to_event: int
    period_from: str | None
    period_to: str
    figures: str
    receipt_id: int | None
    created_at: str


class DayCloseRefused(JournalError):
    """A Z report cannot be made now: ``undecided`` provider operations are open or
    ``open_orders`` orders have something on them."""

    def __init__(self, undecided: int, open_orders: int) -> None:
        super().__init__(f"day close refused: {undecided} undecided, {open_orders} open")
        self.undecided = undecided
        self.open_orders = open_orders


@dataclass(frozen=True, slots=True)
class TillZ:
    """A till's Z report as it reached the journal server (forwarded by the till)."""

    till: str
    number: int
    period_from: str | None
    period_to: str
    figures: str  # JSON, as the till made it


@dataclass(frozen=True, slots=True)
class StoreZRecord:
    """A store Z report: the sum of the till Z reports ``tills`` ((till, Z number), ...)
    not in an earlier store Z of the outlet; numbered per outlet without gaps."""

    number: int
    tills: tuple[tuple[str, int], ...]
    figures: str  # JSON
    created_at: str


class NothingToClose(JournalError):
    """No till Z report waits for a store Z (``last``: the last store Z's number, 0: none)."""

    def __init__(self, last: int) -> None:
        super().__init__(f"no till Z report since store Z {last}")
        self.last = last


class StoreDayChanged(JournalError):
    """A store Z not made: what waits is not what the shop owner confirmed, or another
    store Z of the outlet is being made (the message says which)."""
