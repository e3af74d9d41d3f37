"""Deciding a Celbux operation whose answer was lost, and distrusting an answer
that contradicts the request (``providers/celbux.md``).

Celbux has a lookup by our reference: ``payment`` with ``OldReference``.
:meth:`CelbuxClient.state_of` asks it for the operation's own reference (a
``pay``'s or ``createVoucher``'s, or a ``reverse``'s own new one) and gives,
as plain JSON (journaled)::

    {"found": true, "reference": "o-t-000042", "type": "pay", "amount": 2000,
     "reverse_id": "", "tid": "14975698673"}

or ``{"found": false, "reference": ...}``; for a reversal that Celbux does not
show under its own reference, the original's lookup is added
(``original_reference``, ``original_reverse_id``): a ReverseID there means
the original was reversed.

* found, of the operation's type (``pay`` for AUTHORIZE, ``createVoucher`` for
  CREATE, ``reverse`` for VOID/UNDO), same amount: APPLIED, with the refs the
  answer would have given;
* found but reversed since (AUTHORIZE/CREATE with a ReverseID), of another
  type, or of another amount: OTHER (a person decides);
* the original reversed (VOID/UNDO): APPLIED — the money is back, once;
* **not found: UNCHANGED, never NOT_APPLIED.** Celbux's lookup shows what it
  has processed, not what is still on its way to it: a ``pay`` held up in a
  proxy or in Celbux's queue may arrive after the lookup said "no such
  reference", and Celbux does not deduplicate a request it has not yet seen
  (the Reference is unique, but only the *first* arrival of it counts: if
  the till decided "did not happen" and the first send then arrived, the
  customer would be charged for a payment the till no longer shows). So a
  "not found" leaves the core to wait out the settle window
  (``settle_s`` + ``timeout_s`` after the send) and read again; only then
  is it "did not happen" (the core's rule for UNCHANGED);
* a reversal refused with ``-9`` ("reversed already") is an unknown outcome
  for the client; its lookup then shows the original's ReverseID: APPLIED;
* Status ``-10`` (the simulator's "arrived, still in progress"): PENDING;
* ``{}`` (no reference yet: the read before the send), or a state read for
  another reference: UNCHANGED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos_app.domain.money import Money
from pos_app.i18n import N_, _
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

__all__ = [
    "AMOUNT_X100",
    "CREATED",
    "PHONE",
    "REFERENCE",
    "REVERSE_REFERENCE",
    "REVERSE_TID",
    "TID",
    "VOUCHER_NO",
    "CelbuxSettling",
    "meaning",
    "type_of",
]

# The refs keys (a pay's tender, an issue's line; a reversal reads them).
TID = "tid"
REFERENCE = "reference"  # our Reference of the pay / createVoucher (a reverse's OldReference)
VOUCHER_NO = "voucher_no"
CREATED = "created"  # YYYY/MM/DD HH:MM, as Celbux says
PHONE = "phone"  # the MSISDN a voucher was issued to (absent: the funder's own account)
AMOUNT_X100 = "amount_x100"  # an issue's amount in cents: its reversal's amount
REVERSE_TID = "reverse_tid"
REVERSE_REFERENCE = "reverse_reference"

PAY, CREATE, REVERSE = "pay", "createVoucher", "reverse"

# The till's meaning of each Status code (celbux.md, Transport): marked here,
# translated where shown.
_MEANINGS: dict[str, str] = {
    "1": N_("done"),
    "-1": N_("Celbux found the request invalid"),
    "-2": N_("the reference was used before"),
    "-3": N_("Celbux does not know this voucher"),
    "-4": N_("the voucher's balance is too low"),
    "-5": N_("this till's token is not allowed to do this"),
    "-6": N_("the phone number is not valid"),
    "-7": N_("the voucher is locked"),
    "-8": N_("Celbux does not know this transaction"),
    "-9": N_("the transaction was reversed already"),
    "-10": N_("Celbux is still processing it"),
}


def meaning(code: str) -> str:
    """The till's words for a Celbux Status code, in the language in use."""
    text = _MEANINGS.get(code)
    if text is None:
        return _("Celbux status {code}").format(code=code[:8])
    return _(text)


def type_of(value: Any) -> str | None:
    """A lookup's ``Type`` as one of ``pay``/``createVoucher``/``reverse`` (Celbux's
    wording is not documented: the names of its calls and their nouns are taken)."""
    if not isinstance(value, str):
        return None
    word = value.strip().lower().replace("_", "").replace(" ", "").replace("-", "")
    if word in ("pay", "payment", "redeem", "redemption", "debit"):
        return PAY
    if word in ("createvoucher", "create", "issue", "voucher", "voucherissue", "credit"):
        return CREATE
    if word in ("reverse", "reversal", "reversed", "refund", "cancel"):
        return REVERSE
    return None


_EXPECTED = {OpKind.AUTHORIZE: PAY, OpKind.CREATE: CREATE, OpKind.VOID: REVERSE, OpKind.UNDO: REVERSE}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _minor(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class CelbuxSettling:
    """:class:`pos_app.providers.base.Settling` for Celbux (by the lookup by our Reference)."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        expected = _EXPECTED.get(op.kind)
        if expected is None:
            return Judgement(Verdict.OTHER, _("Celbux cannot settle a {operation}").format(operation=op.kind.value))
        if not now or now.get("reference") != op.reference:
            # Nothing looked up (the read before the send), or a state read for
            # another reference (a later operation's read): it says nothing of this one.
            return Judgement(Verdict.UNCHANGED)
        if now.get("in_progress"):
            return Judgement(Verdict.PENDING, _("Celbux is still processing it"))
        if now.get("found") is not True:
            if op.kind in (OpKind.VOID, OpKind.UNDO) and _text(now.get("original_reverse_id")):
                return Judgement(Verdict.APPLIED, _("Celbux shows the original reversed"),
                                 refs={REVERSE_TID: _text(now.get("original_reverse_id")),
                                       REVERSE_REFERENCE: op.reference})
            # Not (yet) processed: a request still on its way may arrive later; the
            # core waits the settle window (module docstring).
            return Judgement(Verdict.UNCHANGED, _("Celbux has no transaction under this reference yet"))
        kind = type_of(now.get("type"))
        if kind != expected:
            return Judgement(Verdict.OTHER, _("Celbux shows a transaction of type {type!r} under this reference"
                                              ).format(type=_text(now.get("type"))[:40]))
        amount = _minor(now.get("amount"))
        if op.amount is not None and amount is not None and amount != op.amount.minor and expected != REVERSE:
            return Judgement(Verdict.OTHER, _("Celbux shows {amount} under this reference, not the {asked} asked"
                                              ).format(amount=Money(amount, op.amount.currency).shown(),
                                                       asked=op.amount.shown()))
        tid = _text(now.get("tid"))
        if expected == REVERSE:
            return Judgement(Verdict.APPLIED, refs={REVERSE_TID: tid, REVERSE_REFERENCE: op.reference})
        if _text(now.get("reverse_id")):
            return Judgement(Verdict.OTHER, _("Celbux shows it made and reversed since (reversal {reverse})").format(
                reverse=_text(now.get("reverse_id"))[:40]))
        refs: dict[str, str] = {TID: tid, REFERENCE: op.reference}
        if expected == CREATE:
            if _text(now.get("voucher_no")):
                refs[VOUCHER_NO] = _text(now.get("voucher_no"))
            if _text(now.get("created")):
                refs[CREATED] = _text(now.get("created"))
            if op.amount is not None:
                refs[AMOUNT_X100] = str(op.amount.minor)
            details = op.request.get("details")
            if isinstance(details, Mapping) and _text(details.get("phone")):
                refs[PHONE] = _text(details.get("phone"))
        return Judgement(Verdict.APPLIED, refs=refs)

    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        if isinstance(answer, Authorization):
            if answer.new_balance is not None and answer.new_balance.is_negative:
                return _("Celbux answered a negative new balance ({balance})").format(
                    balance=answer.new_balance.shown())
            said = answer.refs.get(REFERENCE)
            if said and op.reference and said != op.reference:
                return _("Celbux answered for another reference ({reference})").format(reference=said[:40])
            return None
        if isinstance(answer, VoidResult):
            return None  # the core compares the amount
        if not isinstance(answer, ValueResult):
            return None
        if op.amount is not None and answer.amount != op.amount:
            text = _("Celbux issued a voucher of {amount}, but {asked} was asked") if op.kind is OpKind.CREATE else \
                _("Celbux reversed {amount}, but {asked} was asked")
            return text.format(amount=answer.amount.shown(), asked=op.amount.shown())
        if op.kind is OpKind.CREATE:
            if not answer.refs.get(VOUCHER_NO):
                return _("Celbux answered an issue without a voucher number")
            said = answer.refs.get(REFERENCE)
            if said and op.reference and said != op.reference:
                return _("Celbux answered for another reference ({reference})").format(reference=said[:40])
        return None

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        """None: an operation is decided by the lookup by our reference, not by a balance."""
        return None
