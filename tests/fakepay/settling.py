"""Deciding a FakePay operation whose answer was lost: FakePay keeps our
reference, so its lookup decides, without waiting out a settle window.

* the lookup shows the operation **done** -> APPLIED, with the ids it shows
  (a lost hold's ``hold_id``: the till can still release it) and the
  available balance after it;
* it shows it **failed** (refused), or shows **nothing** under our reference
  -> NOT_APPLIED: FakePay never applied it and, having never received it,
  cannot apply it later;
* it shows it **pending** (arrived, FakePay still working on it) -> PENDING:
  not applied yet, and never "did not happen", however long it takes (not
  UNCHANGED, which the core turns into "did not happen" once the settle
  window is over).

An answer is not trusted when its amount or new balance is not what was
asked (the core compares the amounts of authorizations and voids itself).
"""

from __future__ import annotations

import re

from pos_app.domain.codes import clean
from pos_app.domain.money import Money
from pos_app.providers.base import (
    Answer,
    Authorization,
    Captured,
    Judgement,
    Operation,
    OpKind,
    Snapshot,
    ValueResult,
    Verdict,
    VoidResult,
    VoucherBalance,
)

__all__ = ["CHARGE_ID", "HOLD_ID", "KINDS", "FakePaySettling", "normalize_code"]

HOLD_ID = "hold_id"
CHARGE_ID = "charge_id"

# The lookup's name for each of the core's operations.
KINDS = {
    OpKind.AUTHORIZE: "hold",
    OpKind.CAPTURE: "capture",
    OpKind.VOID: "release",
    OpKind.REFUND: "refund",
    OpKind.CREATE: "issue",
    OpKind.UNDO: "cancel",
}


def normalize_code(raw: str) -> str:
    """``" fp-1000 0050\\r"`` -> ``"FP-10000050"``: whitespace out, upper case, the dash kept."""
    return re.sub(r"\s", "", clean(raw)).upper()


def _shown(minor: int | None, currency: str) -> str:
    return "?" if minor is None else Money(minor, currency).amount_str()


class FakePaySettling:
    """:class:`pos_app.providers.base.Settling` for FakePay."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        lookup = now.get("lookup")
        if not isinstance(lookup, dict):
            # A state without the lookup (a balance read): it cannot show our operation.
            return Judgement(Verdict.UNCHANGED)
        kind = KINDS[op.kind]
        rows = [row for row in lookup.get("operations", []) if row.get("kind") == kind]
        done = [row for row in rows if row.get("state") == "done"]
        if done:
            row = done[-1]
            if op.amount is not None and row.get("amount") is not None and row["amount"] != op.amount.minor:
                currency = op.amount.currency
                return Judgement(Verdict.OTHER, (
                    f"FakePay shows a {kind} of {_shown(row['amount'], currency)} under our reference, "
                    f"but {op.amount.amount_str()} was asked"))
            return Judgement(Verdict.APPLIED, f"FakePay's lookup shows the {kind}", dict(row.get("ids") or {}),
                             row.get("available") if op.kind in (OpKind.AUTHORIZE, OpKind.VOID, OpKind.REFUND)
                             else None)
        if any(row.get("state") == "pending" for row in rows):
            return Judgement(Verdict.PENDING, f"FakePay received the {kind} and is still working on it")
        failed = [row for row in rows if row.get("state") == "failed"]
        if failed:
            return Judgement(Verdict.NOT_APPLIED, f"FakePay refused it: {failed[-1].get('message') or 'no reason'}")
        return Judgement(Verdict.NOT_APPLIED, f"FakePay never received a {kind} with our reference")

    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        amount = op.amount
        if isinstance(answer, Captured):
            return None if answer.refs.get(CHARGE_ID) else "FakePay answered a capture without a charge id"
        if isinstance(answer, (Authorization, VoidResult)) and answer.new_balance is not None:
            new = answer.new_balance
            if new.is_negative:
                return f"FakePay answered a negative available balance ({new.amount_str()})"
            was = before.get("available") if before else None
            if was is not None and amount is not None and op.kind in (OpKind.AUTHORIZE, OpKind.VOID):
                expected = was - amount.minor if op.kind is OpKind.AUTHORIZE else was + amount.minor
                if new.minor != expected:
                    sign = "−" if op.kind is OpKind.AUTHORIZE else "+"
                    return (f"FakePay answered an available balance of {new.amount_str()}, but "
                            f"{_shown(was, amount.currency)} {sign} {amount.amount_str()} is "
                            f"{_shown(expected, amount.currency)}")
        if isinstance(answer, ValueResult) and amount is not None and answer.amount != amount:
            verb = "issued" if op.kind is OpKind.CREATE else "cancelled"
            return f"FakePay {verb} {answer.amount.amount_str()}, but {amount.amount_str()} was asked"
        return None

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        """A balance check's state: what a new balance in an answer is checked against."""
        return {"available": balance.balance.minor, "redeemable": balance.redeemable}
