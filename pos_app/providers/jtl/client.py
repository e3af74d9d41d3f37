"""JTL-Voucher Cloud API v1.8 client (``/work/shared/providers/jtl.md``).

The port's calls map onto JTL like this:

* ``balance``      GET   ``/vouchers/{id}`` (the barcode is the voucher's id)
* ``authorize``    GET   ``/vouchers/{id}/complete`` (code, pin), then
  POST ``/reservations``: a hold, valid 30 minutes
* ``capture``      POST  ``/reservations/{id}/charge`` with the order number
* ``void``         nothing to send: JTL cannot drop a reservation, it lapses
* ``refund``       POST  ``/charges/{id}/refund`` (partial allowed)
* gift voucher     PATCH ``/vouchers/{id}/status`` active / inactive
* top-up           POST  ``/vouchers/recharge``
* ``state_of``     GET   ``/vouchers/{id}`` and ``/vouchers/{id}/charges?filter[order_number]=``

Rules this client keeps:

* OAuth 2 client credentials: one token, cached until shortly before it
  expires, fetched by one request at a time (concurrent calls share it). A
  401 on an API call fetches one new token and sends that request once more
  (a 401 means JTL did not process it, so this is safe for a POST too); a
  second 401 is an :class:`AuthenticationError`. A 403 names the scope the
  call needs.
* Every request goes through one :class:`~pos_app.providers.http.ProviderHttp`
  (sent once, typed errors raised outside ``except`` blocks, secrets masked).
  The client secret, every access token and a voucher's code and pin never
  appear in a message, a log line or a repr.
* Amounts are ``"10.53"`` strings (at most 5 digits before the point), read
  strictly: anything else is a :class:`BadResponse` (for a write one that is
  also an :class:`UnknownOutcome`).
"""

from __future__ import annotations

import asyncio
import copy
import json as jsonlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx

from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, MoneyError, exponent
from pos_app.i18n import _
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    BadResponse,
    Capability,
    Captured,
    HoldLapsed,
    NotFoundError,
    OpContext,
    Operation,
    OpKind,
    PermissionDenied,
    ProviderBase,
    ProviderError,
    RefusedError,
    Refs,
    Snapshot,
    TenderRef,
    UndoCheck,
    UnknownOutcome,
    ValueCheck,
    ValueKind,
    ValueResult,
    VoidResult,
    VoucherBalance,
    bad_response,
    refused_text,
)
from pos_app.providers.http import ProviderHttp, is_mutating
from pos_app.providers.jtl.settling import (
    CHARGE_ID,
    ORDER_NUMBER,
    RECHARGE_ID,
    REFUND_ID,
    RESERVATION_ID,
    RESERVED_UNTIL,
    TOP_UP,
    VALID_UNTIL,
    normalize_code,
)

__all__ = ["DEFAULT_BASE_URL", "RESERVATION_TTL", "SCOPES", "JtlClient", "token_url_for"]

PROVIDER = "jtl"
DISPLAY_NAME = "JTL"
BALANCE = "balance"  # a top-up's refs: the voucher's balance after it (minor units), printed on the receipt
DEFAULT_BASE_URL = "https://vouchers.api.jtl-software.com/v1"
# The scopes the till needs (jtl.md, Endpoints): never manage or update.
SCOPES = ("read", "read-lists", "read-secrets", "use", "recharge")
MAX_CLIENT_TYPE = 32
RESERVATION_TTL = timedelta(minutes=30)
MAX_PAGES = 20  # charges of one order number: far more pages than a till's order has
PER_PAGE = 100
MAX_COMMENT = 255
DEFAULT_EXPIRES_IN = 300  # a token answer without expires_in: ask again after 5 minutes
_AMOUNT = re.compile(r"^(\d{1,5})\.(\d{2})$")

# The 422 codes of a hold that is gone: nothing was charged, hold again.
_HOLD_GONE = frozenset({"RESERVATION.EXPIRED", "RESERVATION.REPLACED", "RESERVATION.NOT_FOUND"})

_log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Clock = Callable[[], float]


def token_url_for(base_url: str) -> str:
    """``https://h/v1`` -> ``https://h/oauth/token``: the token endpoint at the host's root."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/oauth/token", "", ""))


def amount_text(amount: Money) -> str:
    """``Money(1053, "CHF")`` -> ``"10.53"``: the only way an amount leaves the till for JTL."""
    text = amount.amount_str()
    if not _AMOUNT.match(text):
        raise MoneyError(_("{amount} cannot be sent to {provider} (at most 99999.99)").format(
            amount=amount.shown_with_currency(), provider=DISPLAY_NAME))
    return text


class _Fields:
    """Typed, defensive access to a JSON object from JTL; every problem is the
    right :class:`BadResponse` for the call."""

    def __init__(self, data: JsonObject, currency: str, *, mutating: bool, operation: str) -> None:
        self._data, self._currency = data, currency
        self._mutating, self._operation = mutating, operation

    def bad(self, detail: str) -> BadResponse:
        return bad_response(
            _("{provider} sent an unreadable answer (request {operation}: {problem}).").format(
                provider=DISPLAY_NAME, operation=self._operation, problem=detail),
            PROVIDER, mutating=self._mutating, operation=self._operation,
        )

    def text(self, name: str) -> str:
        value = self._data.get(name)
        if not isinstance(value, str) or not value:
            raise self.bad(_("{field} missing or not text").format(field=name))
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.bad(_("{field} is not text").format(field=name))
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._data.get(name, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.bad(_("{field} is not true/false").format(field=name))
        return value

    def money(self, name: str) -> Money:
        """``"10.53"`` exactly (at most 5 digits before the point); never a float."""
        value = self._data.get(name)
        match = _AMOUNT.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.bad(_('{field} is not an amount like "10.53"').format(field=name))
        return Money(int(match.group(1)) * 100 + int(match.group(2)), self._currency)

    def time(self, name: str) -> datetime | None:
        """An RFC 3339 time (None when null); one without an offset is taken as UTC."""
        value = self.optional_text(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.bad(_("{field} is not an RFC 3339 time").format(field=name)) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class JtlClient(ProviderBase):
    """The JTL-Voucher Cloud provider for one outlet (its own client id and secret)."""

    name = PROVIDER
    display_name = DISPLAY_NAME
    capabilities = frozenset({
        Capability.BALANCE, Capability.AUTHORIZE, Capability.CAPTURE, Capability.VOID,
        Capability.REFUND, Capability.CREATE, Capability.UNDO, Capability.TOP_UP,
    })

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        base_url: str,
        currency: str,
        timeout_s: float = 10.0,
        *,
        token_url: str | None = None,
        client_type: str = "pos_app",
        owns_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """``http`` is shared and owned by the caller unless ``owns_http``.
        ``currency`` is the outlet's: a voucher in another one is refused.
        ``clock`` gives epoch seconds (default ``time.time``): token lifetimes
        and voucher validity are measured with it."""
        if not client_id or not client_secret:
            raise AuthenticationError(
                _("No {provider} client id and secret are set for this outlet.").format(provider=DISPLAY_NAME),
                PROVIDER,
                hint=_("Connect the till with `pos providers connect jtl --pin PIN` (the pin from the JTL "
                       "Admin UI), or set them with `pos keys set --provider jtl`."))
        Money.zero(currency)  # raises MoneyError for a currency the till cannot hold
        if exponent(currency) != 2:
            raise MoneyError(_("{provider} amounts have two decimals; {currency} has not").format(
                provider=DISPLAY_NAME, currency=currency))
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = base_url.rstrip("/")
        self._token_url = token_url or token_url_for(self._base_url)
        self._client_type = client_type[:MAX_CLIENT_TYPE]
        self.currency = currency
        self._clock: Clock = clock or time.time
        self._requester = _JtlHttp(http, provider=PROVIDER, display_name=DISPLAY_NAME, timeout_s=timeout_s,
                                   secrets=(client_secret,))
        self._owns_http = owns_http
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()

    @classmethod
    def create(
        cls,
        client_id: str,
        client_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        currency: str = "CHF",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        token_url: str | None = None,
        client_type: str = "pos_app",
    ) -> JtlClient:
        """A client with its own ``AsyncClient`` (closed by :meth:`aclose`)."""
        http = httpx.AsyncClient(transport=transport)
        return cls(http, client_id, client_secret, base_url, currency, timeout_s, token_url=token_url,
                   client_type=client_type, owns_http=True)

    def __repr__(self) -> str:
        return f"JtlClient(base_url={self._base_url!r}, currency={self.currency!r})"

    def normalize_code(self, raw: str) -> str:
        return normalize_code(raw)

    # -- tenders --------------------------------------------------------------------
    async def balance(self, code: str) -> VoucherBalance:
        """The voucher by its id. One in another currency is refused here, before any money call."""
        voucher_id = self.normalize_code(code)
        f = await self._voucher(voucher_id, "balance")
        status = f.text("status")
        valid_until = f.time("valid_until")
        remaining, total = f.money("remaining_amount"), f.money("amount")
        message = self._not_usable(status, valid_until)
        return VoucherBalance(
            code=self.normalize_code(f.optional_text("id") or voucher_id),
            redeemable=not message,
            balance=remaining,
            total=total,
            currency=self.currency,
            message=message,
            product_id=f.optional_text("sku") or None,
        )

    async def authorize(self, code: str, amount: Money, ctx: OpContext) -> Authorization:
        """Reserve ``amount``: read the voucher's code and pin, then hold it (30 minutes).

        A new hold on the same voucher replaces an earlier one (one tender per
        voucher). The code and pin stay in this method."""
        self._check_amount(amount)
        voucher_id = self.normalize_code(code)
        f = await self._voucher(voucher_id, "authorize", complete=True)
        status = f.text("status")
        valid_until = f.time("valid_until")
        remaining = f.money("remaining_amount")
        problem = self._not_usable(status, valid_until)
        if problem:
            raise RefusedError(problem, PROVIDER, provider_message="", operation="authorize")
        if amount > remaining:
            raise RefusedError(
                _("The voucher has {remaining} left, less than {amount}.").format(
                    remaining=remaining.shown(), amount=amount.shown()),
                PROVIDER, provider_message="", operation="authorize")
        secret_code = f.text("code")
        pin = f.optional_text("pin")
        body: JsonObject = {"amount": amount_text(amount), "currency": self.currency, "code": secret_code}
        if pin:
            body["pin"] = pin
        data = await self._call("POST", "reservations", operation="authorize", scope="use", json=body,
                                subject=voucher_id, hidden=(secret_code, pin or ""))
        r = self._fields(data, True, "authorize")
        reservation_id = r.text("id")
        reserved_until = r.time("valid_until")
        held = r.money("amount")
        return Authorization(
            code=voucher_id,
            amount=held,
            refs={
                RESERVATION_ID: reservation_id,
                VALID_UNTIL: "" if valid_until is None else valid_until.isoformat(),
                RESERVED_UNTIL: "" if reserved_until is None else reserved_until.isoformat(),
            },
            new_balance=remaining - held,
        )

    async def capture(self, tender: TenderRef, ctx: OpContext) -> Captured:
        """Charge the hold with the order number. A hold that lapsed or was replaced is
        :class:`HoldLapsed` (nothing charged)."""
        reservation_id = tender.refs.get(RESERVATION_ID)
        if not reservation_id:
            raise HoldLapsed(
                _("This voucher payment has no hold at {provider} any more; nothing was charged.").format(
                    provider=DISPLAY_NAME),
                PROVIDER, provider_message="", operation="capture")
        if not ctx.order_number:
            raise ValueError("a JTL charge needs the order number")
        data = await self._call("POST", f"reservations/{quote(reservation_id, safe='')}/charge",
                                operation="capture", scope="use", json={"order_number": ctx.order_number},
                                subject=tender.code)
        f = self._fields(data, True, "capture")
        return Captured(refs={CHARGE_ID: f.text("id"), ORDER_NUMBER: ctx.order_number}, amount=f.money("amount"))

    async def void(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """Nothing to send: JTL has no call to drop a reservation. The hold lapses
        at ``lapses_at`` (the voucher stays blocked until then); it is never charged."""
        self._check_amount(amount)
        if amount != tender.amount:
            raise MoneyError(_("{provider} holds are dropped whole ({held}), not {amount}").format(
                provider=DISPLAY_NAME, held=tender.amount.shown(), amount=amount.shown()))
        lapses_at = _parse_time(tender.refs.get(RESERVED_UNTIL))
        if lapses_at is None:
            at = ctx.at if ctx.at.tzinfo is not None else ctx.at.astimezone()
            lapses_at = at + RESERVATION_TTL
        return VoidResult(code=tender.code, amount=amount, new_balance=None, lapses_at=lapses_at)

    async def refund(self, tender: TenderRef, amount: Money, ctx: OpContext) -> VoidResult:
        """Refund (part of) the charge; together never more than was charged."""
        self._check_amount(amount)
        charge_id = tender.refs.get(CHARGE_ID)
        if not charge_id:
            raise ValueError("this JTL payment has no charge_id: it was not charged")
        data = await self._call("POST", f"charges/{quote(charge_id, safe='')}/refund", operation="refund",
                                scope="use", json={"amount": amount_text(amount), "currency": self.currency},
                                subject=tender.code)
        f = self._fields(data, True, "refund")
        return VoidResult(code=tender.code, amount=f.money("amount"), new_balance=None,
                          refs={REFUND_ID: f.text("id")})

    # -- value lines -------------------------------------------------------------------
    async def check_value(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER) -> ValueCheck:
        """A gift voucher can be sold while inactive (for its face value); a voucher
        can be topped up while active and not expired (by any amount)."""
        voucher_id = self.normalize_code(code)
        f = await self._voucher(voucher_id, "activate_status")
        status = f.text("status")
        amount = f.money("amount")
        if kind is ValueKind.TOP_UP:
            message = self._not_usable(status, f.time("valid_until"))
            return ValueCheck(code=voucher_id, can_create=not message, free_amount=True, amount=None,
                              message=message)
        message = "" if status == "inactive" else (
            _("This voucher is already active: it was sold before.") if status == "active"
            else _("This voucher has the status {status!r} at {provider}.").format(status=status,
                                                                                  provider=DISPLAY_NAME))
        return ValueCheck(code=voucher_id, can_create=not message, free_amount=False, amount=amount,
                          message=message)

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        """Gift voucher: activate it (its face value). Top-up: recharge ``amount``."""
        voucher_id = self.normalize_code(code)
        order = ctx.order_number or ctx.reference
        if kind is ValueKind.TOP_UP:
            if amount is None:
                raise ValueError("a JTL top-up needs an amount")
            self._check_amount(amount)
            if not ctx.order_number:
                raise ValueError("a JTL top-up needs the order number")
            body = {"id": voucher_id, "amount": amount_text(amount), "currency": self.currency,
                    "order_number": ctx.order_number}
            data = await self._call("POST", "vouchers/recharge", operation="recharge", scope="recharge", json=body,
                                    subject=voucher_id)
            f = self._fields(data, True, "recharge")
            refs = {RECHARGE_ID: f.text("id")}
            try:  # the balance after it, for the receipt; the credit is made whatever this read says
                refs[BALANCE] = str((await self._voucher(voucher_id, "balance")).money("remaining_amount").minor)
            except ProviderError:
                pass
            return ValueResult(code=voucher_id, amount=f.money("amount"), refs=refs)
        f = await self._set_status(voucher_id, "active", f"order {order}", "activate")
        valid_until = f.time("valid_until")
        return ValueResult(code=voucher_id, amount=f.money("amount"),
                           refs={VALID_UNTIL: "" if valid_until is None else valid_until.isoformat()})

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Refs | None = None) -> UndoCheck:
        """Gift voucher: can be deactivated while active and unused. Top-up: the
        voucher's remaining balance (the caller checks it covers the top-up)."""
        voucher_id = self.normalize_code(code)
        f = await self._voucher(voucher_id, "deactivate_status")
        status = f.text("status")
        amount, remaining = f.money("amount"), f.money("remaining_amount")
        locked = f.flag("locked", False)
        if kind is ValueKind.TOP_UP:
            message = "" if status == "active" and not locked else (
                _("The voucher is held by a payment right now.") if status == "active"
                else _("This voucher is not active."))
            return UndoCheck(code=voucher_id, can_undo=not message, amount=remaining, message=message)
        if status != "active":
            message = _("This voucher is not active: there is nothing to deactivate.")
        elif remaining != amount:
            message = _("This voucher has been used ({remaining} of {amount} left): it cannot be taken back.").format(
                remaining=remaining.shown(), amount=amount.shown())
        else:
            message = ""
        return UndoCheck(code=voucher_id, can_undo=not message, amount=amount, message=message)

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.GIFT_VOUCHER, *,
                         refs: Mapping[str, str] | None = None) -> ValueResult:
        """Gift voucher: deactivate it. A top-up cannot be taken back by the till (yet)."""
        if kind is not ValueKind.GIFT_VOUCHER:
            return await super().undo_value(code, ctx, reason, kind, refs=refs)
        voucher_id = self.normalize_code(code)
        comment = reason or f"order {ctx.order_number or ctx.reference} cancelled"
        f = await self._set_status(voucher_id, "inactive", comment, "deactivate")
        return ValueResult(code=voucher_id, amount=f.money("amount"))

    # -- settling ------------------------------------------------------------------------
    async def state_of(self, op: Operation) -> Snapshot:
        """The state ``op`` is decided by (:mod:`pos_app.providers.jtl.settling`),
        amounts in minor units. A release reads nothing (it sent nothing)."""
        voucher_id = self.normalize_code(op.code)
        if op.kind is OpKind.VOID:
            return {}
        if op.kind is OpKind.AUTHORIZE:
            f = await self._voucher(voucher_id, "lookup")
            return {"status": f.text("status"), "remaining": f.money("remaining_amount").minor,
                    "locked": f.flag("locked", False), "locked_until": _iso(f.time("locked_until"))}
        if op.kind is OpKind.CAPTURE or (op.kind is OpKind.CREATE and op.request.get("value") == TOP_UP):
            return await self._charges_state(voucher_id, _order_number(op.request, op.refs))
        if op.kind is OpKind.REFUND:
            return await self._charges_state(voucher_id, _order_number(op.refs, op.request))
        if op.kind is OpKind.CREATE:
            f = await self._voucher(voucher_id, "lookup")
            return {"status": f.text("status"), "amount": f.money("amount").minor,
                    "remaining": f.money("remaining_amount").minor, "valid_until": _iso(f.time("valid_until"))}
        if op.kind is OpKind.UNDO:
            f = await self._voucher(voucher_id, "lookup")
            return {"status": f.text("status"), "amount": f.money("amount").minor,
                    "remaining": f.money("remaining_amount").minor}
        raise self._unsupported(Capability.BALANCE)

    async def _charges_state(self, voucher_id: str, order_number: str) -> Snapshot:
        """The voucher's remaining balance and its charges under ``order_number``
        (every page, at most :data:`MAX_PAGES`)."""
        f = await self._voucher(voucher_id, "lookup")
        remaining = f.money("remaining_amount").minor
        rows: dict[str, JsonObject] = {}
        path = f"vouchers/{quote(voucher_id, safe='')}/charges"
        for page in range(1, MAX_PAGES + 2):
            data = await self._call("GET", path, operation="lookup", scope="read-lists", subject=voucher_id,
                                    params={"filter[order_number]": order_number, "page": str(page),
                                            "per_page": str(PER_PAGE)})
            p = self._fields(data, False, "lookup")
            if page > MAX_PAGES:  # a lookup that misses a charge could decide "did not happen"
                raise p.bad(_("more than {count} pages of charges").format(count=MAX_PAGES))
            items = data.get("data")
            if not isinstance(items, list):
                raise p.bad(_("{field} missing or not a list").format(field="data"))
            for item in items:
                if not isinstance(item, dict):
                    raise p.bad(_("a charge is not an object"))
                c = self._fields(item, False, "lookup")
                charge_id = c.text("id")  # each once, should a page repeat one
                rows[charge_id] = {"id": charge_id, "type": c.text("type"), "amount": c.money("amount").minor,
                                   "order_number": c.optional_text("order_number")}
            if not items or not _more_pages(data, page):
                break
        # Not following links.next itself: it is a URL the answer names, and the
        # bearer token must go to our own API only.
        return {"remaining": remaining, "charges": list(rows.values())}

    async def aclose(self) -> None:
        """Close the HTTP client only if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- helpers --------------------------------------------------------------------------
    def _fields(self, data: JsonObject, mutating: bool, operation: str) -> _Fields:
        return _Fields(data, self.currency, mutating=mutating, operation=operation)

    async def _voucher(self, voucher_id: str, operation: str, *, complete: bool = False) -> _Fields:
        """GET the voucher (``complete``: with its code and pin); one in another
        currency than the outlet's is refused."""
        path = f"vouchers/{quote(voucher_id, safe='')}" + ("/complete" if complete else "")
        data = await self._call("GET", path, operation=operation,
                                scope="read-secrets" if complete else "read", subject=voucher_id)
        f = self._fields(data, False, operation)
        currency = f.text("currency")
        if currency != self.currency:
            raise RefusedError(
                _("This voucher is in {currency}; this till takes {expected}.").format(
                    currency=currency[:8], expected=self.currency),
                PROVIDER, provider_message="", operation=operation,
                hint=_("Take another payment method: the voucher cannot be used at this till."))
        return f

    async def _set_status(self, voucher_id: str, status: str, comment: str, operation: str) -> _Fields:
        data = await self._call("PATCH", f"vouchers/{quote(voucher_id, safe='')}/status", operation=operation,
                                scope="use", json={"status": status, "comment": comment[:MAX_COMMENT]},
                                subject=voucher_id)
        f = self._fields(data, True, operation)
        if f.text("status") != status:
            raise f.bad(_("status is not {status}").format(status=status))
        currency = f.text("currency")
        if currency != self.currency:
            raise f.bad(_("currency {currency!r}, this till expects {expected}").format(
                currency=currency[:8], expected=self.currency))
        return f

    def _not_usable(self, status: str, valid_until: datetime | None) -> str:
        """Why a voucher cannot pay or be topped up now (the till's words), or ``""``."""
        if status == "inactive":
            return _("This voucher is not active (not sold, or cancelled).")
        if status != "active":
            return _("This voucher has the status {status!r} at {provider}.").format(
                status=status[:20], provider=DISPLAY_NAME)
        if valid_until is not None and valid_until.timestamp() <= self._clock():
            return _("This voucher expired on {date}.").format(date=valid_until.date().isoformat())
        return ""

    def _check_amount(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise MoneyError(_("{provider} takes {currency} at this till, amount is {amount}").format(
                provider=DISPLAY_NAME, currency=self.currency, amount=amount.shown_with_currency()))
        if not amount.is_positive:
            raise MoneyError(_("amount must be positive, got {amount}").format(amount=amount.shown_with_currency()))
        amount_text(amount)

    # -- HTTP and OAuth ---------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        scope: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        subject: str = "",
        hidden: tuple[str, ...] = (),
    ) -> JsonObject:
        """One API request with the bearer token: the answer's JSON object, or the typed error.

        A 401 fetches a new token and sends the request once more (JTL did not
        process it); a second 401 is an :class:`AuthenticationError`. A 403 says
        which scope the client group lacks. ``hidden``: secrets of this request
        (a voucher's code and pin), masked in its answer like the client's own."""
        requester = self._requester
        url = f"{self._base_url}/{path}"
        mutating = is_mutating(method)
        masked = mask_code(subject) if subject else ""
        stale: str | None = None
        for _attempt in range(2):
            token = await self._access_token(stale)
            requester = self._requester.with_secrets(*hidden) if hidden else self._requester  # with the new token
            response, failure = await requester.send(
                method, url, operation=operation, mutating=mutating, params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}, json=json,
            )
            if failure is not None:
                _log.info("%s %s %s failed: %s", DISPLAY_NAME, operation, masked, type(failure).__name__)
                raise failure
            assert response is not None
            _log.debug("%s %s %s -> HTTP %d", DISPLAY_NAME, operation, masked, response.status_code)
            if response.status_code != 401:
                break
            stale = token
        else:
            self._forget(stale)
            raise AuthenticationError(
                _("{provider} did not accept this till's access token, also a new one: the client id or "
                  "secret of this outlet is wrong or was revoked.").format(provider=DISPLAY_NAME),
                PROVIDER, operation=operation, hint=_credentials_hint())
        if response.status_code == 403:
            self._forget(token)  # the next call asks for a new one: the group's scopes may be fixed by then
            raise _forbidden(scope, operation)
        error = requester.status_error(response, mutating=mutating, operation=operation)
        if error is not None:
            raise error
        return requester.parse_json_object(response, mutating=mutating, operation=operation)

    def _forget(self, token: str | None) -> None:
        if token is not None and self._token == token:
            self._token = None

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached token, or a new one (one request at a time; waiting calls share
        it). ``stale`` is a token JTL just rejected: it is not used again."""
        async with self._token_lock:
            if self._token is not None and self._token != stale and self._clock() < self._token_renew_at:
                return self._token
            self._token = None
            token, expires_in = await self._fetch_token(with_scope=True)
            if token is None:  # the client group lacks some of the scopes asked: take what it has
                _log.warning("%s: the client group of this till lacks one of the scopes %s; "
                             "calls that need it will be refused", DISPLAY_NAME, " ".join(SCOPES))
                token, expires_in = await self._fetch_token(with_scope=False)
            assert token is not None
            self._requester.add_secret(token)
            self._token = token
            self._token_renew_at = self._clock() + expires_in - min(60.0, expires_in * 0.1)
            return token

    async def _fetch_token(self, *, with_scope: bool) -> tuple[str | None, float]:
        """``POST /oauth/token`` (form-encoded client credentials). ``(None, 0)`` when
        JTL answers ``invalid_scope`` to the scopes asked (and ``with_scope``)."""
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret, "client_type": self._client_type}
        if with_scope:
            form["scope"] = " ".join(SCOPES)
        requester = self._requester
        response, failure = await requester.send(
            "POST", self._token_url, operation="token", mutating=False,  # a token moves no money
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            content=urlencode(form).encode("ascii"),
        )
        if failure is not None:
            _log.info("%s token request failed: %s", DISPLAY_NAME, type(failure).__name__)
            raise failure
        assert response is not None
        if response.status_code in (400, 401):
            error = _oauth_error(response)
            if response.status_code == 400 and error == "invalid_scope" and with_scope:
                return None, 0.0
            raise _token_refused(response.status_code, error)
        error_ = requester.status_error(response, mutating=False, operation="token")
        if error_ is not None:
            raise error_
        data = requester.parse_json_object(response, mutating=False, operation="token")
        f = _Fields(data, self.currency, mutating=False, operation="token")
        token = f.text("access_token")
        token_type = data.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise f.bad(_("token_type is not Bearer"))
        expires_in = data.get("expires_in", DEFAULT_EXPIRES_IN)
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in <= 0:
            raise f.bad(_("expires_in is not a positive number"))
        return token, float(expires_in)


def _credentials_hint() -> str:
    return _("Check the client id and secret with `pos keys set --provider jtl`, or connect the till again "
             "with `pos providers connect jtl --pin PIN` (the pin from the JTL Admin UI).")


def _forbidden(scope: str, operation: str) -> PermissionDenied:
    return PermissionDenied(
        _("{provider} refused this call: the client group of this till lacks the scope «{scope}».").format(
            provider=DISPLAY_NAME, scope=scope),
        PROVIDER, operation=operation,
        hint=_("Add the scope «{scope}» to this till's client group in the JTL Admin UI, then try again.").format(
            scope=scope))


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 ``error`` of a token answer (a fixed word, safe to show), or ``""``."""
    try:
        data = jsonlib.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,40}", error) else ""


def _token_refused(status: int, error: str) -> AuthenticationError:
    if status == 401 or error == "invalid_client":
        return AuthenticationError(
            _("{provider} rejected the client id or secret of this outlet.").format(provider=DISPLAY_NAME),
            PROVIDER, operation="token", hint=_credentials_hint())
    if error == "invalid_scope":
        return AuthenticationError(
            _("{provider} refused the scopes this till needs ({scopes}).").format(
                provider=DISPLAY_NAME, scopes=" ".join(SCOPES)),
            PROVIDER, operation="token",
            hint=_("Give this till's client group these scopes in the JTL Admin UI."))
    return AuthenticationError(
        _("{provider} refused the token request ({error}).").format(provider=DISPLAY_NAME,
                                                                    error=error or f"HTTP {status}"),
        PROVIDER, operation="token", hint=_credentials_hint())


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _order_number(first: Mapping[str, Any], second: Mapping[str, Any]) -> str:
    for source in (first, second):
        value = source.get(ORDER_NUMBER)
        if isinstance(value, str) and value:
            return value
    raise ValueError("a JTL charge is looked up by its order number, and this operation has none")


def _more_pages(data: JsonObject, page: int) -> bool:
    meta = data.get("meta")
    if isinstance(meta, dict):
        last = meta.get("last_page")
        if isinstance(last, int) and not isinstance(last, bool):
            return page < last
    links = data.get("links")
    return isinstance(links, dict) and bool(links.get("next"))


class _JtlHttp(ProviderHttp):
    """The shared HTTP rules plus JTL's error bodies ``{status, code, message}``:
    404 ``VOUCHER.NOT_FOUND`` unknown voucher, a lapsed hold, 400/422 refusals."""

    def with_secrets(self, *secrets: str) -> _JtlHttp:
        """A copy that also masks ``secrets`` (a voucher's code and pin, for one request)."""
        twin = copy.copy(self)
        twin._secrets = (*self._secrets, *(s for s in secrets if s))
        return twin

    def add_secret(self, secret: str) -> None:
        """Mask ``secret`` from now on (a new access token): the first secret (the
        client secret) stays, with the two tokens before this one."""
        kept = [s for s in self._secrets if s != secret]
        self._secrets = (*kept[:1], *kept[1:][-2:], secret)

    def status_error(self, response: httpx.Response, *, mutating: bool, operation: str) -> ProviderError | None:
        status = response.status_code
        if status in (400, 404, 422):
            own = self._jtl_error(response, status, operation)
            if own is not None:
                return own
        return super().status_error(response, mutating=mutating, operation=operation)

    def _jtl_error(self, response: httpx.Response, status: int, operation: str) -> ProviderError | None:
        """The whole JSON body (not the trimmed text a 422 with its list of errors may outgrow)."""
        data = self._parse(response.content)
        if not isinstance(data, dict):
            return None
        code = data.get("code") if isinstance(data.get("code"), str) else ""
        said = data.get("message") if isinstance(data.get("message"), str) else ""
        details = [e.get("message") for e in data.get("errors") or [] if isinstance(e, dict)] \
            if isinstance(data.get("errors"), list) else []
        words = " ".join([said, *(d for d in details if isinstance(d, str))]).strip()[:300]
        if code in _HOLD_GONE and operation == "capture":
            return HoldLapsed(
                _("The hold on this voucher at {provider} is gone (expired after 30 minutes, or replaced by a "
                  "newer one); nothing was charged.").format(provider=DISPLAY_NAME),
                PROVIDER, provider_message=words, operation=operation)
        if code == "RESERVATION.ALREADY_CHARGED":
            # Charged before, by an earlier request whose answer we did not get: the
            # charges under the order number decide it, never a refusal.
            return UnknownOutcome(
                _("{provider} says this hold was already charged: the till looks the charge up.").format(
                    provider=DISPLAY_NAME), PROVIDER, operation=operation)
        if status == 404 and code == "VOUCHER.NOT_FOUND":
            return NotFoundError(refused_text(DISPLAY_NAME, operation, not_found=True), PROVIDER,
                                 provider_message=words, operation=operation)
        if status == 404 and not code:
            return None
        return RefusedError(refused_text(DISPLAY_NAME, operation), PROVIDER, provider_message=words,
                            operation=operation)

