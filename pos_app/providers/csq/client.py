"""CSQ eVSB prepaid API client: digital vouchers sold at the till
(``/work/shared/providers/csq.md``).

The customer pays; when the order closes the till buys the voucher from CSQ
and prints its code. The port's calls map onto CSQ like this:

* ``check_value``  GET  ``/pre-paid/recharge/parameters/{terminal}/{operator}``
* ``create_value`` POST ``/pre-paid/vouchers/purchase/{terminal}/{operator}/{localReference}``
* ``value_info``   GET  ``/pre-paid/vouchers/additional-data/{terminal}/{operator}/{suppliertoken}``
  (404 while CSQ prepares it: :class:`NotReady`)
* ``undo_value``   POST ``/util/revert/{terminal}/{operator}/{localReference}`` with the
  purchase's ``originalLocalReference``/``originalLocalDate`` (from the line's refs)
* ``state_of``     GET  ``/util/transaction/info/{terminal}/{localReference}/{yyyyMMdd}``
* :meth:`CsqClient.products` and :meth:`CsqClient.parameters` for the till's
  "digital vouchers" screen; :meth:`CsqClient.ping` checks the credentials.

A value line's ``code`` names the product: ``"9991"`` (the operator) or
``"9994/17"`` (operator and dynamic product id).

Rules this client keeps:

* Every request carries ``U`` (username), ``ST`` (Unix seconds, from an
  injectable clock), ``SH`` = ``sha256hex(sha256hex(password) + sha256hex(ST))``
  and ``Accept: application/json``. A 401 is an :class:`AuthenticationError`
  whose hint names the credentials *and* the machine's clock (CSQ accepts a
  salt 30 s old at most).
* The password and its SHA-256 never appear in a message, a log line or a
  repr (both are masked in every text CSQ sends back).
* Amounts are ``X100`` integers (cents) at the edge, :class:`Money` inside.
* The purchase is idempotent by ``localReference`` (our journal reference): a
  replay returns the original result and buys nothing twice. Result ``12``
  (duplicate) or ``15`` (pending) is therefore not a refusal but an
  :class:`UnknownOutcome`: transaction info decides.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from pos_app import i18n
from pos_app.domain.money import Money, MoneyError, exponent
from pos_app.i18n import _
from pos_app.providers.base import (
    AuthenticationError,
    bad_response,
    BadResponse,
    Capability,
    NotFoundError,
    NotReady,
    Offer,
    OfferField,
    OpContext,
    Operation,
    OpKind,
    PermissionDenied,
    ProviderBase,
    Refs,
    RefusedError,
    Snapshot,
    UndoCheck,
    UnknownOutcome,
    ValueCheck,
    ValueKind,
    ValueResult,
)
from pos_app.providers.csq.descriptor import CsqProduct, normalize_code
from pos_app.providers.csq.settling import (
    ACCOUNT,
    AMOUNT_X100,
    HAS_ADDITIONAL_DATA,
    INLINE,
    LOCAL_DATE,
    LOCAL_REFERENCE,
    NOT_INDEXED,
    REFUNDED,
    REVERT_LOCAL_DATE,
    REVERT_LOCAL_REFERENCE,
    SOLD,
    SUPPLIER_REFERENCE,
    SUPPLIER_TOKEN,
    VOUCHER_CODE,
    meaning,
)
from pos_app.providers.http import ProviderHttp

__all__ = ["DEFAULT_BASE_URL", "CsqClient", "CsqRefused", "DynamicProduct", "salted_hash"]

PROVIDER = "csq"
DISPLAY_NAME = "CSQ"
DEFAULT_BASE_URL = "https://evsbus.csqworld.com"
MAX_X100 = 99_999_999
MAX_FIELD = 200  # characters of one extra field sent (account, e-mail, message)
# The extra fields a purchase may carry (csq.md, Endpoints); others are not sent.
DETAIL_FIELDS = ("account", "beneficiaryPhoneNumber", "receiverEmail", "receiverMessage", "documentNumber",
                 "documentType")
DOCUMENT_TYPES = frozenset({"PASSPORT", "ID_CARD"})
# Transaction info's answer for a reference CSQ never received (the simulator's
# choice where csq.md is silent: rc -1, resultcode "404", final). Never 900.
NEVER_RECEIVED = "404"

_log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Clock = Callable[[], float]


def sha256hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def salted_hash(password: str, salt: str) -> str:
    """CSQ's ``SH`` header: ``sha256hex(sha256hex(password) + sha256hex(ST))``."""
    return sha256hex(sha256hex(password) + sha256hex(salt))


def x100(amount: Money) -> int:
    """``Money(2000, "EUR")`` -> ``2000``: the only way an amount leaves the till for CSQ."""
    if exponent(amount.currency) != 2:
        raise MoneyError(_("{provider} amounts have two decimals; {currency} has not").format(
            provider=DISPLAY_NAME, currency=amount.currency))
    if not 0 < amount.minor <= MAX_X100:
        raise MoneyError(_("{amount} cannot be sent to {provider}").format(
            amount=amount.shown_with_currency(), provider=DISPLAY_NAME))
    return amount.minor


@dataclass(frozen=True, slots=True)
class DynamicProduct:
    """One of an operator's dynamic products (``GET /vouchers/products``)."""

    id: str
    description: str
    amount: Money  # what the customer pays (amountToSendX100)
    destination_x100: int | None  # what the voucher is worth, in destination_currency
    destination_currency: str
    fee: Money | None
    total: Money | None
    additional: Mapping[str, str] = field(default_factory=dict)


class CsqRefused(RefusedError):
    """CSQ answered a result code other than success: nothing was bought or reverted
    (only ``10`` debits the account). ``result_code`` is CSQ's code, ``message`` the
    till's meaning of it, ``provider_message`` CSQ's own ``resultmessage``."""

    def __init__(self, message: str, *, result_code: str, provider_message: str, operation: str,
                 hint: str | None = None) -> None:
        super().__init__(message, PROVIDER, provider_message=provider_message, operation=operation, hint=hint)
        self.result_code = result_code


def _hint(code: str) -> str | None:
    if code in ("13", "911"):
        return _("The shop's CSQ account needs more credit; sell another product or take the voucher off the "
                 "order.")
    if code in ("16", "990", "991", "992", "998"):
        return _("Try again in a moment; if it keeps happening, take the voucher off the order.")
    if code in ("931", "18", "14", "11", "971"):
        return _("Check the customer's details (account, phone number) with the customer; otherwise take the "
                 "voucher off the order.")
    if code == "17":
        return _("The same voucher was just sold: check with the customer before selling it again.")
    return None


def _credentials_hint() -> str:
    return _("Check the credentials with `pos keys set --provider csq --field username` and "
             "`pos keys set --provider csq --field password`, and the machine's clock: CSQ accepts a request "
             "only within 30 seconds of its own time.")


def split_code(code: str) -> tuple[int, str | None]:
    """``"9994/17"`` -> ``(9994, "17")``; ``"9991"`` -> ``(9991, None)``. ValueError otherwise."""
    text = normalize_code(code)
    operator, _sep, product = text.partition("/")
    if not operator.isdigit() or not operator.isascii() or len(operator) > 9 or int(operator) <= 0:
        raise ValueError(_("{code!r} does not name a CSQ product (an operator id, or operator/product)").format(
            code=code[:40]))
    if _sep and (not product or len(product) > 64 or "/" in product):
        raise ValueError(_("{code!r} does not name a CSQ product (an operator id, or operator/product)").format(
            code=code[:40]))
    return int(operator), (product if _sep else None)


class CsqClient(ProviderBase):
    """The CSQ eVSB provider for one outlet's terminal."""

    name = PROVIDER
    display_name = DISPLAY_NAME
    capabilities = frozenset({Capability.CREATE, Capability.UNDO, Capability.DIGITAL})

    def __init__(
        self,
        http: httpx.AsyncClient,
        username: str,
        password: str,
        base_url: str,
        terminal_id: str,
        currency: str,
        timeout_s: float = 10.0,
        *,
        products: Sequence[CsqProduct] = (),
        owns_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """``http`` is shared and owned by the caller unless ``owns_http``.
        ``products`` are the shop's configured products (amounts are checked
        against them before anything is sent; empty: not checked). ``clock``
        gives Unix seconds (default ``time.time``): the ``ST`` salt and, for a
        lookup without a journaled date, today's local date."""
        if not username or not password:
            raise AuthenticationError(
                _("No {provider} username and password are set for this outlet.").format(provider=DISPLAY_NAME),
                PROVIDER, hint=_credentials_hint())
        Money.zero(currency)
        if exponent(currency) != 2:
            raise MoneyError(_("{provider} amounts have two decimals; {currency} has not").format(
                provider=DISPLAY_NAME, currency=currency))
        if not terminal_id:
            raise ValueError(_("a {provider} terminal id is required").format(provider=DISPLAY_NAME))
        self._http = http
        self._username = username
        self._password_hash = sha256hex(password)  # the password itself is not kept
        self._base_url = base_url.rstrip("/")
        self._terminal = quote(terminal_id, safe="")
        self.currency = currency
        self._products = {product.operator_id: product for product in products}
        self._clock: Clock = clock or time.time
        self._requester = _CsqHttp(http, provider=PROVIDER, display_name=DISPLAY_NAME, timeout_s=timeout_s,
                                   secrets=(password, self._password_hash))
        self._owns_http = owns_http

    @classmethod
    def create(cls, username: str, password: str, base_url: str, terminal_id: str, currency: str = "EUR",
               timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None, *,
               products: Sequence[CsqProduct] = (), clock: Clock | None = None) -> CsqClient:
        """A client with its own ``AsyncClient`` (closed by :meth:`aclose`)."""
        http = httpx.AsyncClient(transport=transport)
        return cls(http, username, password, base_url, terminal_id, currency, timeout_s, products=products,
                   owns_http=True, clock=clock)

    def __repr__(self) -> str:
        return f"CsqClient(base_url={self._base_url!r}, currency={self.currency!r})"

    def normalize_code(self, raw: str) -> str:
        return normalize_code(raw)

    # -- the digital vouchers screen ---------------------------------------------------
    async def ping(self, echo: str = "pos") -> None:
        """``GET /ping/{echo}``: wrong credentials or a wrong clock fail it (401)."""
        await self._call("GET", f"ping/{quote(echo, safe='')}", operation="ping", envelope=False)

    async def products(self, operator_id: int) -> list[DynamicProduct]:
        """The operator's dynamic products; ``[]`` when it has none (CSQ: 404, the common case)."""
        data = await self._call("GET", f"pre-paid/vouchers/products/{self._terminal}/{int(operator_id)}",
                                operation="products", absent_ok=True)
        if data is None:
            return []
        found: list[DynamicProduct] = []
        items = data.get("items")
        if not isinstance(items, list):
            raise _bad(_("{field} missing or not a list").format(field="items"), "products", mutating=False)
        for item in items:
            f = _Fields(item, mutating=False, operation="products")
            currency = f.optional_text("destinationCurrency") or self.currency
            found.append(DynamicProduct(
                id=f.ident("id"),
                description=f.optional_text("description") or "",
                amount=self._money(f.cents("amountToSendX100"), f),
                destination_x100=f.optional_cents("destinationAmountX100"),
                destination_currency=currency[:8],
                fee=None if (fee := f.optional_cents("serviceFeeX100")) is None else Money(fee, self.currency),
                total=None if (total := f.optional_cents("totalAmountX100")) is None else self._money(total, f),
                additional=f.pairs("additionalData"),
            ))
        return found

    async def parameters(self, operator_id: int) -> list[tuple[str, str]]:
        """The extra fields a purchase of this operator's products needs, as
        ``(field, label)`` with the label in the till's language (else English)."""
        data = await self._call("GET", f"pre-paid/recharge/parameters/{self._terminal}/{int(operator_id)}",
                                operation="parameters", absent_ok=True)
        if data is None:
            raise NotFoundError(_("{provider} does not know operator {operator}.").format(
                provider=DISPLAY_NAME, operator=int(operator_id)), PROVIDER, provider_message="",
                operation="parameters", hint=_("Check the product's operator_id in the settings ([providers.csq])."))
        rows = data.get("parameters") or []
        if not isinstance(rows, list):
            raise _bad(_("{field} is not a list").format(field="parameters"), "parameters", mutating=False)
        language = i18n.language()
        out: list[tuple[str, str]] = []
        for row in rows:
            f = _Fields(row, mutating=False, operation="parameters")
            name = f.text("field")
            labels = row.get("labels") if isinstance(row, dict) else None
            label = ""
            if isinstance(labels, dict):
                for key in (language, "en"):
                    if isinstance(labels.get(key), str) and labels[key]:
                        label = labels[key]
                        break
            out.append((name, label or name))
        return out

    # -- the port's offers (the till's "digital vouchers" screen) -----------------------
    def offers(self) -> list[Offer]:
        """The shop's configured products, in the order of the configuration."""
        out = []
        for product in self._products.values():
            money = [Money(cents, self.currency) for cents in product.amounts_x100]
            limits = product.range_x100
            out.append(Offer(
                code=str(product.operator_id), name=product.name, amounts=tuple(money),
                minimum=None if limits is None else Money(limits[0], self.currency),
                maximum=None if limits is None else Money(limits[1], self.currency),
                dynamic=product.dynamic))
        return out

    async def dynamic_offers(self, code: str) -> list[Offer]:
        """An operator's dynamic products, each an offer at its own price (``"4201/17"``)."""
        operator = int(normalize_code(code).split("/")[0])
        return [Offer(code=f"{operator}/{p.id}", name=p.description or p.id, amounts=(p.total or p.amount,))
                for p in await self.products(operator)]

    async def offer_fields(self, code: str) -> list[OfferField]:
        operator = int(normalize_code(code).split("/")[0])
        return [OfferField(name, label) for name, label in await self.parameters(operator)]

    # -- value lines -------------------------------------------------------------------
    async def check_value(self, code: str, kind: ValueKind = ValueKind.DIGITAL) -> ValueCheck:
        """Whether the product can be bought now: configured, and CSQ answers its
        parameters. A fixed single amount or a dynamic product has its amount; a
        list of amounts or a range is ``free_amount`` (the cashier picks one)."""
        if kind is not ValueKind.DIGITAL:
            return await super().check_value(code, kind)
        name = self.normalize_code(code)
        operator, product_id = split_code(name)
        product = self._products.get(operator)
        if self._products and product is None:
            return ValueCheck(code=name, can_create=False, free_amount=False, amount=None,
                              message=_("{provider} operator {operator} is not one of this shop's products.").format(
                                  provider=DISPLAY_NAME, operator=operator))
        if product is not None and product.currency != self.currency:
            return ValueCheck(code=name, can_create=False, free_amount=False, amount=None,
                              message=_("This product is sold in {currency}; this till takes {expected}.").format(
                                  currency=product.currency, expected=self.currency))
        try:
            await self.parameters(operator)  # CSQ answers for the operator: it can be bought now
        except NotFoundError as exc:
            return ValueCheck(code=name, can_create=False, free_amount=False, amount=None, message=exc.message)
        if product_id is not None:
            dynamic = await self._dynamic(operator, product_id)
            if dynamic is None:
                return ValueCheck(code=name, can_create=False, free_amount=False, amount=None,
                                  message=_("{provider} no longer offers this product.").format(provider=DISPLAY_NAME))
            return ValueCheck(code=name, can_create=True, free_amount=False, amount=dynamic.amount, message="")
        if product is not None and product.dynamic:
            return ValueCheck(code=name, can_create=False, free_amount=False, amount=None,
                              message=_("Choose one of {name}'s products.").format(name=product.name))
        if product is not None and len(product.amounts_x100) == 1:
            return ValueCheck(code=name, can_create=True, free_amount=False,
                              amount=Money(product.amounts_x100[0], self.currency), message="")
        return ValueCheck(code=name, can_create=True, free_amount=True, amount=None, message="")

    async def create_value(self, code: str, amount: Money | None, ctx: OpContext,
                           kind: ValueKind = ValueKind.DIGITAL, *,
                           details: Mapping[str, str] | None = None) -> ValueResult:
        """Buy the voucher ``code`` names for ``amount`` (None: the product's only
        amount, or a dynamic product's price), ``ctx.reference`` as localReference.

        Result ``10``: the voucher. Another code: :class:`CsqRefused` (nothing
        bought); ``12``/``15``: :class:`UnknownOutcome` (transaction info decides)."""
        if kind is not ValueKind.DIGITAL:
            return await super().create_value(code, amount, ctx, kind, details=details)
        name = self.normalize_code(code)
        operator, product_id = split_code(name)
        reference = _reference(ctx.reference)
        fields = _details(details)
        if amount is None:
            amount = await self._default_amount(operator, product_id)
        self._check_amount(operator, amount, dynamic=product_id is not None)
        local_at = _local(ctx.at)
        body: JsonObject = {"amountToSendX100": x100(amount), "localDateTime": local_at.isoformat(timespec="seconds")}
        if product_id is not None:
            body["dynamicProductId"] = product_id
        body.update(fields)
        data = await self._call("POST", f"pre-paid/vouchers/purchase/{self._terminal}/{operator}/{reference}",
                                operation="purchase", json=body, lenient=True)
        assert data is not None
        item = self._result(data, "purchase", SOLD)
        f = _Fields(item, mutating=True, operation="purchase")
        token = f.optional_text("suppliertoken") or ""
        voucher = f.optional_text("voucherCode") or token
        if not voucher:
            raise f.bad(_("no voucher code"))
        refs = {
            VOUCHER_CODE: voucher,
            SUPPLIER_TOKEN: token or voucher,
            SUPPLIER_REFERENCE: f.optional_text("supplierreference") or "",
            LOCAL_REFERENCE: reference,
            LOCAL_DATE: local_at.strftime("%Y%m%d"),
            HAS_ADDITIONAL_DATA: "1" if f.flag("hasAdditionalData") else "0",
            AMOUNT_X100: str(x100(amount)),
        }
        if fields.get("account"):
            refs[ACCOUNT] = fields["account"]
        for field_name, ref_key in INLINE.items():  # redemption data in the sale's own answer
            value = f.optional_text(field_name)
            if value:
                refs[ref_key] = value[:500]
        return ValueResult(code=name, amount=amount, refs=refs)

    async def value_info(self, code: str, refs: Refs) -> Mapping[str, str]:
        """What CSQ prepares after the sale (redemption instructions, expiry, a
        redeem code or account): :class:`NotReady` while it answers 404. ``{}`` for
        a voucher without additional data."""
        operator, _product = split_code(code)
        if refs.get(HAS_ADDITIONAL_DATA) == "0":  # nothing more to fetch; what the sale said inline
            return {name: refs[name] for name in INLINE.values() if refs.get(name)}
        token = refs.get(SUPPLIER_TOKEN) or refs.get(VOUCHER_CODE)
        if not token:
            raise ValueError(_("this {provider} voucher has no supplier token: nothing to look up").format(
                provider=DISPLAY_NAME))
        data = await self._call(
            "GET", f"pre-paid/vouchers/additional-data/{self._terminal}/{operator}/{quote(token, safe='')}",
            operation="additional_data", absent_ok=True)
        if data is None:
            raise NotReady(_("{provider} is still preparing this voucher's details.").format(provider=DISPLAY_NAME),
                           PROVIDER, operation="additional_data")
        item = _first_item(data)
        if item is None:
            item = data
        f = _Fields(item, mutating=False, operation="additional_data")
        code_ = f.optional_text("resultcode") or ""
        if code_ == NOT_INDEXED or code_ == "15":
            raise NotReady(_("{provider} is still preparing this voucher's details.").format(provider=DISPLAY_NAME),
                           PROVIDER, operation="additional_data")
        info = {
            "instructions": f.optional_text("redeemInstructions") or "",
            "expiration": f.optional_text("expiration") or "",
            "redeem_code": f.optional_text("redeemCode") or "",
            "redeem_account": f.optional_text("redeemAccount") or "",
        }
        for key, value in f.pairs("additionalData").items():
            info.setdefault(f"extra:{key}", value)
        return info

    async def check_undo(self, code: str, kind: ValueKind = ValueKind.DIGITAL, *,
                         refs: Refs | None = None) -> UndoCheck:
        """CSQ has no "can it be reverted" query (the product's rules and time window
        decide when the revert is sent): this checks that CSQ answers for the
        operator now, so an order's reverts are not started against a CSQ that
        cannot be reached. ``amount`` is zero: the till knows what was paid."""
        if kind is not ValueKind.DIGITAL:
            return await super().check_undo(code, kind)
        name = self.normalize_code(code)
        operator, _product = split_code(name)
        try:
            await self.parameters(operator)
        except NotFoundError as exc:
            return UndoCheck(code=name, can_undo=False, amount=Money.zero(self.currency), message=exc.message)
        return UndoCheck(code=name, can_undo=True, amount=Money.zero(self.currency), message="")

    async def undo_value(self, code: str, ctx: OpContext, reason: str | None = None,
                         kind: ValueKind = ValueKind.DIGITAL, *,
                         refs: Refs | None = None) -> ValueResult:
        """Revert a purchase: ``refs`` are the line's refs (what :meth:`create_value`
        answered: its local reference and date, amount, account). ``ctx.reference``
        is the revert's own new reference. Result ``20``: reverted; another
        code: :class:`CsqRefused` (the product's rules or time window)."""
        if kind is not ValueKind.DIGITAL:
            return await super().undo_value(code, ctx, reason, kind)
        name = self.normalize_code(code)
        operator, _product = split_code(name)
        refs = refs or {}
        original, original_date = refs.get(LOCAL_REFERENCE), refs.get(LOCAL_DATE)
        cents = refs.get(AMOUNT_X100, "")
        if not original or not original_date or not cents.isdigit():
            raise ValueError(_("the till does not have this purchase's {provider} reference, date and amount: "
                               "it cannot revert it").format(provider=DISPLAY_NAME))
        amount = Money(int(cents), self.currency)
        reference = _reference(ctx.reference)
        local_at = _local(ctx.at)
        body: JsonObject = {
            "amountToSendX100": x100(amount),
            "localDateTime": local_at.isoformat(timespec="seconds"),
            "account": refs.get(ACCOUNT, ""),
            "originalLocalReference": original,
            "originalLocalDate": original_date,
        }
        data = await self._call("POST", f"util/revert/{self._terminal}/{operator}/{reference}",
                                operation="revert", json=body, lenient=True)
        assert data is not None
        item = self._result(data, "revert", REFUNDED)
        f = _Fields(item, mutating=True, operation="revert")
        return ValueResult(code=name, amount=amount, refs={
            REVERT_LOCAL_REFERENCE: reference,
            REVERT_LOCAL_DATE: local_at.strftime("%Y%m%d"),
            SUPPLIER_REFERENCE: f.optional_text("supplierreference") or "",
        })

    # -- settling ------------------------------------------------------------------------
    async def state_of(self, op: Operation) -> Snapshot:
        """Transaction info for ``op.reference`` (a purchase's, or a revert's own).

        The date is the one it was sent with when the journal has it
        (``op.request["local_at"]``, the ``ctx.at`` sent, or ``op.request["local_date"]``,
        yyyyMMdd); else today's and yesterday's (the clock's local date: an
        operation sent just before midnight). ``{}`` for an
        operation without a reference yet (the read before the send): CSQ is
        asked by reference only. See :mod:`pos_app.providers.csq.settling`."""
        if op.kind not in (OpKind.CREATE, OpKind.UNDO):
            raise self._unsupported(Capability.BALANCE)
        if not op.reference:
            return {}
        reference = _reference(op.reference)
        journaled = _journaled_date(op.request)
        if journaled is not None:
            dates = [journaled]
        else:
            today = datetime.fromtimestamp(self._clock())
            dates = [today.strftime("%Y%m%d"), (today - timedelta(days=1)).strftime("%Y%m%d")]
        pending: Snapshot | None = None
        absent: Snapshot | None = None
        for date in dates:
            state = await self._transaction(reference, date)
            if state.get("found") is False:
                absent = absent or state
            elif state.get("resultcode") in (NOT_INDEXED, "15", ""):
                pending = pending or state
            else:
                return state
        state = pending or absent
        assert state is not None
        return state

    async def _transaction(self, reference: str, date: str) -> Snapshot:
        data = await self._call("GET", f"util/transaction/info/{self._terminal}/{reference}/{date}",
                                operation="transaction_info", absent_ok=True, lenient=True)
        base: Snapshot = {"local_reference": reference, "local_date": date}
        if data is None:
            return {**base, "found": False, "rc": None, "resultcode": None}
        rc = data.get("rc")
        item = _first_item(data) or {}
        f = _Fields(item, mutating=False, operation="transaction_info")
        code = f.optional_text("resultcode") or _code_text(data.get("resultcode"))
        state: Snapshot = {**base, "found": True, "rc": rc if isinstance(rc, int) and not isinstance(rc, bool)
                           else None, "resultcode": code,
                           "supplierreference": f.optional_text("supplierreference") or ""}
        token = f.optional_text("suppliertoken")
        if token:
            state["suppliertoken"] = token
        voucher = f.optional_text("voucherCode")
        if voucher:
            state["vouchercode"] = voucher
        if "hasAdditionalData" in item:
            state[HAS_ADDITIONAL_DATA] = "1" if f.flag("hasAdditionalData") else "0"
        for field_name, ref_key in INLINE.items():
            value = f.optional_text(field_name)
            if value:
                state[ref_key] = value[:500]
        cents = f.optional_cents("amountToSendX100")
        if cents is not None:
            state["amount_x100"] = cents
        if code == NEVER_RECEIVED:  # CSQ never received this reference on this day
            state["found"] = False
        return state

    async def aclose(self) -> None:
        """Close the HTTP client only if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- helpers ------------------------------------------------------------------------
    def _money(self, cents: int, f: _Fields) -> Money:
        try:
            return Money(cents, self.currency)
        except MoneyError:
            raise f.bad(_("an amount out of range")) from None

    def _check_amount(self, operator: int, amount: Money, *, dynamic: bool = False) -> None:
        if amount.currency != self.currency:
            raise MoneyError(_("{provider} takes {currency} at this till, amount is {amount}").format(
                provider=DISPLAY_NAME, currency=self.currency, amount=amount.shown_with_currency()))
        cents = x100(amount)
        product = self._products.get(operator)
        if product is not None and not dynamic and not product.allows(cents):
            raise MoneyError(_("{name} is not sold for {amount}").format(name=product.name, amount=amount.shown()))

    async def _default_amount(self, operator: int, product_id: str | None) -> Money:
        if product_id is not None:
            dynamic = await self._dynamic(operator, product_id)
            if dynamic is None:
                raise ValueError(_("{provider} no longer offers this product").format(provider=DISPLAY_NAME))
            return dynamic.amount
        product = self._products.get(operator)
        if product is not None and len(product.amounts_x100) == 1:
            return Money(product.amounts_x100[0], self.currency)
        raise ValueError(_("a {provider} purchase needs an amount").format(provider=DISPLAY_NAME))

    async def _dynamic(self, operator: int, product_id: str) -> DynamicProduct | None:
        for product in await self.products(operator):
            if product.id == product_id:
                return product
        return None

    def _result(self, data: JsonObject, operation: str, success: str) -> JsonObject:
        """The answer's item when its result code is ``success``; else the typed error."""
        item = _first_item(data)
        rc = data.get("rc")
        if item is None:
            message = _text(data.get("message")) or _text(data.get("resultmessage"))
            if rc == -1:  # refused as invalid before any transaction was made
                what = _("{provider} refused the purchase as invalid; nothing was bought.") \
                    if operation == "purchase" else _("{provider} refused the revert as invalid; nothing was reverted.")
                raise CsqRefused(what.format(provider=DISPLAY_NAME), result_code="",
                                 provider_message=message[:300], operation=operation)
            raise _bad(_("no items"), operation, mutating=True)
        f = _Fields(item, mutating=True, operation=operation)
        code = f.optional_text("resultcode") or _code_text(item.get("resultcode"))
        if not code:
            raise f.bad(_("no result code"))
        said = f.optional_text("resultmessage") or ""
        if code == success:
            return item
        if code in ("12", "15", NOT_INDEXED):
            # A duplicate of an earlier request whose answer we lost, or still
            # processing: it may have happened. Transaction info decides.
            raise UnknownOutcome(
                _("{provider} answered {code} ({meaning}): the till looks the transaction up.").format(
                    provider=DISPLAY_NAME, code=code, meaning=meaning(code)),
                PROVIDER, operation=operation)
        what = _("{provider} did not sell the voucher: {meaning} (code {code}).") if operation == "purchase" else \
            _("{provider} did not revert the purchase: {meaning} (code {code}).")
        raise CsqRefused(what.format(provider=DISPLAY_NAME, meaning=meaning(code), code=code[:8]),
                         result_code=code[:8], provider_message=said[:300], operation=operation, hint=_hint(code))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        absent_ok: bool = False,
        envelope: bool = True,
        lenient: bool = False,
        hidden: tuple[str, ...] = (),
    ) -> JsonObject | None:
        """One signed request: the answer's JSON object, None for a 404 when
        ``absent_ok``, or the typed error. ``lenient``: a 4xx answer with a
        readable CSQ envelope is returned as the answer (transaction info answers
        ``rc: -1`` with its code). ``hidden``: secrets of this request (a voucher
        code in the path), masked in its answer and logs."""
        salt = str(int(self._clock()))
        signature = salted_hash_from(self._password_hash, salt)
        requester = self._requester.with_secrets(signature, *hidden)
        mutating = method.upper() not in ("GET", "HEAD", "OPTIONS")
        headers = {"U": self._username, "ST": salt, "SH": signature, "Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        response, failure = await requester.send(method, f"{self._base_url}/{path}", operation=operation,
                                                 mutating=mutating, headers=headers, json=json)
        if failure is not None:
            _log.info("%s %s failed: %s", DISPLAY_NAME, operation, type(failure).__name__)
            raise failure
        assert response is not None
        _log.debug("%s %s -> HTTP %d", DISPLAY_NAME, operation, response.status_code)
        status = response.status_code
        if status == 401:
            raise AuthenticationError(
                _("{provider} rejected this till's credentials (HTTP 401): the username or password is wrong, or "
                  "the till's clock is off.").format(provider=DISPLAY_NAME),
                PROVIDER, operation=operation, hint=_credentials_hint())
        if status == 403:
            raise PermissionDenied(
                _("{provider} does not let this till's user work for terminal {terminal} (HTTP 403).").format(
                    provider=DISPLAY_NAME, terminal=self._terminal),
                PROVIDER, operation=operation,
                hint=_("Check terminal_id in the settings ([providers.csq]) against the terminals of the CSQ "
                       "user."))
        if status == 404 and absent_ok:
            if lenient:
                parsed = requester.lenient_envelope(response)
                if parsed is not None and (_first_item(parsed) or parsed.get("resultcode")):
                    return parsed
            return None
        if lenient and 400 <= status < 500:
            parsed = requester.lenient_envelope(response)
            if parsed is not None:
                return parsed
        error = requester.status_error(response, mutating=mutating, operation=operation)
        if error is not None:
            raise error
        if not envelope:
            return {}
        return requester.parse_json_object(response, mutating=mutating, operation=operation)


def salted_hash_from(password_hash: str, salt: str) -> str:
    return sha256hex(password_hash + sha256hex(salt))


def _reference(reference: str) -> str:
    """Our reference as CSQ's localReference: digits, at most 9."""
    if not reference.isdigit() or not reference.isascii() or len(reference) > 9:
        raise ValueError(_("a {provider} localReference is a number of at most 9 digits, not {reference!r}").format(
            provider=DISPLAY_NAME, reference=reference[:20]))
    return str(int(reference))


def _journaled_date(request: Mapping[str, Any]) -> str | None:
    """The yyyyMMdd an operation was sent with, if the journal has it:
    ``request["local_at"]`` (the ``ctx.at`` sent, ISO 8601) or ``request["local_date"]``."""
    at = request.get("local_at")
    if isinstance(at, str):
        try:
            return _local(datetime.fromisoformat(at)).strftime("%Y%m%d")
        except ValueError:
            pass
    day = request.get("local_date")
    if isinstance(day, str) and len(day) == 8 and day.isdigit() and day.isascii():
        return day
    return None


def _local(at: datetime) -> datetime:
    """``ctx.at`` as the terminal's local time, without an offset (CSQ's localDateTime)."""
    if at.tzinfo is not None:
        at = at.astimezone().replace(tzinfo=None)
    return at.replace(microsecond=0)


def _details(details: Mapping[str, str] | None) -> dict[str, str]:
    """The extra fields a purchase carries (csq.md), checked before anything is sent."""
    out: dict[str, str] = {}
    for key, value in (details or {}).items():
        if key not in DETAIL_FIELDS:
            raise ValueError(_("{field!r} is not a field of a CSQ purchase").format(field=key[:40]))
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise ValueError(_("{field!r} must be text of at most {limit} characters").format(
                field=key, limit=MAX_FIELD))
        if value:
            out[key] = value.strip()
    if "documentType" in out and out["documentType"] not in DOCUMENT_TYPES:
        raise ValueError(_("documentType must be PASSPORT or ID_CARD"))
    return out


def _first_item(data: JsonObject) -> JsonObject | None:
    items = data.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _code_text(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return _text(value)


def _bad(problem: str, operation: str, *, mutating: bool) -> BadResponse:
    return bad_response(
        _("{provider} sent an unreadable answer (request {operation}: {problem}).").format(
            provider=DISPLAY_NAME, operation=operation, problem=problem),
        PROVIDER, mutating=mutating, operation=operation)


class _Fields:
    """Typed, defensive access to a JSON object from CSQ; every problem is the
    right :class:`BadResponse` for the call."""

    def __init__(self, data: Any, *, mutating: bool, operation: str) -> None:
        self._mutating, self._operation = mutating, operation
        if not isinstance(data, dict):
            raise self.bad(_("an item is not an object"))
        self._data: JsonObject = data

    def bad(self, detail: str) -> BadResponse:
        return _bad(detail, self._operation, mutating=self._mutating)

    def text(self, name: str) -> str:
        value = self._data.get(name)
        if not isinstance(value, str) or not value:
            raise self.bad(_("{field} missing or not text").format(field=name))
        return value

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
        return value

    def ident(self, name: str) -> str:
        value = self.optional_text(name)
        if not value:
            raise self.bad(_("{field} missing or not text").format(field=name))
        return value

    def flag(self, name: str) -> bool:
        value = self._data.get(name, False)
        if value is None:
            return False
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.bad(_("{field} is not true/false").format(field=name))
        return value

    def cents(self, name: str) -> int:
        value = self.optional_cents(name)
        if value is None:
            raise self.bad(_("{field} missing or not a whole number of cents").format(field=name))
        return value

    def optional_cents(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_X100:
            raise self.bad(_("{field} is not a whole number of cents").format(field=name))
        return value

    def pairs(self, name: str) -> dict[str, str]:
        """``additionalData``: a list of ``{key, value}`` (or an object), as text."""
        value = self._data.get(name)
        out: dict[str, str] = {}
        if isinstance(value, list):
            for row in value:
                if isinstance(row, dict) and isinstance(row.get("key"), str):
                    out[row["key"][:60]] = "" if row.get("value") is None else str(row.get("value"))[:500]
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    out[key[:60]] = "" if item is None else str(item)[:500]
        return out


class _CsqHttp(ProviderHttp):
    """The shared HTTP rules; each request's signature masked like the password."""

    def with_secrets(self, *secrets: str) -> _CsqHttp:
        twin = copy.copy(self)
        twin._secrets = (*self._secrets, *(s for s in secrets if s))
        return twin

    def lenient_envelope(self, response: httpx.Response) -> JsonObject | None:
        data = self._parse(response.content)
        if isinstance(data, dict) and ("rc" in data or "items" in data):
            return data
        return None
