"""What the journal hands back: operation and receipt records, operation states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pos_app.domain.money import Money


class JournalError(RuntimeError):
    """The journal cannot be used; the message says what to do."""


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
