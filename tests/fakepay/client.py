"""FakePay client: the provider port over FakePay's API (see ``simulator.py``).

* ``balance``      GET  ``/v1/vouchers/{code}`` (``available`` is what pays)
* ``authorize``    POST ``/v1/vouchers/{code}/holds`` -> ``hold_id``
* ``capture``      POST ``/v1/holds/{hold_id}/capture`` with the order number -> ``charge_id``
* ``void``         POST ``/v1/holds/{hold_id}/release`` (whole holds only)
* ``refund``       POST ``/v1/charges/{charge_id}/refund``
* ``check_value`` / ``check_undo``  GET ``/v1/cards/{code}``
* ``create_value`` POST ``/v1/cards/{code}/issue``;  ``undo_value`` POST ``/v1/cards/{code}/cancel``
* ``state_of``     GET  ``/v1/operations?reference=R`` (before the send, with no
  reference yet: the voucher or card as it stands)

Amounts cross the edge as decimal strings, converted here and nowhere else.
The secrets travel as two headers; every request goes through one
:class:`~pos_app.providers.http.ProviderHttp` (sent once, typed errors,
secrets masked), whose error mapping FakePay extends with its JSON errors.
"""

from __future__ import annotations

from collections.abc import Mapping

import json
import re
from typing import Any
from urllib.parse import quote

import httpx

from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, MoneyError, exponent
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    BadResponse,
    Capability,
    Captured,
    NotFoundError,
    OpContext,
    Operation,
    OpKind,
    ProviderBase,
    ProviderError,
    RefusedError,
    Refs,
    Snapshot,
    TenderRef,
    UndoCheck,
    ValueCheck,
    ValueKind,
    ValueResult,
    VoidResult,
    VoucherBalance,
    bad_response,
)
from pos_app.providers.http import ProviderHttp
from tests.fakepay.settling import CHARGE_ID, HOLD_ID, normalize_code

PROVIDER = "fakepay"
DISPLAY_NAME = "FakePay"
MAX_REFERENCE = 64

JsonObject = dict[str, Any]


def to_text(amount: Money) -> str:
    """``Money(1053, "CHF")`` -> ``"10.53"``: the only way an amount leaves the till for FakePay."""
    return amount.amount_str()


class _Fields:
    """Typed access to a FakePay answer; every problem is the right BadResponse."""

    def __init__(self, data: JsonObject, currency: str, *, mutating: bool, operation: str) -> None:
        self._data, self._currency = data, currency
        self._mutating, self._operation = mutating, operation

    def bad(self, detail: str) -> BadResponse:
        return bad_response(f"{DISPLAY_NAME} sent an unreadable answer (request {self._operation}: {detail}).",
                            PROVIDER, mutating=self._mutating, operation=self._operation)

    def text(self, name: str, default: str | None = None) -> str:
        value = self._data.get(name, default)
        if not isinstance(value, str):
            raise self.bad(f"{name} missing or not text")
        return value

    def flag(self, name: str) -> bool:
        value = self._data.get(name)
        if not isinstance(value, bool):
            raise self.bad(f"{name} missing or not true/false")
        return value

    def money(self, name: str) -> Money:
        """A decimal string with exactly the currency's decimals (``"10.53"``); never a float."""
        value = self._data.get(name)
        places = exponent(self._currency)
        if not isinstance(value, str) or not re.fullmatch(rf"-?\d{{1,15}}\.\d{{{places}}}", value):
            raise self.bad(f"{name} is not an amount like \"10.53\"")
        try:
            return Money.parse(value, self._currency)
        except MoneyError:
            raise self.bad(f"{name} is out of range") from None

    def optional_money(self, name: str) -> Money | None:
        return None if self._data.get(name) is None else self.money(name)


class FakePayClient(ProviderBase):
    """The FakePay provider for one outlet (its own client id and secret)."""

    name = PROVIDER
    display_name = DISPLAY_NAME
    capabilities = frozenset(Capability)

    def __init__(self, http: httpx.AsyncClient, client_id: str, client_secret: str, base_url: str,
                 currency: str = "CHF", timeout_s: float = 10.0, *, owns_http: bool = False) -> None:
        if not client_id or not client_secret:
            raise AuthenticationError(f"No {DISPLAY_NAME} client id and secret are set for this outlet.",
                                      PROVIDER)
        Money.zero(currency)
        self._http = http
        self._headers = {"X-Client-Id": client_id, "X-Client-Secret": client_secret}
        self._base_url = base_url.rstrip("/")
        self.currency = currency
        self._requester = _FakePayHttp(http, provider=PROVIDER, display_name=DISPLAY_NAME,
                                       timeout_s=timeout_s, secrets=(client_secret,))
        self._owns_http = owns_http

    def __repr__(self) -> str:
        return f"FakePayClient(base_url={self._base_url!r}, currency={self.currency!r})"

    def normalize_code(self, raw: str) -> str:
        return normalize_code(raw)

    # -- tenders -----------------------------------------------------------------
    async def balance(self, code: str) -> VoucherBalance:
        code = self.normalize_code(code)
        data = await self._call("GET", f"vouchers/{quote(code, safe='')}", operation="balance", subject=code)
        f = self._fields(data, False, "balance")
        available = f.money("available")
        status = f.text("status")
        return VoucherBalance(
            code=self.normalize_code(f.text("code", code)),
            redeemable=status == "active" and available.is_positive,
            balance=available,
            total=None,
            currency=self.currency,
            message=f.text("message", ""),
            product_id=None,
        )

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization:
        """A hold: the amount is reserved on the voucher until capture or release."""
        self._check_amount(amount)
        code = self.normalize_code(code)
        body = {"amount": to_text(amount), "reference": self._reference(ctx)}
        data = await self._call("POST", f"vouchers/{quote(code, safe='')}/holds", body, operation="hold",
                                subject=code)
        f = self._fields(data, True, "hold")
        hold_id = f.text("hold_id")
        if not hold_id:
            raise f.bad("hold_id empty")
        return Authorization(code=self.normalize_code(f.text("code", code)), amount=f.money("amount"),
                             refs={HOLD_ID: hold_id}, new_balance=f.optional_money("available"))

    async def capture(self, tender: TenderRef, ctx: OpContext) -> Captured:
        """Turn the hold into a charge carrying the order number."""
        hold_id = self._ref(tender, HOLD_ID)
        if not ctx.order_number:
            raise ValueError("a FakePay capture needs the order number")
        body = {"reference": self._reference(ctx), "order_number": ctx.order_number}
        data = await self._call("POST", f"holds/{quote(hold_id, safe='')}/capture", body, operation="capture",
                                subject=tender.code)
        f = self._fields(data, True, "capture")
        charge_id = f.text("charge_id")
        if not charge_id:
            raise f.bad("charge_id empty")
        return Captured(refs={CHARGE_ID: charge_id})

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """Release the hold (before capture). FakePay releases whole holds only."""
        self._check_amount(amount)
        if amount != tender.amount:
            raise MoneyError(f"{DISPLAY_NAME} releases whole holds only ({tender.amount}), not {amount}")
        hold_id = self._ref(tender, HOLD_ID)
        data = await self._call("POST", f"holds/{quote(hold_id, safe='')}/release",
                                {"reference": self._reference(ctx)}, operation="release", subject=tender.code)
        f = self._fields(data, True, "release")
        return VoidResult(code=tender.code, amount=f.money("amount"), new_balance=f.optional_money("available"))

    async def refund(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """Refund (part of) the charge (after capture)."""
        self._check_amount(amount)
        charge_id = self._ref(tender, CHARGE_ID)
        body = {"amount": to_text(amount), "reference": self._reference(ctx)}
        data = await self._call("POST", f"charges/{quote(charge_id, safe='')}/refund", body, operation="refund",
                                subject=tender.code)
        f = self._fields(data, True, "refund")
        return VoidResult(code=tender.code, amount=f.money("amount"), new_balance=f.optional_money("available"),
                          refs={"refund_id": f.text("refund_id")})

    # -- value lines (cards) ---------------------------------------------------------
    async def _card(self, code: str, operation: str) -> _Fields:
        code = self.normalize_code(code)
        data = await self._call("GET", f"cards/{quote(code, safe='')}", operation=operation, subject=code)
        return self._fields(data, False, operation)

    async def check_value(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER) -> ValueCheck:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().check_value(code, kind)
        f = await self._card(code, "card_status")
        free = f.flag("free_amount")
        can = f.flag("can_issue")
        return ValueCheck(code=self.normalize_code(f.text("code", code)), can_create=can, free_amount=free,
                          amount=None if free else f.optional_money("amount"), message=f.text("message", ""))

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().create_value(code, amount, ctx, kind, details=details)
        code = self.normalize_code(code)
        body: JsonObject = {"reference": self._reference(ctx)}
        if amount is not None:
            self._check_amount(amount)
            body["amount"] = to_text(amount)
        data = await self._call("POST", f"cards/{quote(code, safe='')}/issue", body, operation="issue",
                                subject=code)
        f = self._fields(data, True, "issue")
        return ValueResult(code=code, amount=f.money("amount"), refs={"issue_id": f.text("issue_id")})

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().check_undo(code, kind)
        f = await self._card(code, "card_status")
        amount = f.optional_money("amount") or Money.zero(self.currency)
        return UndoCheck(code=self.normalize_code(f.text("code", code)), can_undo=f.flag("can_cancel"),
                         amount=amount, message=f.text("message", ""))

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Mapping[str, str] | None = None) -> ValueResult:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().undo_value(code, ctx, reason, kind, refs=refs)
        code = self.normalize_code(code)
        body: JsonObject = {"reference": self._reference(ctx)}
        if reason:
            body["reason"] = reason[:200]
        data = await self._call("POST", f"cards/{quote(code, safe='')}/cancel", body, operation="cancel",
                                subject=code)
        f = self._fields(data, True, "cancel")
        return ValueResult(code=code, amount=f.money("amount"), refs={"cancel_id": f.text("cancel_id")})

    # -- settling ----------------------------------------------------------------------
    async def state_of(self, op: Operation) -> Snapshot:
        """What decides ``op``: FakePay's lookup by our reference.

        Before the send the core asks with no reference yet (it is allocated
        with the intent): then the voucher (tenders) or card (value lines) as
        it stands, which an answer's new balance is checked against.
        """
        if op.reference:
            return {"lookup": await self.lookup(op.reference)}
        if op.kind in (OpKind.CREATE, OpKind.UNDO):
            f = await self._card(op.code, "card_status")
            amount = f.optional_money("amount")
            return {"card": {"status": f.text("status"), "can_issue": f.flag("can_issue"),
                             "can_cancel": f.flag("can_cancel"),
                             "amount": None if amount is None else amount.minor}}
        balance = await self.balance(op.code)
        return {"available": balance.balance.minor, "redeemable": balance.redeemable}

    async def lookup(self, reference: str) -> dict[str, Any]:
        """``GET /v1/operations?reference=R``, amounts in minor units (JSON for the journal)."""
        data = await self._call("GET", "operations", params={"reference": reference}, operation="lookup",
                                subject="")
        f = self._fields(data, False, "lookup")
        found = f.flag("found")
        rows = data.get("operations")
        if not isinstance(rows, list):
            raise f.bad("operations missing")
        operations = []
        for row in rows:
            if not isinstance(row, dict):
                raise f.bad("an operation is not an object")
            r = self._fields(row, False, "lookup")
            ids = row.get("ids") or {}
            if not isinstance(ids, dict) or not all(isinstance(v, str) for v in ids.values()):
                raise f.bad("ids is not an object of texts")
            amount, available = r.optional_money("amount"), r.optional_money("available")
            operations.append({
                "kind": r.text("kind"), "state": r.text("state"),
                "amount": None if amount is None else amount.minor,
                "available": None if available is None else available.minor,
                "ids": dict(ids), "order_number": row.get("order_number"), "message": r.text("message", ""),
            })
        return {"reference": reference, "found": found and bool(operations), "operations": operations}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- helpers -------------------------------------------------------------------------
    def _fields(self, data: JsonObject, mutating: bool, operation: str) -> _Fields:
        return _Fields(data, self.currency, mutating=mutating, operation=operation)

    def _check_amount(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise MoneyError(f"{DISPLAY_NAME} account is in {self.currency}, amount is {amount}")
        if not amount.is_positive:
            raise MoneyError(f"amount must be positive, got {amount}")

    @staticmethod
    def _reference(ctx: OpContext) -> str:
        if not 0 < len(ctx.reference) <= MAX_REFERENCE:
            raise ValueError(f"a FakePay reference has 1 to {MAX_REFERENCE} characters")
        return ctx.reference

    @staticmethod
    def _ref(tender: TenderRef, name: str) -> str:
        value = tender.refs.get(name)
        if not value:
            raise ValueError(f"this FakePay payment has no {name}")
        return value

    async def _call(self, method: str, path: str, body: JsonObject | None = None, *, operation: str,
                    params: dict[str, str] | None = None, subject: str = "") -> JsonObject:
        return await self._requester.json_object(
            method, f"{self._base_url}/v1/{path}", operation=operation, params=params,
            headers=self._headers, json=body, subject=mask_code(subject) if subject else "",
        )


class _FakePayHttp(ProviderHttp):
    """The shared HTTP rules plus FakePay's JSON errors: 404 unknown, 409/422 refusals."""

    def provider_error(self, status: int, text: str, *, mutating: bool, operation: str) -> ProviderError | None:
        if status not in (400, 404, 409, 422):
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        message = data.get("message") if isinstance(data, dict) else None
        message = message if isinstance(message, str) and message else text
        cls = NotFoundError if status == 404 else RefusedError
        return cls(f"{DISPLAY_NAME}: {message}" if message else f"{DISPLAY_NAME} refused the request.",
                   PROVIDER, provider_message=message, operation=operation)
