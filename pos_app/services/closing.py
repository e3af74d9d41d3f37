"""Closing an order, in an explicit sequence:

1. allocate the order number (journaled; a capture carries it);
2. capture each authorized tender whose provider captures (JTL charge);
3. create the value lines (gift voucher activations);
4. commit the close and the receipt in one transaction.

A step that fails leaves the order open, with the failure shown, so the
cashier can retry (Enter) or remove the line; nothing done is lost: each
step is journaled and the next attempt skips what is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from pos_app.domain.codes import mask_code
from pos_app.i18n import _, ngettext
from pos_app.domain.order import Order, Tender, TenderKind, TenderState
from pos_app.providers import HoldLapsed, OpKind, TenderRef
from pos_app.services import journaled
from pos_app.services.crash import crashpoint
from pos_app.services.gifts import GiftDesk
from pos_app.services.journaled import Call, Decision, NotSent
from pos_app.services.results import CheckoutError, Closed, Confirm, Level, Notice, Outcome
from pos_app.services.session import Session
from pos_app.services.wording import describe

Render = Callable[[Order, str, datetime], tuple[str, bytes]]
Renew = Callable[[list[int]], Awaitable[Outcome]]


class HoldsLapsed(CheckoutError):
    """Captures refused because their holds are gone (expired, replaced): nothing
    was charged; the cashier may have them held again."""

    def __init__(self, message: str, tender_ids: list[int]) -> None:
        super().__init__(message)
        self.tender_ids = tender_ids


class Closer:
    def __init__(self, session: Session, gifts: GiftDesk, render: Render) -> None:
        self.session = session
        self.gifts = gifts
        self.render = render  # (order, number, when) -> receipt text and printer bytes
        self.renew: Renew | None = None  # takes lapsed holds again (the voucher desk sets it)

    async def close_if_settled(self, notice: Notice) -> Outcome:
        session = self.session
        order = session.order
        if not order.is_settled:
            if order.unresolved_tenders:
                return Outcome(notice)
            return Outcome(Notice(_("{text} — {amount} still to pay").format(
                text=notice.text, amount=order.remaining.shown()), notice.level))
        unsettled = [op for op in session.journal.ops(order_id=session.order_id, open_only=True)
                     if op.operation != OpKind.CREATE.value]
        if unsettled:  # e.g. a cancellation whose answer was lost: was the money given back?
            op = unsettled[0]
            slot = session.providers.get(op.provider)
            word = slot.word(op.operation) if slot else op.operation
            how = (_("press F9 to finish cancelling the order") if op.operation == OpKind.UNDO.value
                   else _("select the payment and press F8 to check it"))
            return Outcome(Notice(_("Paid, but not closed — the {operation} on {code} is not confirmed "
                                    "yet: {how}").format(operation=word, code=mask_code(op.code), how=how),
                                  Level.ERROR))
        if self._captures(order) or any(not line.activated for line in order.gift_vouchers):
            # 1: a capture carries it, and so do value lines (JTL recharge, activation comment)
            number = session.journal.allocate_number(session.order_id)
            try:
                await self._capture_all(session.journal.format_number(number))  # 2
            except HoldsLapsed as exc:
                return self._offer_renew(exc)
            except CheckoutError as exc:
                return Outcome(Notice(_("Paid, but not closed — {problem}. Enter retries").format(problem=exc),
                                      Level.ERROR))
        failures, undecided = await self.gifts.create_all()  # 3
        if self.gifts.removed:  # a digital voucher refused: off the order, its money given back as change
            notice = Notice(_("{text} — {removed}").format(text=notice.text, removed="; ".join(self.gifts.removed)),
                            Level.WARNING)
            if not session.reload().active_lines:
                return Outcome(Notice(_("{text} — nothing is left on the order: F9 cancels it and says what to "
                                        "give back").format(text=notice.text), Level.WARNING))
        if failures:
            text = (_("Paid, but not closed — {problems}. The till checks again by itself; Enter closes "
                      "the order once it is decided") if undecided
                    else _("Paid, but not closed — {problems}. Enter retries; or select the line, F8 removes it"))
            return Outcome(Notice(text.format(problems="; ".join(failures)), Level.ERROR))
        order = session.reload()
        order.check_close()
        return self._commit(order, notice)  # 4 (the number, when not given in 1)

    def _offer_renew(self, lapsed: HoldsLapsed) -> Outcome:
        text = _("Paid, but not closed — {problem}. Nothing was charged; Enter asks to hold it again").format(
            problem=lapsed)
        if self.renew is None:
            return Outcome(Notice(text, Level.ERROR))
        renew, ids = self.renew, lapsed.tender_ids
        tenders = [self.session.order.tender(i) for i in ids]
        question = "\n".join(_("Voucher {code}: hold {amount} again and charge it?").format(
            code=mask_code(t.code or ""), amount=t.amount.shown()) for t in tenders)
        return Outcome(Notice(text, Level.ERROR), confirm=Confirm(
            _("Hold the voucher again"), question, _("hold it again"), _("not now"), lambda: renew(ids)))

    def close_with_tender(self, tender: Tender, notice: Notice) -> Outcome | None:
        """A cash or card payment that settles an order which needs no provider step
        to close: the payment, the close, its receipt and the next order in one
        commit. None when that does not apply (the caller adds the payment alone
        and then closes as usual)."""
        session = self.session
        order = session.order
        paid = replace(order, tenders=[*order.tenders, tender])
        if not paid.is_settled or self._captures(order) or any(
                line.kind.is_value and not line.activated for line in order.active_lines):
            return None
        if session.journal.ops(order_id=session.order_id, open_only=True):
            return None
        paid.check_close()
        return self._commit(paid, notice, tender)

    def _commit(self, order: Order, notice: Notice, tender: Tender | None = None) -> Outcome:
        session = self.session
        when = session.clock()

        def render(number_text: str) -> tuple[str, bytes]:
            return self.render(order, number_text, when)

        crashpoint("close:before_commit")
        done = session.journal.close_order(session.order_id, render, tender=tender,
                                           next_order=session.currency)
        crashpoint("close:after_commit")
        closed = Closed(session.journal.format_number(done.number), done.receipt_id, order.total, order.change,
                        cash=any(t.kind is TenderKind.CASH for t in order.active_tenders))
        session.last_closed = closed
        assert done.next_order_id is not None
        session.switch_to(done.next_order_id)
        text = _("Order {number} closed").format(number=closed.number)
        if closed.change:
            text = _("Order {number} closed — change {amount}").format(
                number=closed.number, amount=closed.change.shown_with_currency())
        if notice.level is not Level.INFO:  # news the cashier must still read
            return Outcome(Notice(_("{text} — {closed}").format(text=notice.text, closed=text), notice.level), closed)
        return Outcome(Notice(text), closed)

    def _captures(self, order: Order) -> bool:
        """Does closing ``order`` capture a payment (a provider that holds, then charges)?"""
        for tender in order.active_tenders:
            if tender.kind is TenderKind.VOUCHER and tender.state is TenderState.AUTHORIZED:
                slot = self.session.providers.get(tender.provider or "")
                if slot is None or slot.descriptor is None or slot.descriptor.policy.captures:
                    return True
        return False

    async def _capture_all(self, number: str) -> None:
        """Capture the authorized voucher payments of providers that capture, journaled."""
        session = self.session
        lapsed: list[int] = []
        for tender in session.order.active_tenders:
            if tender.kind is not TenderKind.VOUCHER or tender.state is not TenderState.AUTHORIZED:
                continue
            slot = session.slot(tender.provider)
            assert slot.client is not None and slot.descriptor is not None and tender.code is not None
            if not slot.descriptor.policy.captures:
                continue
            if any(op.operation == OpKind.CAPTURE.value and op.state in ("ok", "done")
                   for op in session.journal.ops(tender_id=tender.id)):
                continue
            client, ref = slot.client, TenderRef(tender.code, tender.amount, dict(tender.refs))
            call = Call(slot, OpKind.CAPTURE, tender.code, tender.amount, session.order_id,
                        send=lambda ctx, ref=ref: client.capture(ref, ctx), tender_id=tender.id,
                        refs=ref.refs, request={"order_number": number})
            word = slot.word(OpKind.CAPTURE)
            try:
                result = await journaled.run(session, call)
            except NotSent as exc:
                raise CheckoutError(_("{operation} of {code} not sent — {problem}").format(
                    operation=word, code=mask_code(tender.code),
                    problem=describe(exc.error, slot.display_name, hint=False))) from None
            finally:
                session.reload()
            if result.decision is Decision.FAILED and isinstance(result.error, HoldLapsed):
                lapsed.append(tender.id)
                continue
            if result.decision is Decision.FAILED:
                why = describe(result.error, slot.display_name, hint=False) if result.error else result.reason
                raise CheckoutError(_("{operation} of {code} failed — {problem}").format(
                    operation=word, code=mask_code(tender.code), problem=why))
            if result.decision is not Decision.DONE:
                raise CheckoutError(_("{operation} of {code} not confirmed — {reason}").format(
                    operation=word, code=mask_code(tender.code), reason=result.reason))
        if lapsed:
            codes = ", ".join(mask_code(session.order.tender(i).code or "") for i in lapsed)
            raise HoldsLapsed(ngettext("the hold on voucher {codes} lapsed or was replaced",
                                       "the holds on vouchers {codes} lapsed or were replaced", len(lapsed)).format(
                codes=codes), lapsed)
