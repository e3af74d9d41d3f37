"""Reconciliation: settle every provider operation whose outcome the journal
does not know (the till was killed, lost power or the network mid-call).

Each open operation (state ``sent`` or ``unknown``) is decided with the
provider's own lookup, never by sending it again:

* redeem / cancel — E-GUMA Balance compared with the balance recorded before;
* activate — Activate status (a voucher that can no longer be activated was);
* deactivate — Deactivate status (one that can still be deactivated was not).

Until an operation is settled, the voucher it touches cannot be tendered
(``VoucherDesk`` refuses codes with open operations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pos_app.domain.codes import mask_code
from pos_app.domain.order import TenderState
from pos_app.journal import OpRecord, OpState
from pos_app.services.inflight import exclusively
from pos_app.services.results import CheckoutError

if TYPE_CHECKING:
    from pos_app.services.checkout import Till


@dataclass(frozen=True, slots=True)
class Resolution:
    op_id: int
    text: str
    resolved: bool
    operation: str = ""


class Recovery:
    def __init__(self, till: Till) -> None:
        self.till = till

    def open_ops(self) -> list[OpRecord]:
        return self.till.journal.ops(open_only=True)

    async def run(self) -> list[Resolution]:
        """Try every open operation once; what was resolved and what still is not.

        One operation at a time under the till's provider lock (inflight.py):
        a cashier step in flight finishes first, and an operation it settled
        meanwhile is skipped.
        """
        results = []
        for listed in self.open_ops():
            result = await exclusively(self.till, lambda op_id=listed.id: self._try(op_id))
            if result is not None:
                results.append(result)
        self.till.reload()
        return results

    async def _try(self, op_id: int) -> Resolution | None:
        current = [op for op in self.open_ops() if op.id == op_id]
        if not current:
            return None  # settled by a cashier step while this run waited
        op = current[0]
        try:
            text = await self._settle(op)
        except CheckoutError as exc:
            self._mark_unknown(op, str(exc))
            return Resolution(op.id, f"{self._what(op)}: still unresolved — {exc}", False, op.operation)
        return Resolution(op.id, text, True, op.operation)

    def _mark_unknown(self, op: OpRecord, reason: str) -> None:
        """An operation left ``sent`` by a stopped till is not being sent any more: its
        outcome is unknown, and the order shows it so (not "sending…")."""
        if op.state != OpState.SENT:
            return
        on_open_order = op.order_id == self.till.order_id
        what = self._what(op).removeprefix("The ")
        tender = line = None
        if op.operation == "redeem":
            tender = {"state": TenderState.UNKNOWN, "problem": f"{what} not confirmed: {reason}"}
        elif op.operation == "cancel" and on_open_order:
            tender = {"problem": f"{what} not confirmed: {reason}"}
        elif op.operation == "activate":
            line = {"problem": f"activation not confirmed: {reason}"}
        self.till.journal.finish_op(op.id, OpState.UNKNOWN, error=reason, tender=tender, line=line)

    def _what(self, op: OpRecord) -> str:
        names = {"redeem": "redemption", "cancel": "cancellation", "activate": "activation",
                 "deactivate": "deactivation"}
        amount = f" of {op.amount}" if op.amount is not None else ""
        return f"The {names.get(op.operation, op.operation)}{amount} on {mask_code(op.code)}"

    def _where(self, op: OpRecord) -> str:
        if op.order_id is None:
            return ""
        order = self.till.journal.load_order(op.order_id)
        return f"order {order.number}" if order.number else "the open order"

    async def _settle(self, op: OpRecord) -> str:
        till = self.till
        slot = till.vouchers.slot(op.provider)
        assert slot.client is not None
        what, where = self._what(op), self._where(op)
        if op.operation in ("redeem", "cancel"):
            done = await till.vouchers.decide(slot, op)
            till.vouchers.record_decision(slot, op, done, "recovery")
            if op.operation == "redeem":
                if done:
                    return f"{what} did happen — kept on {where}"
                return f"{what} did not happen — removed from {where}; nothing was charged"
            if done:
                return f"{what} did happen — the money is back on the voucher"
            return f"{what} did not happen — the payment is still on {where}"
        if op.operation == "activate":
            if await till.gifts.resolve_activation(slot, op.id, op.code):
                return f"{what} did happen — the gift voucher is active"
            return f"{what} did not happen — it runs again when {where} closes"
        if op.operation == "deactivate":
            if await till.gifts.resolve_deactivation(slot, op.id, op.code):
                if op.order_id == till.order_id:
                    return f"{what} did happen — it is off the order; F9 finishes cancelling the order"
                return f"{what} did happen"
            if op.order_id == till.order_id:
                return f"{what} did not happen — F9 cancels the order again"
            return f"{what} did not happen — F9 on an empty order continues the void of {where}"
        raise CheckoutError(f"unknown operation {op.operation!r}")
