"""Celbux voucher platform client: redeem ``168-NNNNN-NNNNN`` vouchers and issue
vouchers to a phone number (``/work/shared/providers/celbux.md``).

The port's calls map onto Celbux like this (every call ``POST
{base_url}/<call>?ns=<community>``):

* ``balance``      ``viewVoucher``   (VoucherNo)
* ``authorize``    ``pay``           (VoucherNo, Amount, Currency, StoreID, Reference)
* ``void``         ``reverse``       (StoreID, OldReference = the pay's Reference, its own Reference)
* ``create_value`` ``createVoucher`` (Username = the phone number, or none: the funder's
  own account; VoucherType, Amount, Currency, StoreID, Reference)
* ``undo_value``   ``reverse`` of that createVoucher
* ``state_of``     ``payment``       (OldReference = the operation's own Reference)

Rules this client keeps:

* Every field of a body is a string; amounts are cents (``"2000"`` = R20.00);
  ``Metadata`` is a JSON string. Answers are read leniently (a number where a
  string is documented is accepted).
* ``Authorization: bearer <token>``; the token never appears in a message, a
  log line or a repr (it is masked in every text Celbux sends back).
* Errors come as HTTP 200 with ``State: "Failed"`` and a negative ``Status``;
  each becomes the port's typed error with the till's meaning and Celbux's
  ``Error`` as ``provider_message``. ``-2`` (duplicate Reference) for a call
  that moves money is an :class:`UnknownOutcome`: the core never sends a
  Reference twice, so a duplicate means our own request arrived before
  (a proxy's retry, a lost answer): the lookup decides, never "failed".
* Nothing that moves money is retried here (``ProviderPolicy.deduplicated`` is empty).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, MoneyError
from pos_app.i18n import _
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    bad_response,
    BadResponse,
    Capability,
    NotFoundError,
    Offer,
    OfferField,
    OpContext,
    Operation,
    OpKind,
    PermissionDenied,
    ProviderBase,
    ProviderError,
    Refs,
    UndoCheck,
    RefusedError,
    Snapshot,
    TenderRef,
    UnknownOutcome,
    ValueKind,
    ValueResult,
    VoidResult,
    VoucherBalance,
)
from pos_app.providers.celbux.descriptor import CURRENCY, normalize_code, require_zar
from pos_app.providers.celbux.settling import (
    AMOUNT_X100,
    CREATED,
    PHONE,
    REFERENCE,
    REVERSE_REFERENCE,
    REVERSE_TID,
    TID,
    VOUCHER_NO,
    meaning,
)
from pos_app.providers.http import ProviderHttp

__all__ = ["CelbuxClient", "CelbuxRefused", "format_msisdn", "normalize_msisdn"]

PROVIDER = "celbux"
DISPLAY_NAME = "Celbux"
MAX_CENTS = 99_999_999_999  # R999 999 999.99: far above any till's amount
BALANCE_TTL_S = 120.0  # a balance read this recently stands for "the balance before" a pay

_log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Clock = Callable[[], float]

# The refusals whose meaning is the till's own, by Status (celbux.md, Transport).
_REFUSALS = frozenset({"-1", "-4", "-6", "-7"})


# -- phone numbers -------------------------------------------------------------------------
_PHONE_JUNK = re.compile(r"[\s\-().\u00a0/]")


def normalize_msisdn(raw: str) -> str:
    """A South African mobile number as Celbux wants it: ``"27"`` + 9 digits.

    Accepts ``082 123 4567``, ``0821234567``, ``+27 82 123 4567``, ``0027 82…``,
    ``27821234567`` (blanks, dashes, dots and brackets ignored). ValueError
    otherwise, in the cashier's words."""
    text = _PHONE_JUNK.sub("", raw or "")
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not text.isascii() or not text.isdigit():
        raise ValueError(_("{phone!r} is not a phone number: digits only, like 082 123 4567 or +27 82 123 4567"
                           ).format(phone=(raw or "")[:30]))
    if len(text) == 10 and text.startswith("0"):
        text = "27" + text[1:]
    if len(text) != 11 or not text.startswith("27") or text[2] == "0":
        raise ValueError(_("{phone!r} is not a South African mobile number (27 and 9 digits, like "
                           "+27 82 123 4567)").format(phone=(raw or "")[:30]))
    return text


def format_msisdn(msisdn: str) -> str:
    """``"27821234567"`` -> ``"+27 82 123 4567"`` (any accepted input form works)."""
    text = normalize_msisdn(msisdn)
    return f"+27 {text[2:4]} {text[4:7]} {text[7:]}"


# -- errors --------------------------------------------------------------------------------
class CelbuxRefused(RefusedError):
    """Celbux answered ``State: "Failed"``: nothing was done. ``status`` is its
    code, ``message`` the till's meaning, ``provider_message`` Celbux's ``Error``."""

    def __init__(self, message: str, *, status: str, provider_message: str, operation: str,
                 hint: str | None = None) -> None:
        super().__init__(message, PROVIDER, provider_message=provider_message, operation=operation, hint=hint)
        self.status = status


def _token_hint() -> str:
    return _("Check the token with `pos keys set --provider celbux --field token`.")


def _hint(status: str) -> str | None:
    if status == "-4":
        return _("Take the voucher's balance, or another payment method for the rest.")
    if status == "-7":
        return _("The voucher is locked at Celbux: the customer can unlock it in the Celbux app; otherwise "
                 "take another payment method.")
    if status == "-6":
        return _("Check the phone number with the customer: a South African mobile number, like "
                 "+27 82 123 4567.")
    if status == "-1":
        return _("Check the settings ([providers.celbux]: community, store_id, voucher_type); if it keeps "
                 "happening, call support.")
    return None


_WHAT: dict[str, str] = {  # the till's sentence for a refusal, by call
    "viewVoucher": "balance",
    "pay": "pay",
    "reverse": "reverse",
    "createVoucher": "issue",
    "payment": "lookup",
}


def _refused_sentence(call: str) -> str:
    what = _WHAT.get(call, "")
    if what == "balance":
        return _("{provider} refused the balance check: {meaning} (code {code}).")
    if what == "pay":
        return _("{provider} refused the payment: {meaning} (code {code}).")
    if what == "reverse":
        return _("{provider} refused the reversal: {meaning} (code {code}).")
    if what == "issue":
        return _("{provider} did not issue the voucher: {meaning} (code {code}).")
    return _("{provider} refused the request: {meaning} (code {code}).")


def _cents(amount: Money) -> str:
    """``Money(2000, "ZAR")`` -> ``"2000"``: the only way an amount leaves the till for Celbux."""
    if amount.currency != CURRENCY:
        raise MoneyError(_("{provider} takes amounts in ZAR; this amount is {amount}").format(
            provider=DISPLAY_NAME, amount=amount.shown_with_currency()))
    if not 0 < amount.minor <= MAX_CENTS:
        raise MoneyError(_("{amount} cannot be sent to {provider}").format(
            amount=amount.shown_with_currency(), provider=DISPLAY_NAME))
    return str(amount.minor)


def _metadata(ctx: OpContext | None = None) -> str:
    """``Metadata``: a JSON string (Celbux stores it with the transaction)."""
    if ctx is None or not ctx.order_number:
        return "{}"
    return json.dumps({"Order": ctx.order_number}, separators=(",", ":"))


SMS_OFFER = "sms"  # the one offer: a voucher sent to the customer's phone
SMS_MIN_X100 = 1000  # R10.00
SMS_MAX_X100 = 500000  # R5 000.00


class CelbuxClient(ProviderBase):
    """The Celbux provider for one outlet's store in one community."""

    name = PROVIDER
    display_name = DISPLAY_NAME
    capabilities = frozenset({Capability.BALANCE, Capability.AUTHORIZE, Capability.VOID, Capability.CREATE,
                              Capability.UNDO, Capability.DIGITAL})

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        base_url: str,
        community: str,
        store_id: str,
        *,
        voucher_type: str = "168Cash",
        currency: str = CURRENCY,
        timeout_s: float = 10.0,
        owns_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """``http`` is shared and owned by the caller unless ``owns_http``.
        ``clock`` (monotonic seconds) ages the balances remembered for a pay's new balance."""
        if not token:
            raise AuthenticationError(
                _("No {provider} token is set for this outlet.").format(provider=DISPLAY_NAME),
                PROVIDER, hint=_token_hint())
        require_zar(currency)
        if not community or not store_id:
            raise ValueError(_("a {provider} community and store_id are required").format(provider=DISPLAY_NAME))
        self._http = http
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._community = community
        self._store_id = store_id
        self._voucher_type = voucher_type
        self.currency = currency
        self._clock: Clock = clock or time.monotonic
        self._balances: dict[str, tuple[float, int]] = {}  # code -> (when read, cents)
        self._requester = ProviderHttp(http, provider=PROVIDER, display_name=DISPLAY_NAME, timeout_s=timeout_s,
                                       secrets=(token,))
        self._owns_http = owns_http

    @classmethod
    def create(cls, token: str, base_url: str, community: str, store_id: str, *, voucher_type: str = "168Cash",
               timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None,
               clock: Clock | None = None) -> CelbuxClient:
        """A client with its own ``AsyncClient`` (closed by :meth:`aclose`)."""
        http = httpx.AsyncClient(transport=transport)
        return cls(http, token, base_url, community, store_id, voucher_type=voucher_type, timeout_s=timeout_s,
                   owns_http=True, clock=clock)

    def __repr__(self) -> str:
        return f"CelbuxClient(base_url={self._base_url!r}, community={self._community!r})"

    def normalize_code(self, raw: str) -> str:
        return normalize_code(raw)

    # -- redeem --------------------------------------------------------------------------
    async def balance(self, code: str) -> VoucherBalance:
        """``viewVoucher``: redeemable when its Amount is above 0 and it is not Locked."""
        number = self.normalize_code(code)
        data = await self._call("viewVoucher", {"VoucherNo": number, "Metadata": "{}"}, operation="balance",
                                mutating=False, subject=mask_code(number))
        f = _Fields(data, mutating=False, operation="balance")
        cents = f.cents("Amount")
        locked = f.flag("Locked")
        self._balances[number] = (self._clock(), cents)
        if locked:
            message = _("The voucher is locked at Celbux.")
        elif cents <= 0:
            message = _("The voucher has no balance left.")
        else:
            message = ""
        return VoucherBalance(code=f.optional_text("VoucherNo") or number, redeemable=cents > 0 and not locked,
                              balance=Money(cents, self.currency), total=None, currency=self.currency,
                              message=message, product_id=f.optional_text("VoucherType") or None,
                              known=True)  # an unknown voucher is -3 (NotFoundError), never an answer

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization:
        """``pay`` ``amount`` from the voucher, ``ctx.reference`` as Reference. The new
        balance is the balance read just before (:meth:`balance`) less the amount, if known."""
        number = self.normalize_code(code)
        body = {"VoucherNo": number, "Amount": _cents(amount), "Currency": CURRENCY, "StoreID": self._store_id,
                "Reference": self._reference(ctx), "Metadata": _metadata(ctx)}
        data = await self._call("pay", body, operation="authorize", mutating=True, subject=mask_code(number))
        f = _Fields(data, mutating=True, operation="authorize")
        paid = f.optional_cents("Amount")
        answered = Money(paid, self.currency) if paid is not None else amount
        refs = {TID: f.text("TID"), REFERENCE: f.optional_text("Reference") or ctx.reference}
        new_balance: Money | None = None
        seen = self._balances.pop(number, None)
        if seen is not None and self._clock() - seen[0] <= BALANCE_TTL_S:
            new_balance = Money(seen[1] - answered.minor, self.currency)
            if not new_balance.is_negative:
                self._balances[number] = (self._clock(), new_balance.minor)
        return Authorization(code=number, amount=answered, refs=refs, new_balance=new_balance)

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """``reverse`` the pay (OldReference = its Reference, from ``tender.refs``) under
        a new Reference, ``ctx.reference``. Celbux reverses a payment whole."""
        number = self.normalize_code(tender.code)
        if amount != tender.amount:
            raise ValueError(_("{provider} reverses a payment whole ({whole}), not {amount}").format(
                provider=DISPLAY_NAME, whole=tender.amount.shown(), amount=amount.shown()))
        data = await self._reverse(tender.refs, ctx, operation="void", subject=mask_code(number))
        f = _Fields(data, mutating=True, operation="void")
        back = f.optional_cents("Amount")
        self._balances.pop(number, None)
        return VoidResult(code=number, amount=Money(back, self.currency) if back is not None else tender.amount,
                          new_balance=None,
                          refs={REVERSE_TID: f.optional_text("TID") or "", REVERSE_REFERENCE: ctx.reference})

    # -- issue -----------------------------------------------------------------------------
    # -- a voucher issued to a phone (the till's F1 list: "Voucher by SMS") -------------
    def offers(self) -> list[Offer]:
        return [Offer(code=SMS_OFFER, name=_("Voucher by SMS"), minimum=Money(SMS_MIN_X100, self.currency),
                      maximum=Money(SMS_MAX_X100, self.currency), store_credit=True)]

    async def offer_fields(self, code: str) -> list[OfferField]:
        return [OfferField(PHONE, _("Customer's phone number (27 and 9 digits)"))]

    def check_detail(self, code: str, name: str, value: str) -> str:
        if name == PHONE:
            return normalize_msisdn(value)  # ValueError in the cashier's words
        return value

    def shown_detail(self, code: str, name: str, value: str) -> str:
        return format_msisdn(value) if name == PHONE else ""

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        """Issue a voucher of ``amount`` (``createVoucher``) to ``details["phone"]`` (an
        MSISDN; absent: the funder's own account). Any kind but TOP_UP is an issue
        (the port will name it ``ValueKind.ISSUE``). ``code`` is the line's code, kept
        as the result's; the voucher's number is ``refs["voucher_no"]``."""
        if kind is ValueKind.TOP_UP:
            return await super().create_value(code, amount, ctx, kind, details=details)
        if amount is None:
            raise ValueError(_("a {provider} voucher issue needs an amount").format(provider=DISPLAY_NAME))
        phone = (details or {}).get("phone") or ""
        msisdn = normalize_msisdn(phone) if phone.strip() else ""
        body = {"VoucherType": self._voucher_type, "Amount": _cents(amount), "Currency": CURRENCY,
                "StoreID": self._store_id, "Reference": self._reference(ctx), "Metadata": _metadata(ctx)}
        if msisdn:
            body = {"Username": msisdn, **body}
        data = await self._call("createVoucher", body, operation="issue", mutating=True)
        f = _Fields(data, mutating=True, operation="issue")
        issued = f.optional_cents("Amount")
        answered = Money(issued, self.currency) if issued is not None else amount
        refs = {VOUCHER_NO: f.optional_text("VoucherNo") or "", TID: f.text("TID"),
                REFERENCE: f.optional_text("Reference") or ctx.reference, CREATED: f.optional_text("Created") or "",
                AMOUNT_X100: str(answered.minor)}
        if msisdn:
            refs[PHONE] = msisdn
            refs["sms_to"] = format_msisdn(msisdn)  # the receipt says where the voucher went
        refs["voucher_code"] = refs[VOUCHER_NO]  # the receipt prints it
        return ValueResult(code=code, amount=answered, refs=refs)

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck:
        """Can an issued voucher be reversed? Celbux reverses an issue whole, so only
        while the customer has spent none of it: ``viewVoucher`` of the number in
        ``refs`` (the issue's answer). Without the number (a lost answer decided by the
        lookup) the reverse itself decides."""
        if kind is ValueKind.TOP_UP:
            return await super().check_undo(code, kind, refs=refs)
        refs = refs or {}
        number = refs.get(VOUCHER_NO, "")
        cents = refs.get(AMOUNT_X100, "")
        issued = int(cents) if cents.isascii() and cents.isdigit() else None
        if not number or issued is None:
            return UndoCheck(code=code, can_undo=True, amount=Money(issued or 0, self.currency), message="")
        try:
            balance = await self.balance(number)
        except NotFoundError:
            return UndoCheck(code=code, can_undo=False, amount=Money(0, self.currency),
                             message=_("Celbux does not know voucher {code} any more.").format(code=number))
        if balance.balance.minor < issued:
            return UndoCheck(code=code, can_undo=False, amount=balance.balance, message=_(
                "Voucher {code} was issued for {issued}; {balance} is left on it, so Celbux cannot take it "
                "back whole.").format(code=number, issued=Money(issued, self.currency).shown(),
                                      balance=balance.balance.shown()))
        return UndoCheck(code=code, can_undo=True, amount=balance.balance, message="")

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *, refs: Refs | None = None) -> ValueResult:
        """``reverse`` an issue: ``refs`` are what :meth:`create_value` answered (its
        Reference, TID and amount); ``ctx.reference`` is the reversal's own."""
        if kind is ValueKind.TOP_UP:
            return await super().undo_value(code, ctx, reason, kind, refs=refs)
        refs = refs or {}
        data = await self._reverse(refs, ctx, operation="cancel")
        f = _Fields(data, mutating=True, operation="cancel")
        back = f.optional_cents("Amount")
        if back is None:
            cents = refs.get(AMOUNT_X100, "")
            back = int(cents) if cents.isascii() and cents.isdigit() else 0
        return ValueResult(code=code, amount=Money(back, self.currency),
                           refs={REVERSE_TID: f.optional_text("TID") or "", REVERSE_REFERENCE: ctx.reference})

    async def _reverse(self, refs: Refs, ctx: OpContext, *, operation: str, subject: str = "") -> JsonObject:
        old, tid = refs.get(REFERENCE, ""), refs.get(TID, "")
        if not old and not tid:
            raise ValueError(_("the till has neither the {provider} reference nor the TID of this transaction: it "
                               "cannot reverse it").format(provider=DISPLAY_NAME))
        body = {"StoreID": self._store_id, "Reference": self._reference(ctx), "Metadata": _metadata(ctx)}
        body = {**({"OldReference": old} if old else {"TID": tid}), **body}
        return await self._call("reverse", body, operation=operation, mutating=True, subject=subject)

    # -- settling --------------------------------------------------------------------------
    async def state_of(self, op: Operation) -> Snapshot:
        """``payment`` by ``OldReference = op.reference`` (see
        :mod:`pos_app.providers.celbux.settling`). ``{}`` without a reference (the
        read before the send: nothing to look up). A reversal Celbux does not show
        under its own reference adds the original's lookup (its ReverseID)."""
        if op.kind not in (OpKind.AUTHORIZE, OpKind.VOID, OpKind.CREATE, OpKind.UNDO):
            raise self._unsupported(Capability.BALANCE)
        if not op.reference:
            return {}
        state = await self._lookup(op.reference)
        if state["found"] or op.kind not in (OpKind.VOID, OpKind.UNDO):
            return state
        original = op.refs.get(REFERENCE, "")
        if original and original != op.reference:
            was = await self._lookup(original)
            state["original_reference"] = original
            state["original_found"] = was["found"]
            state["original_reverse_id"] = was.get("reverse_id", "") if was["found"] else ""
        return state

    async def _lookup(self, reference: str) -> Snapshot:
        try:
            data = await self._call("payment", {"OldReference": reference, "StoreID": self._store_id,
                                                "Metadata": "{}"}, operation="lookup", mutating=False)
        except NotFoundError:  # -3
            return {"found": False, "reference": reference}
        except CelbuxRefused as exc:
            if exc.status == "-8":  # no transaction under this reference (yet)
                return {"found": False, "reference": reference}
            if exc.status == "-10":  # it arrived and is not applied yet
                return {"found": False, "reference": reference, "in_progress": True}
            raise
        f = _Fields(data, mutating=False, operation="lookup")
        state: Snapshot = {"found": True, "reference": f.optional_text("Reference") or reference,
                           "type": f.optional_text("Type") or "", "amount": f.optional_cents("Amount"),
                           "reverse_id": f.optional_text("ReverseID") or "", "tid": f.optional_text("TID") or ""}
        for name, key in (("Date", "date"), ("Time", "time"), ("VoucherNo", "voucher_no"), ("Created", "created")):
            value = f.optional_text(name)
            if value:
                state[key] = value[:60]
        return state

    async def aclose(self) -> None:
        """Close the HTTP client only if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- one call ----------------------------------------------------------------------------
    def _reference(self, ctx: OpContext) -> str:
        if not ctx.reference:
            raise ValueError(_("a {provider} request needs our reference").format(provider=DISPLAY_NAME))
        return ctx.reference

    async def _call(self, call: str, body: Mapping[str, str], *, operation: str, mutating: bool,
                    subject: str = "") -> JsonObject:
        """``POST {base_url}/<call>?ns=<community>``: the answer when ``State`` is
        ``Success``; else the typed error (module docstring)."""
        for key, value in body.items():
            if not isinstance(value, str):  # celbux.md: every field is a string
                raise TypeError(f"Celbux field {key} must be a string, not {type(value).__name__}")
        headers = {"Authorization": f"bearer {self._token}", "Accept": "application/json"}
        response, failure = await self._requester.send(
            "POST", f"{self._base_url}/{call}", operation=operation, mutating=mutating,
            params={"ns": self._community}, headers=headers, json=dict(body))
        if failure is not None:
            _log.info("%s %s %s failed: %s", DISPLAY_NAME, call, subject, type(failure).__name__)
            raise failure
        assert response is not None
        _log.debug("%s %s %s -> HTTP %d", DISPLAY_NAME, call, subject, response.status_code)
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationError(
                _("{provider} rejected this outlet's token (HTTP {status}).").format(provider=DISPLAY_NAME,
                                                                                    status=status),
                PROVIDER, operation=operation, hint=_token_hint())
        error = self._requester.status_error(response, mutating=mutating, operation=operation)
        if error is not None:
            raise error
        data = self._requester.parse_json_object(response, mutating=mutating, operation=operation)
        failure = self._envelope_error(call, data, operation=operation, mutating=mutating)
        if failure is not None:
            _log.info("%s %s %s: %s", DISPLAY_NAME, call, subject, type(failure).__name__)
            raise failure
        return data

    def _envelope_error(self, call: str, data: JsonObject, *, operation: str, mutating: bool) -> ProviderError | None:
        state = data.get("State")
        code = data.get("Status")
        code = str(code) if isinstance(code, int) and not isinstance(code, bool) else code
        said = data.get("Error") if isinstance(data.get("Error"), str) else ""
        said = said[:300]
        if state == "Success" and code in ("1", None):
            return None
        if state != "Failed" and not (isinstance(code, str) and code.startswith("-")):
            return bad_response(
                _("{provider} sent an unreadable answer (request {operation}: State {state!r}, Status {status!r})."
                  ).format(provider=DISPLAY_NAME, operation=call, state=str(state)[:20], status=str(code)[:20]),
                PROVIDER, mutating=mutating, operation=operation)
        code = code if isinstance(code, str) else ""
        who = DISPLAY_NAME
        if code == "-5":
            return PermissionDenied(
                _("{provider} does not let this till's token do {call} in community {community}.").format(
                    provider=who, call=call, community=self._community),
                PROVIDER, operation=operation,
                hint=_("Ask Celbux to extend the token's scope to {call} in community {community}; the token "
                       "itself is right.").format(call=call, community=self._community))
        if code == "-2" and mutating:
            return UnknownOutcome(
                _("{provider} says this reference was used before: the till looks it up to learn whether the "
                  "{operation} was made.").format(provider=who, operation=call),
                PROVIDER, operation=operation)
        if code == "-9" and call == "reverse":
            # The original is reversed already: by this reversal (its answer lost
            # on the way) or by another. The lookup decides (settling: the original's ReverseID).
            return UnknownOutcome(
                _("{provider} says the transaction was reversed already: the till looks it up.").format(
                    provider=who),
                PROVIDER, operation=operation)
        if code == "-3":
            return NotFoundError(_("{provider} does not know this voucher.").format(provider=who), PROVIDER,
                                 provider_message=said, operation=operation)
        return CelbuxRefused(_refused_sentence(call).format(provider=who, meaning=meaning(code or "?"),
                                                            code=(code or "?")[:8]),
                             status=code[:8], provider_message=said, operation=operation, hint=_hint(code))


def _bad(problem: str, operation: str, *, mutating: bool) -> BadResponse:
    return bad_response(
        _("{provider} sent an unreadable answer (request {operation}: {problem}).").format(
            provider=DISPLAY_NAME, operation=operation, problem=problem),
        PROVIDER, mutating=mutating, operation=operation)


class _Fields:
    """Typed, defensive access to a Celbux answer; every problem is the right
    :class:`BadResponse` for the call. Celbux sends strings; numbers are accepted."""

    def __init__(self, data: Any, *, mutating: bool, operation: str) -> None:
        self._mutating, self._operation = mutating, operation
        if not isinstance(data, dict):
            raise self.bad(_("not an object"))
        self._data: JsonObject = data

    def bad(self, detail: str) -> BadResponse:
        return _bad(detail, self._operation, mutating=self._mutating)

    def optional_text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.bad(_("{field} is not text").format(field=name))
        if isinstance(value, int):
            return str(value)
        if not isinstance(value, str):
            raise self.bad(_("{field} is not text").format(field=name))
        return value.strip()

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if not value:
            raise self.bad(_("{field} missing or not text").format(field=name))
        return value

    def optional_cents(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not -MAX_CENTS <= value <= MAX_CENTS:
            raise self.bad(_("{field} is not a whole number of cents").format(field=name))
        return value

    def cents(self, name: str) -> int:
        value = self.optional_cents(name)
        if value is None:
            raise self.bad(_("{field} missing or not a whole number of cents").format(field=name))
        return value

    def flag(self, name: str) -> bool:
        value = self._data.get(name)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise self.bad(_("{field} is not true/false").format(field=name))
