"""Deciding a CSQ purchase or revert whose answer was lost, and distrusting an
answer that contradicts the request (``providers/csq.md``, Endpoints).

CSQ has a lookup by our reference: transaction info
(``GET /util/transaction/info/{terminalId}/{localReference}/{yyyyMMdd}``).
:meth:`CsqClient.state_of` reads it for the operation's own reference (a
purchase's, or a revert's own new one) and gives, as plain JSON (journaled)::

    {"found": true, "rc": 0, "resultcode": "10", "supplierreference": "...",
     "suppliertoken": "...", "local_reference": "123", "local_date": "20261202"}

* ``resultcode`` ``10`` (purchase) / ``20`` (revert): it happened (APPLIED);
* ``900`` "not indexed yet", or ``15`` pending: CSQ has it and has not said
  yet: PENDING, never "did not happen";
* ``found: false`` (CSQ never received that reference on that day):
  NOT_APPLIED; the core may send the purchase again with the same
  ``localReference`` (CSQ deduplicates it);
* any other code (``971``, ``991``, …): final, nothing was bought
  (only ``10`` debits the account): NOT_APPLIED, with the till's meaning;
* ``{}`` (no reference yet: the read before the send): UNCHANGED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos_app.i18n import N_, _
from pos_app.providers.base import (
    Answer,
    Judgement,
    Operation,
    OpKind,
    Snapshot,
    ValueResult,
    Verdict,
    VoucherBalance,
)

__all__ = [
    "ACCOUNT",
    "AMOUNT_X100",
    "HAS_ADDITIONAL_DATA",
    "INLINE",
    "LOCAL_DATE",
    "LOCAL_REFERENCE",
    "NOT_INDEXED",
    "PENDING_CODES",
    "REFUNDED",
    "REVERT_LOCAL_DATE",
    "REVERT_LOCAL_REFERENCE",
    "SOLD",
    "SUPPLIER_REFERENCE",
    "SUPPLIER_TOKEN",
    "VOUCHER_CODE",
    "CsqSettling",
    "meaning",
]

# The refs keys of a purchase (the line's refs; a revert reads them).
VOUCHER_CODE = "voucher_code"
SUPPLIER_TOKEN = "supplier_token"
SUPPLIER_REFERENCE = "supplier_reference"
LOCAL_REFERENCE = "local_reference"
LOCAL_DATE = "local_date"  # yyyyMMdd of the localDateTime sent
HAS_ADDITIONAL_DATA = "has_additional_data"  # "1" / "0"
AMOUNT_X100 = "amount_x100"  # what was paid for it, in cents: a revert sends it again
ACCOUNT = "account"  # the account the purchase named, if any: a revert sends it again
# The redemption data a sale may carry inline (DummyPin): CSQ's field -> the refs key
# (also value_info's key for it).
INLINE = {"redeemInstructions": "instructions", "expiration": "expiration", "redeemCode": "redeem_code",
          "redeemAccount": "redeem_account"}
# A revert's refs.
REVERT_LOCAL_REFERENCE = "revert_local_reference"
REVERT_LOCAL_DATE = "revert_local_date"

SOLD = "10"
REFUNDED = "20"
NOT_INDEXED = "900"
PENDING_CODES = frozenset({"15", NOT_INDEXED})

# The till's meaning of each result code (csq.md, Transport): marked here,
# translated where shown.
_MEANINGS: dict[str, str] = {
    "10": N_("the sale was made"),
    "20": N_("the purchase was refunded"),
    "11": N_("the operator rejected it"),
    "12": N_("CSQ saw this transaction before (duplicate)"),
    "13": N_("the shop's CSQ balance or credit limit is too low"),
    "911": N_("the shop's CSQ balance or credit limit is too low"),
    "14": N_("no more purchases are allowed for this account"),
    "15": N_("CSQ is still processing it"),
    "16": N_("the operator is temporarily unavailable"),
    "17": N_("refused for security: the same sale was made moments ago"),
    "18": N_("the line (account) is deactivated"),
    "931": N_("the account is not valid"),
    "971": N_("the operator refused it"),
    "990": N_("the operator did not answer in time"),
    "991": N_("CSQ had a system error"),
    "992": N_("the operator had an internal error"),
    "998": N_("CSQ reports an unknown error"),
    "900": N_("CSQ has not indexed it yet"),
    "404": N_("CSQ does not know this transaction"),
}


def meaning(code: str) -> str:
    """The till's words for a CSQ result code, in the language in use."""
    text = _MEANINGS.get(code)
    if text is None:
        return _("CSQ result code {code}").format(code=code[:8])
    return _(text)


def _code(now: Mapping[str, Any]) -> str:
    value = now.get("resultcode")
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class CsqSettling:
    """:class:`pos_app.providers.base.Settling` for CSQ eVSB (by transaction info)."""

    def judge(self, op: Operation, before: Snapshot | None, now: Snapshot) -> Judgement:
        if op.kind not in (OpKind.CREATE, OpKind.UNDO):
            return Judgement(Verdict.OTHER, _("CSQ cannot settle a {operation}").format(operation=op.kind.value))
        if not now:  # nothing looked up (no reference yet: the read before the send)
            return Judgement(Verdict.UNCHANGED)
        if now.get("found") is False:
            return Judgement(Verdict.NOT_APPLIED, _("CSQ never received it"))
        code = _code(now)
        done = SOLD if op.kind is OpKind.CREATE else REFUNDED
        if code == done:
            return Judgement(Verdict.APPLIED, refs=self._refs(op, now))
        if code in PENDING_CODES or not code:
            return Judgement(Verdict.PENDING, _("CSQ has not finished it yet ({meaning})").format(
                meaning=meaning(code) if code else _("no result code yet")))
        if code in (SOLD, REFUNDED):  # a purchase's lookup showing a refund, or the reverse
            return Judgement(Verdict.OTHER, _("CSQ shows result code {code} ({meaning}) for this reference").format(
                code=code, meaning=meaning(code)))
        return Judgement(Verdict.NOT_APPLIED, _("CSQ did not do it: {meaning} (code {code})").format(
            meaning=meaning(code), code=code[:8]))

    @staticmethod
    def _refs(op: Operation, now: Snapshot) -> dict[str, str]:
        date = _text(now.get("local_date"))
        refs: dict[str, str] = {}
        reference = _text(now.get("local_reference")) or op.reference
        if op.kind is OpKind.CREATE:
            refs[LOCAL_REFERENCE] = reference
            if date:
                refs[LOCAL_DATE] = date
        else:
            refs[REVERT_LOCAL_REFERENCE] = reference
            if date:
                refs[REVERT_LOCAL_DATE] = date
        supplier_reference = _text(now.get("supplierreference"))
        if supplier_reference:
            refs[SUPPLIER_REFERENCE] = supplier_reference
        if op.kind is not OpKind.CREATE:
            return refs
        # What create_value's answer would have put in the line's refs, as far as
        # the lookup shows it: a revert needs the amount and account, the receipt the code.
        token = _text(now.get("suppliertoken"))
        if token:
            refs[SUPPLIER_TOKEN] = token
            refs[VOUCHER_CODE] = _text(now.get("vouchercode")) or token
        flag = _text(now.get(HAS_ADDITIONAL_DATA))
        if flag in ("0", "1"):
            refs[HAS_ADDITIONAL_DATA] = flag
        for key in INLINE.values():
            if _text(now.get(key)):
                refs[key] = _text(now.get(key))
        cents = now.get("amount_x100")
        if isinstance(cents, int) and not isinstance(cents, bool):
            refs[AMOUNT_X100] = str(cents)
        elif op.amount is not None:
            refs[AMOUNT_X100] = str(op.amount.minor)
        details = op.request.get("details")
        if isinstance(details, Mapping) and _text(details.get("account")):
            refs[ACCOUNT] = _text(details.get("account"))
        return refs

    def contradiction(self, op: Operation, before: Snapshot | None, answer: Answer) -> str | None:
        if not isinstance(answer, ValueResult):
            return None
        if op.amount is not None and answer.amount != op.amount:
            text = _("CSQ sold a voucher of {amount}, but {asked} was asked") if op.kind is OpKind.CREATE else \
                _("CSQ reverted {amount}, but {asked} was asked")
            return text.format(amount=answer.amount.shown(), asked=op.amount.shown())
        if op.kind is OpKind.CREATE and not answer.refs.get(VOUCHER_CODE):
            return _("CSQ answered a sale without a voucher code")
        return None

    def balance_snapshot(self, balance: VoucherBalance) -> Snapshot | None:
        """None: CSQ sells vouchers, it checks no balance."""
        return None
