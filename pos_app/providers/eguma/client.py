"""E-GUMA REST API v1 client (``/work/shared/providers/eguma.md``).

The port's tender cycle maps onto E-GUMA like this:

* ``balance``   GET  ``/v1/vouchers/{code}/balance.json`` (resolves short codes)
* ``authorize`` POST ``/v1/vouchers/{code}/redeem.json`` (money leaves the voucher now)
* ``capture``   nothing to send: a redemption is final until cancelled
* ``void``      POST ``/v1/vouchers/{code}/cancel_redemption.json`` (token + amount)
* ``activation_status`` / ``activate``     ``/v1/depot_vouchers/{code}/activate*``
* ``deactivation_status`` / ``deactivate`` ``/v1/depot_vouchers/{code}/deactivate*``

Rules this client keeps:

* One injected ``httpx.AsyncClient`` for every call (connection reuse) and an
  explicit ``httpx.Timeout`` per request, plus an overall deadline so a
  server that trickles bytes cannot hang the till.
* The API key travels only as the ``apikey`` query parameter. httpx errors
  carry that URL, so they are translated into typed errors *outside* the
  ``except`` block: the typed error has neither ``__cause__`` nor
  ``__context__``, and no message built here contains a URL or the key.
* A POST is never retried: E-GUMA has no idempotency key, a repeated Redeem
  is a second redemption. A POST without a usable answer is
  :class:`UnknownOutcome`; the caller reconciles with Balance
  (see :mod:`pos_app.providers.eguma.settling`).
* Status codes and transport failures become typed errors in one place,
  shared by every provider (:class:`pos_app.providers.http.ProviderHttp`);
  E-GUMA adds only its meaning of HTTP 400 (:class:`_EgumaHttp`).
"""

from __future__ import annotations

from collections.abc import Mapping

from typing import Any
from urllib.parse import quote

import httpx

from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.domain.money import Money, MoneyError
from pos_app.i18n import _
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    BadResponse,
    Capability,
    Captured,
    NotFoundError,
    OpContext,
    OpKind,
    Operation,
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
    redact,
    refused_text,
)
from pos_app.providers.eguma.settling import balance_state
from pos_app.providers.http import ProviderHttp

__all__ = ["DEFAULT_BASE_URL", "REDEEM_TOKEN", "EgumaClient", "redact"]

PROVIDER = "eguma"
DISPLAY_NAME = "E-GUMA"
DEFAULT_BASE_URL = "https://api.e-guma.ch"
MAX_TEXT = 1024  # reference_number / deactivate_reason limit

REDEEM_TOKEN = "redeem_token"  # the reference a cancellation needs
_NOT_FOUND_MARKER = "nicht vorhanden"

JsonObject = dict[str, Any]


class _Fields:
    """Typed, defensive access to a JSON object from E-GUMA.

    Every problem (missing field, wrong type) becomes the right
    :class:`BadResponse` for the call: for a POST one that is also an
    :class:`UnknownOutcome`.
    """

    def __init__(self, data: JsonObject, *, mutating: bool, operation: str) -> None:
        self._data = data
        self._mutating = mutating
        self._operation = operation

    def bad(self, detail: str) -> BadResponse:
        return bad_response(
            _("{provider} sent an unreadable answer (request {operation}: {problem}).").format(
                provider=DISPLAY_NAME, operation=self._operation, problem=detail),
            PROVIDER,
            mutating=self._mutating,
            operation=self._operation,
        )

    def integer(self, name: str, default: int | None = None) -> int:
        value = self._data.get(name, default)
        if value is None:
            raise self.bad(_("{field} missing").format(field=name))
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.bad(_("{field} is not a whole number").format(field=name))
        return value

    def money(self, name: str, currency: str, default: int | None = None) -> Money:
        """An amount in cents; one the till cannot hold is an unreadable answer."""
        cents = self.integer(name, default)
        try:
            return Money(cents, currency)
        except MoneyError:
            raise self.bad(_("{field} is out of range").format(field=name)) from None

    def optional_int(self, name: str) -> int | None:
        return self.integer(name) if self._data.get(name) is not None else None

    def flag(self, name: str, default: bool | None = None) -> bool:
        value = self._data.get(name, default)
        if not isinstance(value, bool):
            raise self.bad(_("{field} missing or not true/false").format(field=name))
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value = self._data.get(name, default)
        if value is None:
            value = default
        if not isinstance(value, str):
            raise self.bad(_("{field} missing or not text").format(field=name))
        return value


class EgumaClient(ProviderBase):
    """The E-GUMA provider, one instance per outlet (each outlet has its own key)."""

    name = PROVIDER
    display_name = DISPLAY_NAME
    capabilities = frozenset(
        {
            Capability.BALANCE,
            Capability.AUTHORIZE,
            Capability.CAPTURE,
            Capability.VOID,
            Capability.CREATE,
            Capability.UNDO,
        }
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        currency: str = "CHF",
        timeout_s: float = 10.0,
        *,
        owns_http: bool = False,
    ) -> None:
        """``http`` is shared and owned by the caller unless ``owns_http``.

        ``currency`` is the E-GUMA account's currency (fixed per account);
        amounts in and out of this client must be in it.
        """
        if not api_key:
            raise AuthenticationError(_('No {provider} API key is set for this outlet.').format(provider=DISPLAY_NAME),
                                      PROVIDER)
        Money.zero(currency)  # raises MoneyError for a currency the till cannot hold
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._http = http
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self.currency = currency
        # Each httpx phase has timeout_s; the requester bounds the whole
        # exchange at 3 * timeout_s. It masks the key in provider texts.
        self._requester = _EgumaHttp(
            http, provider=PROVIDER, display_name=DISPLAY_NAME, timeout_s=timeout_s,
            secrets=(api_key,),
        )
        self._owns_http = owns_http

    @classmethod
    def create(
        cls,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        currency: str = "CHF",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> EgumaClient:
        """A client with its own ``AsyncClient`` (closed by :meth:`aclose`)."""
        http = httpx.AsyncClient(transport=transport)
        return cls(http, api_key, base_url, currency, timeout_s, owns_http=True)

    def __repr__(self) -> str:
        return f"EgumaClient(base_url={self._base_url!r}, currency={self.currency!r})"

    # -- codes ----------------------------------------------------------------
    def normalize_code(self, raw: str) -> str:
        """``" l4fu-5lqt-kjr3\\r\\n"`` -> ``"L4FU5LQTKJR3"``."""
        return normalize_voucher_code(raw)

    # -- the port -------------------------------------------------------------
    async def balance(self, code: str) -> VoucherBalance:
        """Balance check; ``result.code`` is the real code to use from now on."""
        data = await self._call("GET", "vouchers", code, "balance", operation="balance")
        f = _Fields(data, mutating=False, operation="balance")
        redeemable = f.flag("is_redeemable")
        currency = f.text("currency", self.currency) or self.currency
        if currency != self.currency:
            raise f.bad(_("currency {currency!r}, this till expects {expected}").format(
                currency=currency, expected=self.currency))
        total = f.optional_int("total_amount_in_cents")
        product_id = f.text("product_id", "")
        return VoucherBalance(
            code=self.normalize_code(f.text("code")),
            redeemable=redeemable,
            balance=f.money("balance_in_cents", self.currency, None if redeemable else 0),
            total=f.money("total_amount_in_cents", self.currency) if total is not None else None,
            currency=currency,
            message=f.text("message", ""),
            product_id=product_id or None,
        )

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization:
        """Redeem ``amount`` now, with our reference as ``reference_number``.
        Never retried: a second Redeem takes money twice."""
        self._check_amount(amount)
        body: JsonObject = {"amount_in_cents": amount.minor,
                            "reference_number": self._check_text(ctx.reference, "reference")}
        data = await self._call("POST", "vouchers", code, "redeem", body, operation="redeem")
        f = _Fields(data, mutating=True, operation="redeem")
        token = f.text("redeem_token")
        if not token:
            raise f.bad("redeem_token empty")
        new_balance = f.optional_int("balance_in_cents")
        return Authorization(
            code=self._answer_code(f, code),
            amount=amount,
            refs={REDEEM_TOKEN: token},
            new_balance=f.money("balance_in_cents", self.currency) if new_balance is not None else None,
        )

    async def capture(self, tender: TenderRef, ctx: OpContext) -> Captured:
        """Nothing to send: an E-GUMA redemption is final when it is made."""
        return Captured(refs={})

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """Cancel (part of) a redemption by its token; may be repeated until all is cancelled."""
        self._check_amount(amount)
        if amount.minor > tender.amount.minor:
            raise MoneyError(_('cannot cancel {amount} of a redemption of {redeemed}').format(
                amount=amount.shown_with_currency(), redeemed=tender.amount.shown_with_currency()))
        token = tender.refs.get(REDEEM_TOKEN)
        if not token:
            raise ValueError("a redemption without its redeem_token cannot be cancelled")
        body = {"redeem_token": token, "amount_in_cents": amount.minor}
        data = await self._call(
            "POST", "vouchers", tender.code, "cancel_redemption", body, operation="cancel_redemption"
        )
        f = _Fields(data, mutating=True, operation="cancel_redemption")
        new_balance = f.optional_int("balance_in_cents")
        return VoidResult(
            code=self._answer_code(f, tender.code),
            amount=amount,
            new_balance=f.money("balance_in_cents", self.currency) if new_balance is not None else None,
        )

    async def check_value(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER) -> ValueCheck:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().check_value(code, kind)
        """Activate status of a depot voucher: can it be sold now, for how much?"""
        data = await self._call(
            "GET", "depot_vouchers", code, "activate_status", operation="activate_status"
        )
        f = _Fields(data, mutating=False, operation="activate_status")
        free_amount = f.flag("free_amount", False)
        amount = f.optional_int("amount_in_cents")
        return ValueCheck(
            code=self._answer_code(f, code),
            can_create=f.flag("can_be_activated"),
            free_amount=free_amount,
            amount=None if free_amount or amount is None else f.money("amount_in_cents", self.currency),
            message=f.text("message", ""),
        )

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().create_value(code, amount, ctx, kind, details=details)
        """Activate a sold depot voucher; ``amount`` only for a free-amount voucher."""
        body: JsonObject = {}
        if amount is not None:
            self._check_amount(amount)
            body["amount_in_cents"] = amount.minor
        data = await self._call("POST", "depot_vouchers", code, "activate", body, operation="activate")
        f = _Fields(data, mutating=True, operation="activate")
        return ValueResult(code=self._answer_code(f, code),
                           amount=f.money("amount_in_cents", self.currency))

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().check_undo(code, kind)
        """Deactivate status: can a sold depot voucher be taken back now?"""
        data = await self._call(
            "GET", "depot_vouchers", code, "deactivate_status", operation="deactivate_status"
        )
        f = _Fields(data, mutating=False, operation="deactivate_status")
        return UndoCheck(
            code=self._answer_code(f, code),
            can_undo=f.flag("can_be_deactivated"),
            amount=f.money("amount_in_cents", self.currency, 0),
            message=f.text("message", ""),
        )

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Mapping[str, str] | None = None) -> ValueResult:
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().undo_value(code, ctx, reason, kind, refs=refs)
        body: JsonObject = {}
        if reason:
            body["deactivate_reason"] = reason[:MAX_TEXT]
        data = await self._call(
            "POST", "depot_vouchers", code, "deactivate", body, operation="deactivate"
        )
        f = _Fields(data, mutating=True, operation="deactivate")
        return ValueResult(code=self._answer_code(f, code),
                           amount=f.money("amount_in_cents", self.currency))

    async def state_of(self, op: Operation) -> Snapshot:
        """The state a lost answer is decided by (eguma.md, "Reconciling").

        * redemption and cancellation: the voucher's Balance;
        * activation: Activate status and Balance (active, and for how much);
        * deactivation: Activate status and Deactivate status (a deactivated
          depot voucher is back in the stack: it can be activated again).
        """
        if op.kind in (OpKind.AUTHORIZE, OpKind.VOID, OpKind.REFUND, OpKind.CAPTURE):
            return balance_state(await self.balance(op.code))
        if op.kind is OpKind.CREATE:
            status = await self.check_value(op.code)
            state = {"can_activate": status.can_create}
            state.update(balance_state(await self.balance(op.code)))
            return state
        if op.kind is OpKind.UNDO:
            status = await self.check_value(op.code)
            undo = await self.check_undo(op.code)
            return {"can_activate": status.can_create, "can_deactivate": undo.can_undo,
                    "amount": undo.amount.minor}
        raise self._unsupported(Capability.BALANCE)

    async def aclose(self) -> None:
        """Close the HTTP client only if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- values ----------------------------------------------------------------
    def _check_amount(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise MoneyError(_('{provider} account is in {currency}, amount is {amount}').format(
                provider=DISPLAY_NAME, currency=self.currency, amount=amount.shown_with_currency()))
        if amount.minor <= 0:
            raise MoneyError(_('amount must be positive, got {amount}').format(amount=amount.shown_with_currency()))

    @staticmethod
    def _check_text(text: str, what: str) -> str:
        if len(text) > MAX_TEXT:
            raise ValueError(f"{what} longer than {MAX_TEXT} characters")
        return text

    def _answer_code(self, f: _Fields, sent: str) -> str:
        """The code in an answer, normalised; E-GUMA echoes it as sent (maybe dashed)."""
        return self.normalize_code(f.text("code", "") or sent)

    # -- HTTP -------------------------------------------------------------------
    def _url(self, collection: str, code: str, action: str) -> str:
        encoded = quote(self.normalize_code(code), safe="")
        return f"{self._base_url}/v1/{collection}/{encoded}/{action}.json"

    async def _call(
        self,
        method: str,
        collection: str,
        code: str,
        action: str,
        body: JsonObject | None = None,
        *,
        operation: str,
    ) -> JsonObject:
        """One request, sent once, the key as ``?apikey=``: the answer's JSON
        object, or the typed error (:class:`_EgumaHttp` maps failures)."""
        return await self._requester.json_object(
            method,
            self._url(collection, code, action),
            operation=operation,
            params={"apikey": self._api_key},
            json=body,
            subject=mask_code(code),
        )


class _EgumaHttp(ProviderHttp):
    """The shared HTTP rules plus E-GUMA's meaning of HTTP 400.

    E-GUMA answers every refusal with 400 and a plain-text (German) message;
    an unknown voucher says "... nicht vorhanden".
    """

    def provider_error(
        self, status: int, text: str, *, mutating: bool, operation: str
    ) -> ProviderError | None:
        if status != 400:
            return None
        not_found = _NOT_FOUND_MARKER in text.lower()
        cls = NotFoundError if not_found else RefusedError
        return cls(
            refused_text(DISPLAY_NAME, operation, not_found=not_found),  # the text: shown labelled beside it
            PROVIDER,
            provider_message=text,
            operation=operation,
        )
