"""Voiding the last closed sale ("storno"): every reversal is checked first
(can each value line be undone, does each voucher payment have what its void
needs), and only then done, so a refusal stops it before anything is
half-undone. A void that stopped half-way is continued by F9 again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pos_app.domain.codes import mask_code
from pos_app.i18n import _
from pos_app.domain.money import Money
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.journal import OpState
from pos_app.providers import OpKind
from pos_app.services import journaled
from pos_app.services.gifts import GiftDesk
from pos_app.services.inflight import provider_call
from pos_app.services.journaled import Decision
from pos_app.services.results import CheckoutError, Level, Notice, Outcome
from pos_app.services.session import Session
from pos_app.services.vouchers import VoucherDesk, lost_refs
from pos_app.services.wording import describe


@dataclass(slots=True)
class VoidPlan:
    """What voiding the last closed sale will do, shown before the cashier confirms."""

    order: Order
    number: str
    deactivate: list[Line] = field(default_factory=list)
    cancel: list[Tender] = field(default_factory=list)
    cash_back: Money | None = None
    card_back: Money | None = None
    undone_words: dict[int, str] = field(default_factory=dict)  # line id -> "deactivated"
    # tender id -> the voucher's balance after its payment was cancelled (the provider's
    # answer), for the void receipt; filled once the cancellations are done
    balances: dict[int, Money] = field(default_factory=dict)
    # the refund given as store credit (a voucher issued to the customer) instead of
    # cash and card back: set when the cashier chose it
    credit: Money | None = None

    @property
    def refund(self) -> Money:
        """What the customer gets back in cash and on the card (0 if nothing)."""
        zero = Money.zero(self.order.currency)
        return (self.cash_back or zero) + (self.card_back or zero)

    def summary(self) -> str:
        parts = [_("Void sale {number} (total {total})?").format(
            number=self.number, total=self.order.total.shown_with_currency())]
        for line in self.deactivate:
            if line.kind is LineKind.DIGITAL:
                parts.append(_("{name} {amount} is {done}.").format(
                    name=line.name, amount=line.total.shown(), done=self.undone_words.get(line.id) or _("taken back")))
                continue
            if line.kind is LineKind.TOP_UP:
                parts.append(_("The top-up of voucher {code} ({amount}) is taken back.").format(
                    code=mask_code(line.code or ""), amount=line.total.shown()))
                continue
            done = self.undone_words.get(line.id) or _("taken back")
            parts.append(_("Gift voucher {code} {amount} is {done}.").format(
                code=mask_code(line.code or ""), amount=line.total.shown(), done=done))
        for tender in self.cancel:
            parts.append(_("Voucher {code} gets {amount} back.").format(
                code=mask_code(tender.code or ""), amount=tender.amount.shown()))
        if self.cash_back:
            parts.append(_("Give back cash {amount}.").format(amount=self.cash_back.shown_with_currency()))
        if self.card_back:
            parts.append(_("Refund {amount} on the card terminal.").format(
                amount=self.card_back.shown_with_currency()))
        return "\n".join(parts)


class Storno:
    def __init__(self, session: Session, vouchers: VoucherDesk, gifts: GiftDesk,
                 store_void_receipt: Callable[[VoidPlan], int]) -> None:
        self.session = session
        self.vouchers = vouchers
        self.gifts = gifts
        self.store_void_receipt = store_void_receipt

    def plan(self) -> VoidPlan:
        journal = self.session.journal
        order_id = journal.last_closed_order_id()
        if order_id is None:
            raise CheckoutError(_("No closed sale to void"))
        if journal.order_voided_at(order_id):
            raise CheckoutError(_("The last sale is already voided"))
        order = journal.load_order(order_id)
        assert order.number is not None
        reversed_tenders = {op.tender_id for op in journal.ops(order_id=order_id)
                            if op.operation in (OpKind.VOID.value, OpKind.REFUND.value)
                            and op.state in (OpState.OK, OpState.DONE)}
        plan = VoidPlan(order, order.number)
        # A digital voucher's revert may be refused when it is made (CSQ cannot be asked
        # beforehand): those go first, so a refusal stops the void before anything else.
        plan.deactivate = sorted(GiftDesk.live_gift_vouchers(order), key=lambda line: line.kind is not LineKind.DIGITAL)
        self.gifts.refuse_lost_top_ups(plan.deactivate)  # before the cashier is asked anything
        for line in plan.deactivate:
            slot = self.session.providers.get(line.provider or "")
            plan.undone_words[line.id] = slot.done_word(OpKind.UNDO) if slot else _("taken back")
        plan.cancel = [t for t in order.active_tenders if t.kind is TenderKind.VOUCHER
                       and t.id not in reversed_tenders]
        cash = [t for t in order.active_tenders if t.kind is TenderKind.CASH]
        card = [t for t in order.active_tenders if t.kind is TenderKind.CARD]
        zero = Money.zero(order.currency)
        # An overpayment (a gift voucher removed after payment) was handed back in
        # cash at the time: it comes off the cash first, then off the card refund.
        handed_back = order.overpaid
        cash_in = sum(((t.given or t.amount) - (t.change or zero) for t in cash), zero)
        from_cash = min(handed_back, cash_in, key=lambda m: m.minor)
        card_in = sum((t.amount for t in card), zero)
        plan.cash_back = cash_in - from_cash if cash else None
        plan.card_back = card_in - (handed_back - from_cash) if card else None
        return plan

    async def _settle_reversals(self, order: Order) -> None:
        """A reversal of this sale whose answer was lost last time is settled first."""
        session = self.session
        await self.gifts.settle_open_ops(order)
        for op in session.journal.ops(order_id=order.id, open_only=True):
            if op.operation in (OpKind.VOID.value, OpKind.REFUND.value):
                result = await journaled.settle(session, op)
                if result.decision is Decision.UNDECIDED:
                    slot = session.providers.get(op.provider)
                    word = slot.word(op.operation) if slot else op.operation
                    raise CheckoutError(_("the {operation} on {code} is not decided yet ({reason})").format(
                        operation=word, code=mask_code(op.code), reason=result.reason))

    def balances_after(self, order: Order) -> dict[int, Money]:
        """Each voucher payment's balance after its cancellation, as the provider
        answered it (journaled with the void or refund; also one done by an earlier,
        half-finished void). A cancellation decided without an answer has none."""
        balances: dict[int, Money] = {}
        for op in self.session.journal.ops(order_id=order.id):
            if (op.tender_id is not None and op.operation in (OpKind.VOID.value, OpKind.REFUND.value)
                    and op.state in (OpState.OK, OpState.DONE)
                    and isinstance(op.result.get("new_balance"), int)):
                balances[op.tender_id] = Money(op.result["new_balance"], order.currency)
        return balances

    @provider_call
    async def run(self, *, credit: bool = False) -> Outcome:
        """Void the last closed sale. ``credit``: its cash and card refund is given as
        store credit (the caller issues the voucher on a new order, paid by that refund)."""
        plan = self.plan()
        try:
            await self._settle_reversals(plan.order)
        except CheckoutError as exc:
            raise CheckoutError(_("Void not done — {problem}. Nothing was changed").format(problem=exc)) from None
        plan = self.plan()
        # 1. check everything first: a refusal stops the void before anything is undone
        try:
            await self.gifts.check_undoable(plan.deactivate)
        except CheckoutError as exc:
            raise CheckoutError(_("Void refused — {problem}. Nothing was changed").format(problem=exc)) from None
        for tender in plan.cancel:
            slot = self.session.slot(tender.provider)
            if not tender.refs:
                raise CheckoutError(_("Void refused — the payment with voucher {code} cannot be cancelled by "
                                      "the till ({why}). Nothing was changed").format(
                                          code=mask_code(tender.code or ""), why=lost_refs(slot)))
        # 2. act
        for line in plan.deactivate:
            try:
                await self.gifts.undo(line, plan.order.id, f"void of sale {plan.number}")
            except CheckoutError as exc:
                raise CheckoutError(_("Void not finished — {problem}; F9 on an empty order continues "
                                      "the void").format(problem=exc)) from None
        for tender in plan.cancel:
            masked = mask_code(tender.code or "")
            try:
                result = await self.vouchers.reverse(tender, plan.order.id)
            except CheckoutError as exc:
                raise CheckoutError(_("Void not finished — voucher {code}: {problem}; F9 on an empty order "
                                      "continues the void").format(code=masked, problem=exc)) from None
            if result.decision is Decision.UNDECIDED:
                raise CheckoutError(_("Void not finished — the cancellation on {code} was not confirmed "
                                      "({reason}); F9 on an empty order continues the void").format(
                                          code=masked, reason=result.reason))
            if result.decision is not Decision.DONE:
                slot = self.session.slot(tender.provider)
                why = (describe(result.error, slot.display_name, hint=False) if result.error is not None
                       else result.reason or _("not cancelled"))
                raise CheckoutError(_("Void not finished — voucher {code}: {problem}; F9 on an empty order "
                                      "continues the void").format(code=masked, problem=why))
        # 3. the void receipt, committed with the void
        plan.balances = self.balances_after(plan.order)
        if credit and plan.refund.minor > 0:
            plan.credit = plan.refund
            receipt_id = self.store_void_receipt(plan)
            self.session.last_closed = None
            return Outcome(Notice(_("Sale {number} voided — {amount} refunded as store credit").format(
                number=plan.number, amount=plan.credit.shown_with_currency()), Level.WARNING), receipt_id=receipt_id)
        receipt_id = self.store_void_receipt(plan)
        self.session.last_closed = None  # the pay pane no longer shows the voided sale as paid
        text = _("Sale {number} voided").format(number=plan.number)
        if plan.cash_back:
            text = _("{text} — give back cash {amount}").format(
                text=text, amount=plan.cash_back.shown_with_currency())
        if plan.card_back:
            text = _("{text} — refund {amount} on the card terminal").format(
                text=text, amount=plan.card_back.shown_with_currency())
        return Outcome(Notice(text, Level.WARNING), receipt_id=receipt_id)
