"""Deciding an E-GUMA operation whose answer was lost, and distrusting an
answer that contradicts the request (eguma.md, "Reconciling an unknown outcome").

E-GUMA has no lookup by our reference, so its state decides:

* a redemption by the voucher's Balance: lower by exactly the amount means it
  happened; unchanged means "not yet" (the core says "did not happen" only once
  ``settle_s`` has passed since the send, and one more read agrees); any other
  balance means someone used the voucher meanwhile: a person must decide;
* a cancellation the same way, the balance higher by the amount;
* an activation by Activate status and Balance: no longer activatable, and
  active with our amount, means it happened; still activatable means not yet;
* a deactivation by Activate status and Deactivate status: a deactivated depot
  voucher is back in the stack (activatable again); still deactivatable means
  not yet; neither means it was used meanwhile.

The balance arithmetic lives here, not in the core: other providers decide by
other states (a lookup by reference, a list of charges).
"""

from __future__ import annotations

from pos_app.domain.money import Money
from pos_app.i18n import _
from pos_app.providers.base import (
    Answer,
    Authorization,
    Judgement,
    Operation,
    OpKind,
    Snapshot,
    ValueResult,
    Verdict,
    VoidResult,
    VoucherBalance,
)

__all__ = ["EgumaSettling", "balance_state", "redeem_applied"]


def balance_state(balance: VoucherBalance) -> Snapshot:
    """The part of a Balance answer that decides a redemption or cancellation."""
    return {
        "balance": balance.balance.minor,
        "total": None if balance.total is None else balance.total.minor,
        "redeemable": balance.redeemable,
    }


def redeem_applied(before: Money, after: Money, amount: Money) -> bool | None:
    """Two Balance answers around a Redeem of ``amount``: True when the balance fell
    by exactly ``amount``, False when it did not change, None for anything else."""
    if after == before - amount:
        return True
    if after == before:
        return False
    return None


def _cents(money: Money) -> str:
    """An amount in a reason the cashier reads (the outlet's number format)."""
    return money.shown()


class EgumaSettling:
    """:class:`pos_app.providers.base.Settling` for E-GUMA."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        if op.kind in (OpKind.AUTHORIZE, OpKind.VOID):
            return self._by_balance(op, before, now)
        if op.kind is OpKind.CREATE:
            return self._activation(op, now)
        if op.kind is OpKind.UNDO:
            return self._deactivation(now)
        return Judgement(Verdict.OTHER, _("E-GUMA cannot settle a {operation}").format(operation=op.kind.value))

    @staticmethod
    def _by_balance(op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        if before is None or before.get("balance") is None or op.amount is None:
            return Judgement(Verdict.OTHER, _("no balance was read before it was sent"))
        currency = op.amount.currency
        was = Money(int(before["balance"]), currency)
        is_now = Money(int(now["balance"]), currency)
        moved = op.amount if op.kind is OpKind.AUTHORIZE else -op.amount
        applied = redeem_applied(was, is_now, moved)
        if applied is True:
            return Judgement(Verdict.APPLIED, balance=is_now.minor)
        if applied is False:
            return Judgement(Verdict.UNCHANGED)
        return Judgement(Verdict.OTHER, _(
            "the balance is {now}, expected {before} or {after}: the voucher was used elsewhere meanwhile").format(
            now=_cents(is_now), before=_cents(was), after=_cents(was - moved)))

    @staticmethod
    def _activation(op: Operation, now: Snapshot) -> Judgement:
        if now.get("can_activate"):
            return Judgement(Verdict.UNCHANGED)
        total = now.get("total")
        if op.amount is not None and total == op.amount.minor and now.get("redeemable", True):
            return Judgement(Verdict.APPLIED)
        shown = _("unknown") if total is None else \
            Money(int(total), op.amount.currency if op.amount else "CHF").shown()
        return Judgement(Verdict.OTHER, _(
            "the voucher is active with a total of {total}, not the {amount} of this sale: someone else "
            "activated it").format(total=shown, amount=op.amount.shown() if op.amount else "?"))

    @staticmethod
    def _deactivation(now: Snapshot) -> Judgement:
        if now.get("can_activate"):
            return Judgement(Verdict.APPLIED)  # back in the stack: deactivated
        if now.get("can_deactivate"):
            return Judgement(Verdict.UNCHANGED)
        return Judgement(Verdict.OTHER, _("it can neither be deactivated nor sold again: it was used meanwhile"))

    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        amount = op.amount
        if isinstance(answer, (Authorization, VoidResult)) and answer.new_balance is not None:
            new = answer.new_balance
            if new.is_negative:
                return _("E-GUMA answered a negative new balance ({balance})").format(balance=_cents(new))
            total = before.get("total") if before else None
            if total is not None and new.minor > int(total):
                return _("E-GUMA answered a new balance of {balance}, above the voucher's total").format(
                    balance=_cents(new))
            if before is not None and before.get("balance") is not None and amount is not None:
                was = Money(int(before["balance"]), amount.currency)
                expected = was - amount if isinstance(answer, Authorization) else was + amount
                if new != expected:
                    text = _("E-GUMA answered a new balance of {balance}, but {before} − {amount} is {expected}") \
                        if isinstance(answer, Authorization) else \
                        _("E-GUMA answered a new balance of {balance}, but {before} + {amount} is {expected}")
                    return text.format(balance=_cents(new), before=_cents(was), amount=_cents(amount),
                                       expected=_cents(expected))
        if isinstance(answer, ValueResult) and amount is not None and answer.amount != amount:
            text = _("E-GUMA activated {amount}, but {asked} was asked") if op.kind is OpKind.CREATE else \
                _("E-GUMA deactivated {amount}, but {asked} was asked")
            return text.format(amount=_cents(answer.amount), asked=_cents(amount))
        return None

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        return balance_state(balance)
