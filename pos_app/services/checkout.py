"""The checkout use cases: scan, pay cash or card, void, cancel, close, print.

Every change is written to the journal first (one transaction), then the
current order is read back from the journal, so what the cashier sees is
always what a restarted till would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from drivers.printer import PrinterError, ReceiptPrinter
from pos_app.config import Config
from pos_app.domain.catalog import Catalog
from pos_app.domain.codes import ScanError, parse_scan
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, Order, OrderError, Tender, TenderKind
from pos_app.journal import Journal, ReceiptRecord
from pos_app.receipts import Templates, sale_receipt

T = TypeVar("T")


class CheckoutError(ValueError):
    """A request the till refuses; the message is for the cashier as it stands."""


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


@dataclass(frozen=True, slots=True)
class Outcome:
    notice: Notice
    closed: Closed | None = None


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    receipt_id: int
    ok: bool
    notice: Notice


class Till:
    def __init__(
        self,
        config: Config,
        catalog: Catalog,
        journal: Journal,
        printer: ReceiptPrinter,
        templates: Templates,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.journal = journal
        self.printer = printer
        self.templates = templates
        self.clock = clock
        self.currency = config.outlet.currency
        self.max_cash_given = config.money(config.checkout.max_cash_given)
        self.last_closed: Closed | None = None
        self.printer_ok: bool | None = None  # None: nothing printed yet
        self.printer_message = printer.description
        recovered = journal.open_order_id()
        self.recovered = recovered is not None
        self._order_id = recovered if recovered is not None else journal.start_order(self.currency)
        self.order: Order = journal.load_order(self._order_id)

    # -- reading --------------------------------------------------------------
    def _reload(self) -> Order:
        self.order = self.journal.load_order(self._order_id)
        return self.order

    @property
    def next_number(self) -> str:
        return self.journal.format_number(self.journal.next_number())

    def startup_notice(self) -> Notice | None:
        if self.recovered and not self.order.is_empty:
            lines = len(self.order.active_lines)
            return Notice(
                f"Open order recovered from the journal: {lines} line{'s' if lines != 1 else ''}, "
                f"{self.order.remaining} still to pay",
                Level.WARNING,
            )
        unprinted = self.journal.unprinted_receipts()
        if unprinted:
            return Notice(f"{len(unprinted)} receipt(s) not printed yet — F7 prints them", Level.WARNING)
        return None

    def parse_amount(self, text: str) -> Money:
        try:
            return Money.parse(text, self.currency)
        except MoneyError as exc:
            raise CheckoutError(f"Amount: {exc}") from None

    # -- scanning -------------------------------------------------------------
    def scan(self, raw: str) -> Outcome:
        try:
            scan = parse_scan(raw)
        except ScanError as exc:
            raise CheckoutError(str(exc).capitalize()) from None
        product = self.catalog.get(scan.code)
        if product is None:
            shown = scan.code if len(scan.code) <= 32 else scan.code[:29] + "..."
            raise CheckoutError(f"Unknown barcode {shown!r} — nothing added")
        line = Line(0, product.ean, product.name, scan.quantity, product.price, product.vat_rate)
        self._guard(lambda: self.order.check_add_line(line))
        self.journal.add_line(self._order_id, line)
        self._reload()
        self.last_closed = None
        qty = f"{scan.quantity} × " if scan.quantity > 1 else ""
        return Outcome(Notice(f"Added {qty}{product.name}  {line.total.amount_str()}"))

    # -- tenders --------------------------------------------------------------
    def pay_cash(self, given: Money) -> Outcome:
        if given.minor > self.max_cash_given.minor:
            raise CheckoutError(
                f"{given} is more than the {self.max_cash_given} a till accepts at once — check the amount"
            )
        plan = self._guard(lambda: self.order.plan_cash(given))
        tender = Tender(0, TenderKind.CASH, plan.amount, given=plan.given,
                        change=plan.change, rounding=plan.rounding)
        self.journal.add_tender(self._order_id, tender)
        self._reload()
        notice = Notice(f"Cash {given.amount_str()} taken")
        return self._close_if_settled(notice)

    def pay_card(self, amount: Money) -> Outcome:
        self._guard(lambda: self.order.check_card(amount))
        self.journal.add_tender(self._order_id, Tender(0, TenderKind.CARD, amount))
        self._reload()
        return self._close_if_settled(Notice(f"Card {amount.amount_str()} confirmed"))

    # -- voids and cancel -----------------------------------------------------
    def void_line(self, line_id: int) -> Outcome:
        line = self._guard(lambda: self.order.check_void_line(line_id))
        self.journal.void_line(self._order_id, line_id)
        self._reload()
        return Outcome(Notice(f"Voided {line.quantity} × {line.name}"))

    def void_tender(self, tender_id: int) -> Outcome:
        tender = self._guard(lambda: self.order.check_void_tender(tender_id))
        self.journal.void_tender(self._order_id, tender_id)
        self._reload()
        label = "Cash" if tender.kind is TenderKind.CASH else "Card"
        hint = " — hand the cash back" if tender.kind is TenderKind.CASH else " — refund it on the card terminal"
        return Outcome(Notice(f"{label} payment {tender.amount.amount_str()} voided{hint}", Level.WARNING))

    def cancel_order(self) -> Outcome:
        self._guard(self.order.check_cancel)
        if self.order.is_empty:
            raise CheckoutError("The order is empty — nothing to cancel")
        given_back = list(self.order.active_tenders)
        self.journal.cancel_order(self._order_id)
        self._start_new_order()
        text = "Order cancelled"
        if given_back:
            parts = ", ".join(f"{t.kind.value} {t.amount.amount_str()}" for t in given_back)
            text += f" — return the payments taken: {parts}"
        return Outcome(Notice(text, Level.WARNING))

    # -- closing and printing -------------------------------------------------
    def _close_if_settled(self, notice: Notice) -> Outcome:
        if not self.order.is_settled:
            return Outcome(Notice(f"{notice.text} — {self.order.remaining.amount_str()} still to pay"))
        order = self.order
        order.check_close()
        when = self.clock()

        def render(number: str) -> tuple[str, bytes]:
            receipt = sale_receipt(order, number, self.config, self.templates, when)
            return receipt.text(), receipt.escpos(self.config.printer.profile)

        number, receipt_id = self.journal.close_order(self._order_id, render)
        closed = Closed(self.journal.format_number(number), receipt_id, order.total, order.change)
        self.last_closed = closed
        self._start_new_order()
        text = f"Order {closed.number} closed"
        if closed.change:
            text += f" — change {closed.change}"
        return Outcome(Notice(text), closed)

    def _start_new_order(self) -> None:
        self._order_id = self.journal.start_order(self.currency)
        self._reload()

    async def print_receipt(self, receipt_id: int) -> PrintOutcome:
        """Send a stored receipt to the printer from a worker thread."""
        record = self.journal.receipt(receipt_id)
        try:
            await asyncio.to_thread(self.printer.send, record.escpos)
        except PrinterError as exc:
            self.journal.mark_print_failed(receipt_id, str(exc))
            self.printer_ok = False
            self.printer_message = str(exc)
            return PrintOutcome(receipt_id, False, Notice(
                f"Receipt not printed: {exc}. The sale is saved; F7 prints it again.", Level.ERROR))
        self.journal.mark_printed(receipt_id)
        self.printer_ok = True
        self.printer_message = self.printer.description
        return PrintOutcome(receipt_id, True, Notice("Receipt printed"))

    def receipts_to_reprint(self) -> list[ReceiptRecord]:
        """Unprinted receipts first (oldest first); otherwise the last one."""
        unprinted = self.journal.unprinted_receipts()
        if unprinted:
            return unprinted
        last = self.journal.last_receipt()
        return [last] if last else []

    def last_receipt_text(self) -> str | None:
        last = self.journal.last_receipt()
        return last.text if last else None

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def _guard(check: Callable[[], T]) -> T:
        try:
            return check()
        except OrderError as exc:
            message = str(exc)
            raise CheckoutError(message[:1].upper() + message[1:]) from None
