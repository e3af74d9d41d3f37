"""What use cases answer the UI: notices, closed orders, print outcomes, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from pos_app.domain.money import Money


class CheckoutError(ValueError):
    """A request the till refuses; the message is for the cashier as it stands."""


class Undecided(CheckoutError):
    """A provider operation whose outcome is not known yet: it stays open, its
    voucher blocked, and the till looks again by itself."""


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    level: Level = Level.INFO


@dataclass(frozen=True, slots=True)
class Closed:
    """An order that just closed: what the cashier must still do or see."""

    number: str
    receipt_id: int
    total: Money
    change: Money
    cash: bool = False  # a cash tender: the drawer opens


@dataclass(frozen=True, slots=True)
class Confirm:
    """A step the till proposes and the cashier must confirm first (a lapsed hold
    taken again): the screen asks ``question``; yes runs ``step``."""

    title: str
    question: str
    yes: str
    no: str
    step: Callable[[], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Outcome:
    notice: Notice
    closed: Closed | None = None
    voucher_code: str | None = None  # a scan that is a voucher code: open the voucher dialog
    receipt_id: int | None = None  # a receipt to print now (e.g. a void receipt)
    confirm: Confirm | None = None  # ask the cashier, then run its step
    print_first: tuple[int, ...] = ()  # receipts to print before this one's (a void before the store credit)


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    receipt_id: int
    ok: bool
    notice: Notice
