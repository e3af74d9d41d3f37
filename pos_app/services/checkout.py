"""The checkout use cases: scan, pay cash or card, void, cancel, close, print.

The Till is a facade: it owns the session (journal, providers, the open
order) and wires the desks, each given only what it needs: vouchers
(tenders), gifts (value lines), closing, storno, reconciliation. Every change
is written to the journal first (one transaction), then the current order is
read back from the journal, so what the cashier sees is always what a
restarted till would see.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from collections.abc import Callable
from datetime import datetime

from drivers.drawer import CashDrawer
from drivers.printer import PaperStatus, PrinterError, ReceiptPrinter, StatusPrinter
from pos_app.config import Config
from pos_app.domain.catalog import Catalog
from pos_app.domain.codes import ScanError, mask_code, parse_scan
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, Order, Tender, TenderKind
from pos_app.i18n import _, ngettext
from pos_app.journal import JournalStore, ReceiptRecord
from pos_app.providers import OpKind
from pos_app.receipts import (
    Receipt,
    Templates,
    balance_slip,
    cancel_slip,
    mark_copy,
    sale_receipt,
    void_receipt,
)
from pos_app.services.closing import Closer
from pos_app.services.digital import DigitalDesk, DigitalOffer
from pos_app.services.gifts import GiftDesk
from pos_app.services.inflight import provider_call
from pos_app.services.providers import ProviderSlot, build_providers, close_providers
from pos_app.services.reconcile import Recovery
from pos_app.services.reports import ReportDesk
from pos_app.services.results import (
    CheckoutError,
    Closed,
    Level,
    Notice,
    Outcome,
    PrintOutcome,
)
from pos_app.services.session import Session
from pos_app.services.storno import Storno, VoidPlan
from pos_app.services.vouchers import VoucherCheck, VoucherDesk

__all__ = ["CheckoutError", "Closed", "Level", "Notice", "Outcome", "PrintOutcome", "Till"]


class Till:
    def __init__(
        self,
        config: Config,
        catalog: Catalog,
        journal: JournalStore,
        printer: ReceiptPrinter,
        templates: Templates,
        providers: dict[str, ProviderSlot] | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.printer = printer
        self.templates = templates
        self.vat_rates = frozenset(p.vat_rate for p in catalog.products.values())  # fix the VAT letters
        self.max_cash_given = config.money(config.checkout.max_cash_given)
        self.max_gift_voucher = config.money(config.checkout.max_gift_voucher)
        self.printer_ok: bool | None = None  # None: nothing printed yet
        self.printer_message = printer.description
        self.paper_low = False  # the last receipt's paper check said: near end
        self.session = Session(config, journal, providers or {}, clock)
        self.gifts = GiftDesk(self.session)
        self.digital = DigitalDesk(self.session)
        self.closer = Closer(self.session, self.gifts, self._render_sale)
        self.vouchers = VoucherDesk(self.session, self.closer.close_if_settled)
        self.closer.renew = self.vouchers.renew
        self.storno = Storno(self.session, self.vouchers, self.gifts, self.store_void_receipt)
        self.recovery = Recovery(self.session)
        self.reports = ReportDesk(config, journal, templates, self.paper, clock)

    # -- the session, as the screens and tests see it ---------------------------
    @property
    def journal(self) -> JournalStore:
        return self.session.journal

    @property
    def providers(self) -> dict[str, ProviderSlot]:
        return self.session.providers

    @property
    def currency(self) -> str:
        return self.session.currency

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.session.clock

    @property
    def order(self) -> Order:
        return self.session.order

    @property
    def order_id(self) -> int:
        return self.session.order_id

    @property
    def recovered(self) -> bool:
        return self.session.recovered

    @property
    def last_closed(self) -> Closed | None:
        return self.session.last_closed

    @last_closed.setter
    def last_closed(self, value: Closed | None) -> None:
        self.session.last_closed = value

    @property
    def calls_in_flight(self) -> int:
        return self.session.calls_in_flight

    @property
    def provider_lock(self) -> asyncio.Lock:
        return self.session.provider_lock

    def reload(self) -> Order:
        """Read the current order back from the journal (the source of truth)."""
        return self.session.reload()

    guard = staticmethod(Session.guard)

    @provider_call
    async def reload_providers(self) -> str:
        """Read the keys again (F12 after `pos keys set`); simulators keep their state.

        Under the provider lock: a call in flight keeps its connection. The new
        clients are put in before the old ones are closed.
        """
        fresh = await asyncio.to_thread(build_providers, self.config)  # the keyring may hang
        replaced = {name: slot for name, slot in self.providers.items()
                    if slot.simulator is None and name in fresh}
        kept = {name: slot for name, slot in fresh.items()
                if name not in replaced and name in self.providers}  # simulators: keep the running one
        for name, slot in fresh.items():
            if name not in kept:
                self.providers[name] = slot
        states = [_("{provider}: {state}").format(provider=s.display_name, state=s.problem or _("ready"))
                  for s in self.providers.values()]
        await close_providers(replaced)
        await close_providers(kept)
        return _("Keys reloaded — {states}").format(states="; ".join(states))

    # -- reading --------------------------------------------------------------
    @property
    def next_number(self) -> str:
        """The number of the open order: its own if closing it began, else the next one."""
        if self.order.number is not None:
            return self.order.number
        return self.journal.format_number(self.journal.next_number())

    def startup_notice(self) -> Notice | None:
        """What the cashier must know at start, each on its own line: a recovered order,
        a provider that is off and why (the keyring password not given, …), receipts
        not printed. One did hide another when only the first was said."""
        parts = []
        if self.recovered and not self.order.is_empty:
            lines = len(self.order.active_lines)
            parts.append(ngettext("Open order recovered from the journal: {count} line, {amount} still to pay",
                                  "Open order recovered from the journal: {count} lines, {amount} still to pay",
                                  lines).format(count=lines, amount=self.order.remaining.shown_with_currency()))
        parts.extend(slot.problem for slot in self.providers.values() if slot.problem)
        unprinted = self.journal.unprinted_receipts()
        if unprinted:
            parts.append(ngettext("{count} receipt not printed yet — F7 prints it",
                                  "{count} receipts not printed yet — F7 prints them",
                                  len(unprinted)).format(count=len(unprinted)))
        return Notice("\n".join(parts), Level.WARNING) if parts else None

    def parse_amount(self, text: str) -> Money:
        try:
            return Money.parse(text, self.currency)
        except MoneyError as exc:
            raise CheckoutError(_("Amount: {problem}").format(problem=exc)) from None

    # -- scanning -------------------------------------------------------------
    def scan(self, raw: str) -> Outcome:
        try:
            scan = parse_scan(raw)
        except ScanError as exc:
            message = str(exc)  # "GS1 barcode: the GTIN ..." keeps its capitals
            raise CheckoutError(message[:1].upper() + message[1:]) from None
        product = self.catalog.get(scan.code)
        if product is None and scan.quantity == 1 and self.vouchers.looks_like_voucher(scan.code):
            return Outcome(Notice(_("Voucher {code} scanned").format(code=mask_code(scan.code))),
                           voucher_code=scan.code)
        if product is None:
            shown = scan.code if len(scan.code) <= 32 else scan.code[:29] + "..."
            raise CheckoutError(_("Unknown barcode {code!r} — nothing added").format(code=shown))
        line = Line(0, product.ean, product.name, scan.quantity, product.price, product.vat_rate)
        self.guard(lambda: self.order.check_add_line(line))
        self.journal.add_line(self.order_id, line)
        self.reload()
        self.last_closed = None
        total = line.total.shown()
        if scan.quantity > 1:
            return Outcome(Notice(_("Added {quantity} × {name}  {total}").format(
                quantity=scan.quantity, name=product.name, total=total)))
        return Outcome(Notice(_("Added {name}  {total}").format(name=product.name, total=total)))

    # -- tenders --------------------------------------------------------------
    @provider_call
    async def pay_cash(self, given: Money) -> Outcome:
        if given.minor > self.max_cash_given.minor:
            raise CheckoutError(
                _("{given} is more than the {limit} a till accepts at once — check the amount").format(
                    given=given.shown_with_currency(), limit=self.max_cash_given.shown_with_currency())
            )
        plan = self.guard(lambda: self.order.plan_cash(given))
        tender = Tender(0, TenderKind.CASH, plan.amount, given=plan.given,
                        change=plan.change, rounding=plan.rounding)
        notice = Notice(_("Cash {amount} taken").format(amount=given.shown()))
        closed = self.closer.close_with_tender(tender, notice)
        if closed is not None:
            return closed
        self.journal.add_tender(self.order_id, tender)
        self.reload()
        return await self.closer.close_if_settled(notice)

    @provider_call
    async def pay_card(self, amount: Money) -> Outcome:
        self.guard(lambda: self.order.check_card(amount))
        tender = Tender(0, TenderKind.CARD, amount)
        notice = Notice(_("Card {amount} confirmed").format(amount=amount.shown()))
        closed = self.closer.close_with_tender(tender, notice)
        if closed is not None:
            return closed
        self.journal.add_tender(self.order_id, tender)
        self.reload()
        return await self.closer.close_if_settled(notice)

    # -- voids and cancel -----------------------------------------------------
    @provider_call
    async def void_line(self, line_id: int) -> Outcome:
        """Void a line. A gift voucher removed after payment leaves change due; the order closes."""
        if self.guard(lambda: self.order.line(line_id)).kind.is_value:
            try:  # an activation whose answer was lost: did it happen? (then it cannot just go)
                await self.gifts.settle_open_ops(self.order)
            except CheckoutError as exc:
                raise CheckoutError(_("Not removed — {problem}; try again when the provider answers").format(
                    problem=exc)) from None
        line = self.guard(lambda: self.order.check_void_line(line_id))
        self.journal.void_line(self.order_id, line_id)
        self.reload()
        notice = Notice(_("Voided {quantity} × {name}").format(quantity=line.quantity, name=line.name))
        if self.order.is_settled:
            return await self.closer.close_if_settled(
                Notice(_("{text} — change recomputed").format(text=notice.text), Level.WARNING))
        return Outcome(notice)

    @provider_call
    async def finish(self) -> Outcome:
        """Close a paid order whose closing failed before (e.g. a gift voucher activation)."""
        if not self.order.is_settled:
            raise CheckoutError(_("{amount} still to pay").format(amount=self.order.remaining.shown_with_currency())
                                if self.order.active_lines else _("Scan a product"))
        return await self.closer.close_if_settled(Notice(_("Closing the order again")))

    def check_store_credit(self, item: DigitalOffer) -> Money:
        """The refund of the last sale that ``item`` would be issued for, if it can be."""
        if not self.order.is_empty:
            raise CheckoutError(_("Finish or cancel the open order first"))
        plan = self.storno.plan()
        refund = plan.refund
        if refund.minor <= 0:
            raise CheckoutError(_("Sale {number} has no cash or card refund to give as store credit").format(
                number=plan.number))
        if not item.offer.allows(refund):
            low, high = item.offer.minimum, item.offer.maximum
            limits = (_("{low} to {high}").format(low=low.shown(), high=high.shown()) if low and high
                      else ", ".join(a.shown() for a in item.offer.amounts))
            raise CheckoutError(_("A refund of {amount} cannot be a {name} ({limits}) — give it back in cash or "
                                  "on the card").format(amount=refund.shown_with_currency(),
                                                        name=item.offer.name, limits=limits))
        return refund

    @provider_call
    async def void_as_store_credit(self, item: DigitalOffer, details: dict[str, str]) -> Outcome:
        """Void the last sale and give its cash and card refund as store credit: a
        voucher (``item``, e.g. Celbux's voucher by SMS) on a new order, paid by
        that refund (a cash and a card tender of the amounts not given back, so the
        drawer and the card totals net to nothing), issued when the order closes."""
        refund = self.check_store_credit(item)
        plan = self.storno.plan()
        voided = await self.storno.run(credit=True)
        self.digital.add(item, refund, details)
        if plan.card_back:
            self.journal.add_tender(self.order_id, Tender(0, TenderKind.CARD, plan.card_back))
            self.reload()
        if plan.cash_back:
            cash = self.guard(lambda: self.order.plan_cash(plan.cash_back))
            self.journal.add_tender(self.order_id, Tender(0, TenderKind.CASH, cash.amount, given=cash.given,
                                                          change=cash.change, rounding=cash.rounding))
            self.reload()
        outcome = await self.closer.close_if_settled(voided.notice)
        first = (voided.receipt_id,) if voided.receipt_id is not None else ()
        closed = outcome.closed
        if closed is not None:
            closed = replace(closed, cash=False)  # no cash moves: the drawer stays shut
            number = closed.number
            outcome = replace(outcome, closed=closed, notice=Notice(
                _("{voided} — store credit order {number} closed").format(voided=voided.notice.text, number=number),
                outcome.notice.level))
        return replace(outcome, print_first=first)

    @provider_call
    async def void_tender(self, tender_id: int) -> Outcome:
        tender = self.guard(lambda: self.order.check_void_tender(tender_id))
        if tender.kind is TenderKind.VOUCHER:
            return await self.vouchers.void(tender_id)
        self.journal.void_tender(self.order_id, tender_id)
        self.reload()
        text = _("Cash payment {amount} voided — hand the cash back") if tender.kind is TenderKind.CASH else \
            _("Card payment {amount} voided — refund it on the card terminal")
        return Outcome(Notice(text.format(amount=tender.amount.shown()), Level.WARNING))

    @provider_call
    async def cancel_order(self) -> Outcome:
        self.guard(self.order.check_cancel)
        if self.order.is_empty:
            raise CheckoutError(_("The order is empty — nothing to cancel"))
        # Gift vouchers already activated (another one's activation failed at close):
        # lost answers settled first, then each checked before anything is undone.
        try:
            await self.gifts.settle_open_ops(self.order)
            live = self.gifts.live_gift_vouchers(self.order)
            await self.gifts.check_undoable(live)
        except CheckoutError as exc:
            raise CheckoutError(_("Order not cancelled — {problem}. Nothing was changed").format(problem=exc)) from None
        failures = await self.vouchers.void_all()
        if failures:
            raise CheckoutError(_("Order not cancelled — {problems}").format(problems="; ".join(failures)))
        failures = await self.gifts.undo_open_order()
        if failures:
            raise CheckoutError(_("Order not cancelled — {problems}. F9 tries again").format(
                problems="; ".join(failures)))
        given_back = [t for t in self.order.active_tenders if t.counts]
        lapsing = self._lapsing_holds()
        receipt_id = self.journal.cancel_order(self.order_id, receipt=self._cancel_slip())  # one commit
        self.session.start_new_order()
        text = _("Order cancelled")
        if live:
            vouchers = ", ".join(f"{mask_code(line.code or '')} {self._done_word(line.provider)}" for line in live)
            text += " — " + ngettext("gift voucher {vouchers}", "gift vouchers {vouchers}",
                                     len(live)).format(vouchers=vouchers)
        if given_back:
            parts = ", ".join(f"{t.kind.label} {t.amount.shown()}" for t in given_back)
            text += " — " + _("return the payments taken: {payments}").format(payments=parts)
        if lapsing:
            text += " — " + lapsing
        return Outcome(Notice(text, Level.WARNING), receipt_id=receipt_id)

    def _lapsing_holds(self) -> str:
        """Voucher holds of the open order dropped on the till's side only: the provider
        keeps each voucher blocked until its hold lapses (JTL). "" when there are none."""
        held = []
        for op in self.journal.ops(order_id=self.order_id):
            lapses_at = op.result.get("lapses_at") if op.operation == OpKind.VOID.value else None
            if lapses_at and op.state in ("ok", "done"):
                held.append(_("{provider} keeps voucher {code} blocked until {time}").format(
                    provider=self.session.display_name(op.provider), code=mask_code(op.code),
                    time=f"{datetime.fromisoformat(lapses_at).astimezone():%H:%M}"))
        return "; ".join(held)

    def _cancel_slip(self) -> tuple[str, bytes] | None:
        """The customer's slip of the voucher payments of the open order whose money the
        provider gave back (from the journal: also those given back before a crash or a
        failed cancel), each with its balance after; None when there were none."""
        done = (OpKind.VOID.value, OpKind.REFUND.value)
        given_back = [t for t in self.order.tenders if t.kind is TenderKind.VOUCHER and t.voided and any(
            op.operation in done and op.state in ("ok", "done") for op in self.journal.ops(tender_id=t.id))]
        if not given_back:
            return None
        slip = cancel_slip(order=self.order, given_back=given_back, config=self.config,
                           templates=self.templates, when=self.clock(), number=self.next_number)
        return slip.text(), self.paper(slip)

    def _done_word(self, provider: str | None) -> str:
        slot = self.providers.get(provider or "")
        return slot.done_word(OpKind.UNDO) if slot else _("taken back")

    async def close_if_settled(self, notice: Notice) -> Outcome:
        return await self.closer.close_if_settled(notice)

    # -- printing -------------------------------------------------------------
    async def print_receipt(self, receipt_id: int) -> PrintOutcome:
        """Send a stored receipt to the printer from a worker thread."""
        record = self.journal.receipt(receipt_id)
        data = record.escpos if record.printed_at is None else mark_copy(  # printed before: a COPY
            record.escpos, width=self.config.printer.width, profile=self.config.printer.profile,
            codepage=self.config.printer.codepage)
        try:
            await asyncio.to_thread(self.printer.send, data)
        except PrinterError as exc:
            self.journal.mark_print_failed(receipt_id, str(exc))
            self.printer_ok = False
            self.printer_message = str(exc)
            return PrintOutcome(receipt_id, False, Notice(
                _("Receipt not printed: {problem}. The sale is saved; F7 prints it again.").format(problem=exc),
                Level.ERROR))
        doubt = await self._paper_check()
        if doubt is not None:  # sent, but the printer may not have printed it: F7 offers it again
            self.journal.mark_print_failed(receipt_id, doubt)
            self.printer_ok = False
            self.printer_message = doubt
            return PrintOutcome(receipt_id, False, Notice(
                _("Receipt may not have printed: {problem}. The sale is saved; F7 prints it again.").format(
                    problem=doubt),
                Level.ERROR))
        self.journal.mark_printed(receipt_id)
        self.printer_ok = True
        self.printer_message = self.printer.description
        if self.paper_low:
            return PrintOutcome(receipt_id, True, Notice(
                _("Receipt printed — paper is running low: put in a new roll soon"), Level.WARNING))
        return PrintOutcome(receipt_id, True, Notice(_("Receipt printed")))

    async def _paper_check(self) -> str | None:
        """Ask the paper sensor after a receipt, where the printer can tell (in a thread).

        Why the receipt may not have printed, or None. A printer that takes the
        bytes and then hangs up, is out of paper, or does not answer cannot be
        told apart (``paper_status()`` is 0 for all): the receipt is kept for F7.
        ``[printer] check_paper = false`` is for printers that never answer.
        """
        self.paper_low = False
        if not isinstance(self.printer, StatusPrinter) or not self.config.printer.check_paper:
            return None
        try:
            status = await asyncio.to_thread(self.printer.paper_status)
        except PrinterError as exc:
            return _("{problem}; check the printer").format(problem=exc)
        if status is PaperStatus.OUT_OR_NO_ANSWER:
            return _("the printer reports paper out, or did not answer the status query; check it")
        self.paper_low = status is PaperStatus.NEAR_END
        return None

    async def open_drawer(self, reason: str, order_id: int | None = None) -> Notice:
        """Kick the cash drawer (through the printer) and journal it; "no_sale" from F12."""
        settings = self.config.drawer
        if not settings.enabled:
            return Notice(_("No cash drawer is configured ([drawer] enabled = true)"), Level.WARNING)
        drawer = CashDrawer(self.printer, settings.pin, settings.on_ms, settings.off_ms)
        self.journal.record("no_sale" if reason == "no_sale" else "drawer_opened",
                            {"reason": reason}, order_id)
        try:
            await asyncio.to_thread(drawer.open)
        except PrinterError as exc:
            self.journal.record("drawer_failed", {"reason": reason, "error": str(exc)}, order_id)
            return Notice(str(exc), Level.ERROR)
        return Notice(_("Drawer opened (no sale)") if reason == "no_sale" else _("Drawer opened"))

    def paper(self, receipt: Receipt) -> bytes:
        """The ESC/POS bytes of a receipt for this till's printer profile and code page."""
        return receipt.escpos(self.config.printer.profile, self.config.printer.codepage)

    def _render_sale(self, order: Order, number: str, when: datetime) -> tuple[str, bytes]:
        receipt = sale_receipt(order, number, self.config, self.templates, when, vat_rates=self.vat_rates)
        return receipt.text(), self.paper(receipt)

    def store_balance_slip(self, check: VoucherCheck) -> int:
        """Build and keep a balance slip; print it with ``print_receipt``."""
        b = check.balance
        slip = balance_slip(provider=check.display_name, code=b.code, redeemable=b.redeemable,
                            balance=b.balance, total=b.total, message=b.message, config=self.config,
                            templates=self.templates, when=self.clock())
        return self.journal.store_receipt("balance", slip.text(), self.paper(slip))

    def store_void_receipt(self, plan: VoidPlan) -> int:
        """Mark the planned sale voided and keep its void receipt (one transaction)."""
        receipt = void_receipt(order=plan.order, number=plan.number, cash_back=plan.cash_back,
                               card_back=plan.card_back, config=self.config, templates=self.templates,
                               when=self.clock(), balances=plan.balances, credit=plan.credit)
        return self.journal.void_closed_order(plan.order.id, receipt.text(),
                                              self.paper(receipt))

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
