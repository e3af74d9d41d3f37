"""Deciding a JTL operation whose answer was lost, and distrusting an answer
that contradicts the request (``providers/jtl.md``, "How the POS uses it").

JTL has no lookup by our reference; the state :meth:`JtlClient.state_of`
reads decides, as plain JSON (journaled):

* a reservation (``AUTHORIZE``) by the voucher's lock
  ``{"status", "remaining", "locked", "locked_until"}``: locked now by a hold
  that was not there before means ours was made (its id is lost: the close
  reserves again, which replaces it); not locked means not made; the same
  lock as before is someone else's hold;
* a charge (``CAPTURE``) and a refund (``REFUND``) by the voucher's charges
  under the order number ``{"remaining", "charges": [{"id", "type",
  "amount", "order_number"}]}``;
* a release (``VOID``) is always applied: nothing is sent, the hold lapses;
* an activation (``CREATE``) by ``{"status", "amount", "remaining",
  "valid_until"}``, a recharge (``CREATE`` with ``request["value"] ==
  "top_up"``) by the charges shape (a ``recharge`` row);
* a deactivation (``UNDO``) by ``{"status", "amount", "remaining"}``.
"""

from __future__ import annotations

import re
from typing import Any

from pos_app.domain.codes import clean
from pos_app.domain.money import Money
from pos_app.i18n import _
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
    VoucherBalance,
)

__all__ = [
    "CHARGE_ID",
    "ORDER_NUMBER",
    "RECHARGE_ID",
    "REFUND_ID",
    "RESERVATION_ID",
    "RESERVED_UNTIL",
    "TOP_UP",
    "VALID_UNTIL",
    "JtlSettling",
    "normalize_code",
]

# The refs keys (other code reads them).
RESERVATION_ID = "reservation_id"
RESERVED_UNTIL = "reserved_until"
VALID_UNTIL = "valid_until"
CHARGE_ID = "charge_id"
ORDER_NUMBER = "order_number"
REFUND_ID = "refund_id"
RECHARGE_ID = "recharge_id"
TOP_UP = "top_up"  # op.request["value"] of a recharge

_SPACE = re.compile(r"\s")


def normalize_code(raw: str) -> str:
    """``" 0A1B2C3D4E5F60718293\\r\\n"`` -> ``"0a1b2c3d4e5f60718293"``: control
    characters and whitespace out, lower case (JTL's ids are lower-case hex)."""
    return _SPACE.sub("", clean(raw)).lower()


def _shown(minor: Any, currency: str) -> str:
    if isinstance(minor, int) and not isinstance(minor, bool):
        return Money(minor, currency).shown()
    return "?"


def _rows(state: Snapshot | None, kind: str) -> list[dict[str, Any]]:
    if not state:
        return []
    rows = state.get("charges")
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, dict) and row.get("type") == kind]


def _is_top_up(op: Operation) -> bool:
    return op.request.get("value") == TOP_UP


class JtlSettling:
    """:class:`pos_app.providers.base.Settling` for JTL-Voucher Cloud."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        if op.kind is OpKind.AUTHORIZE:
            return self._reservation(op, before, now)
        if op.kind is OpKind.CAPTURE:
            return self._charge(op, now)
        if op.kind is OpKind.REFUND:
            return self._refund(op, before, now)
        if op.kind is OpKind.VOID:
            return Judgement(Verdict.APPLIED)  # nothing was sent: the hold lapses at JTL
        if op.kind is OpKind.CREATE:
            return self._recharge(op, now) if _is_top_up(op) else self._activation(op, now)
        if op.kind is OpKind.UNDO:
            return self._deactivation(now)
        return Judgement(Verdict.OTHER, _("JTL cannot settle a {operation}").format(operation=op.kind.value))

    # -- by kind ---------------------------------------------------------------------
    @staticmethod
    def _reservation(op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        if not now.get("locked"):
            return Judgement(Verdict.UNCHANGED)
        if before is None or not before.get("locked") or now.get("locked_until") != before.get("locked_until"):
            # Ours (its id was lost; the close reserves again, which replaces it). A hold
            # does not lower JTL's remaining amount: the balance after it is what the
            # charge will leave, as an Authorization's new_balance says.
            remaining = _minor(now.get("remaining"))
            after = None if remaining is None or op.amount is None else remaining - op.amount.minor
            return Judgement(Verdict.APPLIED, balance=after)
        return Judgement(Verdict.UNCHANGED)  # the same hold as before: someone else's

    @staticmethod
    def _charge(op: Operation, now: Snapshot) -> Judgement:
        charges = _rows(now, "charge")
        if not charges:
            return Judgement(Verdict.UNCHANGED)
        wanted = None if op.amount is None else op.amount.minor
        for row in charges:
            if wanted is None or row.get("amount") == wanted:
                refs = {CHARGE_ID: str(row.get("id") or "")}
                if row.get("order_number") is not None:
                    refs[ORDER_NUMBER] = str(row["order_number"])
                return Judgement(Verdict.APPLIED, refs=refs, balance=_minor(now.get("remaining")))
        currency = op.amount.currency if op.amount is not None else "CHF"
        return Judgement(Verdict.OTHER, _(
            "JTL shows a charge of {charged} under this order number, not the {amount} of this payment"
        ).format(charged=_shown(charges[0].get("amount"), currency),
                 amount=op.amount.shown() if op.amount else "?"))

    @staticmethod
    def _refund(op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        was = _rows(before, "refund")
        rows = _rows(now, "refund")
        known = {row.get("id") for row in was}
        new = [row for row in rows if row.get("id") not in known]
        wanted = None if op.amount is None else op.amount.minor
        if len(rows) == len(was) + 1 and len(new) == 1 and (wanted is None or new[0].get("amount") == wanted):
            return Judgement(Verdict.APPLIED, refs={REFUND_ID: str(new[0].get("id") or "")},
                             balance=_minor(now.get("remaining")))
        if new and before is not None:
            currency = op.amount.currency if op.amount is not None else "CHF"
            amounts = ", ".join(_shown(row.get("amount"), currency) for row in new)
            return Judgement(Verdict.OTHER, _(
                "JTL shows other refunds under this order number ({amounts}), not one of {amount}"
            ).format(amounts=amounts, amount=op.amount.shown() if op.amount else "?"))
        return Judgement(Verdict.UNCHANGED)

    @staticmethod
    def _activation(op: Operation, now: Snapshot) -> Judgement:
        status = now.get("status")
        if status == "inactive":
            return Judgement(Verdict.UNCHANGED)
        amount = now.get("amount")
        if status == "active" and (op.amount is None or amount == op.amount.minor):
            return Judgement(Verdict.APPLIED, balance=_minor(now.get("remaining")))
        currency = op.amount.currency if op.amount is not None else "CHF"
        if status == "active":
            return Judgement(Verdict.OTHER, _(
                "the voucher is active with a value of {total}, not the {amount} of this sale"
            ).format(total=_shown(amount, currency), amount=op.amount.shown() if op.amount else "?"))
        return Judgement(Verdict.OTHER, _("JTL shows the voucher with status {status!r}").format(status=status))

    @staticmethod
    def _recharge(op: Operation, now: Snapshot) -> Judgement:
        rows = _rows(now, "recharge")
        wanted = None if op.amount is None else op.amount.minor
        for row in rows:
            if wanted is None or row.get("amount") == wanted:
                return Judgement(Verdict.APPLIED, refs={RECHARGE_ID: str(row.get("id") or "")},
                                 balance=_minor(now.get("remaining")))
        if rows:
            currency = op.amount.currency if op.amount is not None else "CHF"
            return Judgement(Verdict.OTHER, _(
                "JTL shows a top-up of {charged} under this order number, not the {amount} of this sale"
            ).format(charged=_shown(rows[0].get("amount"), currency),
                     amount=op.amount.shown() if op.amount else "?"))
        return Judgement(Verdict.UNCHANGED)

    @staticmethod
    def _deactivation(now: Snapshot) -> Judgement:
        status = now.get("status")
        if status == "inactive":
            return Judgement(Verdict.APPLIED)
        if status == "active":
            return Judgement(Verdict.UNCHANGED)
        return Judgement(Verdict.OTHER, _("JTL shows the voucher with status {status!r}").format(status=status))

    # -- answers -----------------------------------------------------------------------
    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        amount = op.amount
        if isinstance(answer, Captured):
            if not answer.refs.get(CHARGE_ID):
                return _("JTL answered a charge without a charge id")
            if amount is not None and answer.amount is not None and answer.amount != amount:
                return _("JTL charged {charged}, but {asked} was asked").format(
                    charged=answer.amount.shown(), asked=amount.shown())
            return None
        if isinstance(answer, Authorization) and answer.new_balance is not None and answer.new_balance.is_negative:
            return _("JTL answered a negative new balance ({balance})").format(balance=answer.new_balance.shown())
        if isinstance(answer, ValueResult) and amount is not None and answer.amount != amount:
            if op.kind is OpKind.CREATE:
                text = _("JTL topped up {amount}, but {asked} was asked") if _is_top_up(op) else \
                    _("JTL activated {amount}, but {asked} was asked")
            else:
                text = _("JTL deactivated {amount}, but {asked} was asked")
            return text.format(amount=answer.amount.shown(), asked=amount.shown())
        return None

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        """None: a balance check does not show the voucher's lock, so it cannot
        stand for the state a reservation is decided by (the core reads
        :meth:`JtlClient.state_of` before sending)."""
        return None


def _minor(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
