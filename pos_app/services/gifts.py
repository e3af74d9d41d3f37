"""Selling gift vouchers (E-GUMA depot vouchers) and voiding a closed sale.

A depot voucher is a printed, inactive voucher. Selling one: Activate status
when it is scanned (can it be sold, for how much, or a free amount), an
order line with VAT 0, and Activate when the order closes, before the
receipt. Voiding a sale checks every reversal first (Deactivate status,
redeem tokens) and only then acts, so a refusal stops it before anything is
half-undone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.journal import OpState
from pos_app.providers import ActivationStatus, Capability, ProviderError, UnknownOutcome
from pos_app.services.crash import arm_after_send, crashpoint
from pos_app.services.inflight import provider_call
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Level, Notice, Outcome
from pos_app.services.vouchers import UnknownOutcomeError, describe

if TYPE_CHECKING:
    from pos_app.services.checkout import Till

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GiftCheck:
    """Activate status of a scanned depot voucher."""

    provider: str
    display_name: str
    status: ActivationStatus

    @property
    def code(self) -> str:
        return self.status.code

    @property
    def masked(self) -> str:
        return mask_code(self.status.code)


@dataclass(slots=True)
class VoidPlan:
    """What voiding the last closed sale will do, shown before the cashier confirms."""

    order: Order
    number: str
    deactivate: list[Line] = field(default_factory=list)
    cancel: list[Tender] = field(default_factory=list)
    cash_back: Money | None = None
    card_back: Money | None = None

    def summary(self) -> str:
        parts = [f"Void sale {self.number} (total {self.order.total})?"]
        for line in self.deactivate:
            parts.append(f"Gift voucher {mask_code(line.code or '')} {line.total.amount_str()} is deactivated.")
        for tender in self.cancel:
            parts.append(f"Voucher {mask_code(tender.code or '')} gets {tender.amount.amount_str()} back.")
        if self.cash_back:
            parts.append(f"Give back cash {self.cash_back}.")
        if self.card_back:
            parts.append(f"Refund {self.card_back} on the card terminal.")
        return "\n".join(parts)


class GiftDesk:
    def __init__(self, till: Till, providers: dict[str, ProviderSlot]) -> None:
        self.till = till
        self.providers = providers

    def _seller(self, raw: str) -> ProviderSlot:
        for slot in self.providers.values():
            if (slot.client is not None and slot.client.supports(Capability.ACTIVATE)
                    and slot.client.looks_like_code(raw)):
                return slot
        problems = [s.problem for s in self.providers.values() if s.problem]
        if problems:
            raise CheckoutError(problems[0])
        shown = normalize_voucher_code(raw)[:20] or "(empty)"
        raise CheckoutError(f"{shown!r} is not a gift voucher code — scan the code printed on the voucher")

    # -- selling ------------------------------------------------------------------
    async def check(self, raw: str) -> GiftCheck:
        """Activate status: can this printed voucher be sold, and for how much?"""
        if not normalize_voucher_code(raw):
            raise CheckoutError("Scan or type the gift voucher's code")
        slot = self._seller(raw)
        assert slot.client is not None
        code = slot.client.normalize_code(raw)
        if any(line.code == code for line in self.till.order.gift_vouchers):
            raise CheckoutError(f"Gift voucher {mask_code(code)} is already on this order")
        try:
            status = await slot.client.activation_status(code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        return GiftCheck(slot.name, slot.display_name, status)

    def amount_for(self, check: GiftCheck, typed: str | None) -> Money:
        """The provider's amount, or the cashier's for a free amount (validated)."""
        if not check.status.free_amount:
            if check.status.amount is None or not check.status.amount.is_positive:
                raise CheckoutError(f"{check.display_name} gave no amount for this voucher")
            return check.status.amount
        limit = self.till.max_gift_voucher
        try:
            amount = Money.parse(typed or "", self.till.currency)
        except MoneyError as exc:
            raise CheckoutError(f"Amount: {exc}") from None
        if not amount.is_positive:
            raise CheckoutError("Amount: must be more than zero")
        if amount.minor > limit.minor:
            raise CheckoutError(f"Amount: at most {limit} for a gift voucher")
        return amount

    def add(self, check: GiftCheck, typed: str | None = None) -> Outcome:
        """Put the voucher on the order (VAT 0). Nothing is sent until the order closes."""
        till = self.till
        if not check.status.can_activate:
            raise CheckoutError(f"{check.display_name}: {check.status.message or 'cannot be sold'}")
        amount = self.amount_for(check, typed)
        till.guard(lambda: till.order.check_add_gift_voucher(check.code))
        line = Line(0, check.code, f"Gift voucher {check.masked}", 1, amount, Decimal(0),
                    kind=LineKind.GIFT_VOUCHER, code=check.code, provider=check.provider,
                    free_amount=check.status.free_amount)
        till.guard(lambda: till.order.check_add_line(line))
        till.journal.add_line(till.order_id, line)
        till.reload()
        till.last_closed = None
        return Outcome(Notice(f"Added gift voucher {check.masked} {amount.amount_str()} — "
                              "activated when the order is paid"))

    # -- activation at close ------------------------------------------------------------
    async def activate_all(self) -> list[str]:
        """Activate every gift voucher of the order not yet activated; the failures."""
        failures = []
        for line in self.till.order.gift_vouchers:
            if line.activated:
                continue
            try:
                await self._activate(line)
            except CheckoutError as exc:
                failures.append(f"gift voucher {mask_code(line.code or '')} not activated: {exc}")
        self.till.reload()
        return failures

    async def _activate(self, line: Line) -> None:
        till = self.till
        slot = self.providers.get(line.provider or "")
        if slot is None or slot.client is None:
            message = slot.problem if slot else f"provider {line.provider!r} is not configured"
            till.journal.set_line_problem(line.id, message)
            raise CheckoutError(message or "provider unavailable")
        assert line.code is not None
        # Look first: an earlier attempt whose answer was lost may have activated it.
        for op in till.journal.ops(code=line.code, open_only=True):
            if op.operation == "activate" and op.line_id == line.id:
                if await self.resolve_activation(slot, op.id, line.code):
                    return
        op_id, _, _ = till.journal.begin_op(
            provider=slot.name, operation="activate", code=line.code, currency=till.currency,
            amount=line.total, order_id=till.order_id, line_id=line.id,
        )
        crashpoint("activate:before_send")
        arm_after_send("activate")
        try:
            done = await slot.client.activate(line.code, line.total if line.free_amount else None)
        except UnknownOutcome as exc:
            slot.mark(exc)
            till.journal.finish_op(op_id, OpState.UNKNOWN, error=exc.message,
                                   line={"problem": "activation not confirmed"})
            if await self.resolve_activation(slot, op_id, line.code):
                return
            raise CheckoutError("the provider did not confirm it") from None
        except ProviderError as exc:
            slot.mark(exc)
            message = describe(exc, slot.display_name, hint=False)
            till.journal.finish_op(op_id, OpState.FAILED, error=exc.message, line={"problem": message})
            raise CheckoutError(message) from None
        crashpoint("activate:after_response")
        slot.mark(None)
        till.journal.finish_op(op_id, OpState.OK, result={"amount": done.amount.minor},
                               line={"activated": True, "problem": None})

    @staticmethod
    async def _look_up(slot: ProviderSlot, lookup: Callable[[str], Awaitable[T]], code: str, what: str) -> T:
        """A status look-up that settles a lost answer; CheckoutError when it cannot be asked."""
        try:
            status = await lookup(code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(f"{what} not confirmed, and {exc.message}") from None
        slot.mark(None)
        return status

    async def resolve_activation(self, slot: ProviderSlot, op_id: int, code: str) -> bool:
        """An activation whose answer was lost: Activate status says whether it happened.

        Settles the journal row; True when it happened. CheckoutError when
        the provider cannot be asked.
        """
        assert slot.client is not None
        status = await self._look_up(slot, slot.client.activation_status, code, "activation")
        if status.can_activate:  # still sellable: it did not happen
            self.till.journal.finish_op(op_id, OpState.NOT_DONE, result={"resolved_by": "activate_status"})
            return False
        self.till.journal.finish_op(op_id, OpState.DONE, result={"resolved_by": "activate_status",
                                                                 "message": status.message},
                                    line={"activated": True, "problem": None})
        return True

    async def resolve_deactivation(self, slot: ProviderSlot, op_id: int, code: str) -> bool:
        """A deactivation whose answer was lost: one that can still be deactivated was not."""
        assert slot.client is not None
        status = await self._look_up(slot, slot.client.deactivation_status, code, "deactivation")
        done = not status.can_deactivate
        self.till.journal.finish_op(op_id, OpState.DONE if done else OpState.NOT_DONE,
                                    result={"resolved_by": "deactivate_status"})
        if done:
            [op] = [op for op in self.till.journal.ops(code=code) if op.id == op_id]
            if op.order_id is not None:
                self._remove_if_open(op.order_id, op.line_id)
        return done

    # -- voiding the last closed sale ----------------------------------------------------
    def void_plan(self) -> VoidPlan:
        till = self.till
        order_id = till.journal.last_closed_order_id()
        if order_id is None:
            raise CheckoutError("No closed sale to void")
        if till.journal.order_voided_at(order_id):
            raise CheckoutError("The last sale is already voided")
        order = till.journal.load_order(order_id)
        assert order.number is not None
        done = {(op.operation, op.line_id, op.tender_id) for op in till.journal.ops()
                if op.order_id == order_id and op.state in (OpState.OK, OpState.DONE)}
        plan = VoidPlan(order, order.number)
        plan.deactivate = [line for line in order.gift_vouchers
                           if line.activated and ("deactivate", line.id, None) not in done]
        plan.cancel = [t for t in order.active_tenders if t.kind is TenderKind.VOUCHER
                       and ("cancel", None, t.id) not in done]
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

    async def settle_open_ops(self, order: Order) -> None:
        """Before gift vouchers are undone: an activation or deactivation of this order
        whose answer was lost is settled by its status lookup first, so a voucher that
        is live at the provider is never taken for one that is not (nor the reverse).
        CheckoutError when the provider cannot be asked."""
        till = self.till
        lines = {line.id for line in order.gift_vouchers}
        for op in till.journal.ops(open_only=True):
            if op.order_id != order.id or op.line_id not in lines:
                continue
            slot = self._slot(op.provider)
            if op.operation == "activate":
                await self.resolve_activation(slot, op.id, op.code)
            elif op.operation == "deactivate":
                await self.resolve_deactivation(slot, op.id, op.code)
        till.reload()

    def live_gift_vouchers(self, order: Order) -> list[Line]:
        """Gift voucher lines activated at the provider and not deactivated since."""
        deactivated = {op.line_id for op in self.till.journal.ops()
                       if op.order_id == order.id and op.operation == "deactivate"
                       and op.state in (OpState.OK, OpState.DONE)}
        return [line for line in order.gift_vouchers if line.activated and line.id not in deactivated]

    async def check_deactivatable(self, lines: list[Line]) -> None:
        """Deactivate status of each line, before anything is undone: CheckoutError on
        the first one that cannot be deactivated (or cannot be asked)."""
        for line in lines:
            slot = self._slot(line.provider)
            assert slot.client is not None and line.code is not None
            try:
                status = await slot.client.deactivation_status(line.code)
            except ProviderError as exc:
                slot.mark(exc)
                raise CheckoutError(describe(exc, slot.display_name, hint=False)) from None
            slot.mark(None)
            if not status.can_deactivate:
                reason = (status.message or "cannot be deactivated").rstrip(".")
                raise CheckoutError(f"gift voucher {mask_code(line.code)}: {slot.display_name}: {reason}")

    async def deactivate_open_order(self) -> list[str]:
        """Cancelling the open order: deactivate its activated gift vouchers (their
        status was checked first); each one done is removed from the order. The failures."""
        till = self.till
        failures = []
        for line in self.live_gift_vouchers(till.order):
            try:
                await self._deactivate(line, till.order_id, "cancel of the order")
            except CheckoutError as exc:
                failures.append(f"gift voucher {mask_code(line.code or '')}: {exc}")
        till.reload()
        return failures

    @provider_call
    async def void_last_sale(self) -> Outcome:
        till = self.till
        plan = self.void_plan()
        try:  # a reversal whose answer was lost last time: settled first, then planned again
            await self.settle_open_ops(plan.order)
        except CheckoutError as exc:
            raise CheckoutError(f"Void not done — {exc}. Nothing was changed") from None
        plan = self.void_plan()
        # 1. check everything first: a refusal stops the void before anything is undone
        try:
            await self.check_deactivatable(plan.deactivate)
        except CheckoutError as exc:
            raise CheckoutError(f"Void refused — {exc}. Nothing was changed") from None
        for tender in plan.cancel:
            slot = self._slot(tender.provider)
            if tender.token is None:
                raise CheckoutError(f"Void refused — the payment with voucher {mask_code(tender.code or '')} "
                                    f"cannot be cancelled by the till (its token was lost); ask "
                                    f"{slot.display_name}. Nothing was changed")
        # 2. act
        for line in plan.deactivate:
            try:
                await self._deactivate(line, plan.order.id, f"void of sale {plan.number}")
            except CheckoutError as exc:
                raise CheckoutError(f"Void not finished — {exc}; F9 on an empty order continues "
                                    "the void") from None
        for tender in plan.cancel:
            try:
                await till.vouchers.cancel_redemption(tender, plan.order.id, on_order=False)
            except UnknownOutcomeError:
                raise CheckoutError(
                    f"Void not finished — the cancellation on {mask_code(tender.code or '')} was not "
                    "confirmed; F9 on an empty order continues the void") from None
            except CheckoutError as exc:
                raise CheckoutError(f"Void not finished — voucher {mask_code(tender.code or '')}: {exc}; "
                                    "F9 on an empty order continues the void") from None
        # 3. the void receipt, committed with the void
        receipt_id = till.store_void_receipt(plan)
        till.last_closed = None  # the pay pane no longer shows the voided sale as paid
        text = f"Sale {plan.number} voided"
        if plan.cash_back:
            text += f" — give back cash {plan.cash_back}"
        if plan.card_back:
            text += f" — refund {plan.card_back} on the card terminal"
        return Outcome(Notice(text, Level.WARNING), receipt_id=receipt_id)

    def _slot(self, name: str | None) -> ProviderSlot:
        return self.till.vouchers.slot(name)

    async def _deactivate(self, line: Line, order_id: int, reason: str) -> None:
        """Deactivate one sold gift voucher, journaled; CheckoutError says why not.
        On the open order the line is removed once the deactivation is certain."""
        till = self.till
        slot = self._slot(line.provider)
        assert slot.client is not None and line.code is not None
        op_id, _, _ = till.journal.begin_op(
            provider=slot.name, operation="deactivate", code=line.code, currency=till.currency,
            amount=line.total, order_id=order_id, line_id=line.id,
        )
        crashpoint("deactivate:before_send")
        arm_after_send("deactivate")
        try:
            await slot.client.deactivate(line.code, reason)
        except UnknownOutcome as exc:
            slot.mark(exc)
            till.journal.finish_op(op_id, OpState.UNKNOWN, error=exc.message)
            try:
                done = await self.resolve_deactivation(slot, op_id, line.code)
            except CheckoutError:
                raise CheckoutError(f"deactivation of {mask_code(line.code)} not confirmed") from None
            if not done:
                raise CheckoutError(f"{mask_code(line.code)} is still active") from None
            return
        except ProviderError as exc:
            slot.mark(exc)
            till.journal.finish_op(op_id, OpState.FAILED, error=exc.message)
            raise CheckoutError(describe(exc, slot.display_name, hint=False)) from None
        crashpoint("deactivate:after_response")
        slot.mark(None)
        till.journal.finish_op(op_id, OpState.OK)
        self._remove_if_open(order_id, line.id)

    def _remove_if_open(self, order_id: int, line_id: int | None) -> None:
        """A gift voucher deactivated while its order is still open is no longer sold."""
        till = self.till
        if order_id == till.order_id and line_id is not None and not till.order.line(line_id).voided:
            till.journal.void_line(order_id, line_id)
            till.reload()
