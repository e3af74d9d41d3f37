"""A JTL-Voucher Cloud API v1.8 simulator, faithful to ``providers/jtl.md``,
its OAuth 2 server included.

A Starlette ASGI app, served in-process (:func:`in_process_transport`, the
demo) or over HTTP by uvicorn (:func:`serve`, :func:`run`, :class:`ServerThread`).
Faults, the request log (no query string, no header, no body: secrets never
land in it), ``/_sim/state``, ``/_sim/reset``, ``/_sim/faults`` and
:meth:`~pos_app.providers.simkit.SimulatorBase.persist` are simkit's; this
module keeps JTL's data and rules.

What it does, as the reference page says ([C]):

* ``POST /oauth/token`` at the host root: form-encoded client credentials,
  an optional space-separated ``scope`` (a subset of the client group's
  scopes), an optional ``client_type`` (at most 32 characters);
* ``POST /v1/clients/connect {pin}`` (no auth) exchanges an Admin UI pin,
  valid 30 minutes, for the client object (``id``/``secret``);
* every API call needs ``Authorization: Bearer``; a call outside the token's
  scopes is 403 with the JSON body ``"Forbidden"``;
* errors ``{status, code, message}``, 422 adds ``errors[{code, property,
  rule, message}]`` for invalid input; amounts are ``"10.53"`` strings;
* a reservation locks the voucher and confirms the balance; it expires after
  30 minutes (the injected ``clock``) or when a new one is made for the same
  voucher; there is no endpoint to look one up or delete it;
* a charge (201) consumes a reservation and carries the order number;
  ``GET /v1/vouchers/{id}/charges?filter[order_number]=`` finds it;
* refunds may be partial; recharge adds credit; ``PATCH .../status``
  activates (``valid_until`` from the validity fields) or deactivates.

Our choices where the page is silent (**[I]**), each one a line:

* tokens live ``token_ttl_s`` (3600 s); an unknown or expired token is 401
  ``{"status":401,"code":"UNAUTHENTICATED","message":"Unauthenticated."}``
  with ``WWW-Authenticate: Bearer``; token errors are RFC 6749 bodies
  (``invalid_client`` 401, ``invalid_scope``/``invalid_request``/
  ``unsupported_grant_type`` 400);
* a pin is used once; a wrong, used or expired pin is the same 422
  (``CLIENT.CONNECT.PIN.VALID_PIN``); connecting does not change the secret;
* ``GET /vouchers/{id}`` adds ``remaining_amount``, ``locked`` and
  ``locked_until`` (the open reservation's ``valid_until``), so a
  reservation whose answer was lost can be settled; a reservation does not
  lower ``remaining_amount``, only its charge does;
* a voucher with a pin is reserved only with that pin; a reservation looks
  the voucher up by ``code`` (404 ``VOUCHER.NOT_FOUND`` for an unknown one);
* charging a reservation twice is 422 ``RESERVATION.ALREADY_CHARGED`` (not
  in jtl.md's list); charging checks the voucher again (inactive, expired);
* refunds of one charge together never exceed it
  (``CHARGE.REFUND.AMOUNT_EXCEEDED``); only a ``charge`` is refundable
  (``CHARGE.REFUND.NOT_REFUNDABLE``, not in jtl.md's list); a refund carries
  the order number of the charge it refunds, so the order-number lookup
  shows it too;
* recharge needs an active, unexpired voucher; a balance above 99999.99 is
  refused (the amount format cannot show it);
* activating an active voucher changes nothing; deactivating sets
  ``valid_until`` back to null and drops the voucher's reservation;
* created objects (voucher, reservation, charge, recharge, refund) answer
  201, the rest 200, a delete 204; a created voucher's answer carries its
  ``code`` and ``pin`` (a code is generated when none is given); deleting a
  voucher with charges is 422 ``VOUCHER.DELETE.NOT_DELETABLE`` (not in
  jtl.md's list); a body that is not JSON is 400 ``BAD_REQUEST``.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import re
import secrets
import time
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pos_app.providers import simkit
from pos_app.providers.simkit import (
    ADMIN_PREFIX,
    ASGIApp,
    JsonObject,
    Reply,
    RequestRecord,
    ServerThread,
    SimulatorBase,
    in_process_transport,
    json_body,
    simulator_app,
)

__all__ = [
    "DEFAULT_DATA",
    "JtlSimulator",
    "ServerThread",
    "SimData",
    "SimState",
    "SimulatorDataError",
    "build_app",
    "demo_secrets",
    "in_process_transport",
    "load_data",
    "run",
    "serve",
]

API_ROOT = "/v1"  # the path of the API below the host: a till's base_url for this simulator ends in it
SCOPES = ("read", "read-lists", "read-secrets", "use", "manage", "update", "recharge")
TOKEN_TTL_S = 3600.0
PIN_TTL_S = 30 * 60.0
RESERVATION_TTL_S = 30 * 60.0
MAX_CLIENT_TYPE = 32
MAX_CENTS = 99_999_99
MAX_BATCH = 30
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
INTERVALS = ("days", "weeks", "months", "years")

MSG_INVALID = "The given data was invalid."
MSG_UNAUTHENTICATED = "Unauthenticated."
MSG_BAD_JSON = "The request body is not valid JSON."
MSG_VOUCHER_NOT_FOUND = "The requested Voucher was not found."
MSG_RESERVATION_NOT_FOUND = "The requested Reservation was not found."
MSG_CHARGE_NOT_FOUND = "The requested Charge was not found."
MSG_INACTIVE = "The Voucher is not active."
MSG_EXPIRED = "The Voucher has expired."
MSG_INSUFFICIENT = "The remaining amount of the Voucher is insufficient."
MSG_RESERVATION_EXPIRED = "The Reservation has expired."
MSG_RESERVATION_REPLACED = "The Reservation was replaced by a newer Reservation for the same Voucher."
MSG_ALREADY_CHARGED = "The Reservation has already been charged."
MSG_REFUND_EXCEEDED = "The refund amount exceeds the amount left to refund on this Charge."
MSG_NOT_REFUNDABLE = "Only a Charge of type charge can be refunded."
MSG_CURRENCY_MISMATCH = "The currency does not match the currency of the Voucher."
MSG_PIN = "The pin is invalid or has expired."
MSG_VOUCHER_PIN = "The pin does not match the Voucher."
MSG_NOT_DELETABLE = "The Voucher has charges and cannot be deleted."

Clock = Callable[[], float]

_AMOUNT = re.compile(r"^\d{1,5}\.\d{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# ---------------------------------------------------------------------------
# Money and time
# ---------------------------------------------------------------------------
def to_text(cents: int) -> str:
    """Cents as JTL's amount string: ``1053`` -> ``"10.53"``."""
    return f"{cents // 100}.{cents % 100:02d}"


def to_cents(text: Any) -> int | None:
    """JTL's amount string as cents; None unless it matches ``^\\d+\\.\\d{2}$`` (≤ 5 digits)."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        return None
    whole, fraction = text.split(".")
    return int(whole) * 100 + int(fraction)


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).isoformat()


def _add_interval(epoch: float, value: int, interval: str) -> float:
    """``epoch`` plus ``value`` days/weeks/months/years (a month end stays in its month)."""
    start = datetime.fromtimestamp(epoch, UTC)
    if interval in ("days", "weeks"):
        return (start + timedelta(days=value * (7 if interval == "weeks" else 1))).timestamp()
    months = value * (12 if interval == "years" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day).timestamp()


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
class SimulatorDataError(ValueError):
    """The data file is not valid simulator data."""


@dataclass
class SimClient:
    """A client of a client group: its credentials and the group's scopes."""

    id: str
    secret: str
    name: str
    client_group_id: str
    scopes: list[str]
    type: str = "pos"


@dataclass
class SimVoucher:
    id: str
    code: str
    pin: str | None
    amount: int  # face value, cents
    remaining: int  # balance, cents
    currency: str
    status: str = "active"  # active | inactive
    valid_until: float | None = None
    validity_value: int | None = None
    validity_interval: str | None = None
    sku: str | None = None
    batch: str | None = None
    type: str = "digital"
    taxable: bool = False
    tax_rate: str | None = None
    order_number: str | None = None
    client_id: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    reservation_id: str | None = None  # the newest reservation (one hold per voucher)


@dataclass
class Reservation:
    id: str
    voucher_id: str
    client_id: str
    amount: int
    valid_until: float
    created_at: float
    charge_id: str | None = None  # set once charged


@dataclass
class Charge:
    id: str
    voucher_id: str
    client_id: str
    type: str  # charge | recharge | refund
    amount: int
    order_number: str | None
    created_at: float
    refunded: int = 0  # a charge's refunds so far, cents
    refund_of: str | None = None  # a refund: the charge it refunds


@dataclass
class Pin:
    pin: str
    client_id: str
    expires_at: float


@dataclass
class Token:
    token: str
    client_id: str
    scopes: list[str]
    expires_at: float
    client_type: str | None = None


@dataclass
class SimData:
    """Seed data, as loaded from TOML."""

    currency: str
    clients: list[SimClient]
    vouchers: list[JsonObject]  # validated rows; timestamps are set when the state is built
    pins: list[tuple[str, str, float]] = field(default_factory=list)  # pin, client id, valid for s


@dataclass
class SimState:
    """The ledger tests assert on."""

    clients: dict[str, SimClient]
    vouchers: dict[str, SimVoucher]
    pins: dict[str, Pin] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)


DEFAULT_DATA = "demo_vouchers.toml"


def _get(table: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = table.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    if not isinstance(value, kind):
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    return value


def _amount_field(table: dict[str, Any], name: str, default: str | None, where: str) -> int:
    cents = to_cents(table.get(name, default))
    if cents is None:
        raise SimulatorDataError(f'{where}: {name} must be an amount like "10.53"')
    return cents


def _epoch_field(table: dict[str, Any], name: str, where: str) -> float | None:
    value = table.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise SimulatorDataError(f"{where}: {name} must be an RFC 3339 time") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise SimulatorDataError(f"{where}: {name} must be an RFC 3339 time with an offset")
    return value.timestamp()


def _voucher_row(table: dict[str, Any], currency: str, client_id: str, index: int) -> JsonObject:
    where = f"vouchers[{index}]"
    voucher_id = _get(table, "id", str, "", where)
    code = _get(table, "code", str, "", where)
    if not voucher_id or not code:
        raise SimulatorDataError(f"{where}: id and code are required")
    amount = _amount_field(table, "amount", None, where)
    status = _get(table, "status", str, "active", where)
    if status not in ("active", "inactive"):
        raise SimulatorDataError(f"{where}: status must be active or inactive")
    cur = _get(table, "currency", str, currency, where)
    if not _CURRENCY.match(cur):
        raise SimulatorDataError(f"{where}: currency must be an ISO 4217 code")
    interval = _get(table, "validity_interval", str, None, where)
    if interval is not None and interval not in INTERVALS:
        raise SimulatorDataError(f"{where}: validity_interval must be one of {', '.join(INTERVALS)}")
    return {
        "id": voucher_id,
        "code": code,
        "pin": _get(table, "pin", str, None, where),
        "amount": amount,
        "remaining": _amount_field(table, "remaining_amount", to_text(amount), where),
        "currency": cur,
        "status": status,
        "valid_until": _epoch_field(table, "valid_until", where) if status == "active" else None,
        "validity_value": _get(table, "validity_value", int, None, where),
        "validity_interval": interval,
        "sku": _get(table, "sku", str, None, where),
        "batch": _get(table, "batch", str, None, where),
        "taxable": _get(table, "taxable", bool, False, where),
        "tax_rate": _get(table, "tax_rate", str, None, where),
        "client_id": client_id,
    }


def parse_data(raw: dict[str, Any]) -> SimData:
    """Validate a parsed TOML document into :class:`SimData`."""
    currency = _get(raw.get("account", {}), "currency", str, "CHF", "account")
    clients: list[SimClient] = []
    for i, table in enumerate(raw.get("clients", [])):
        where = f"clients[{i}]"
        scopes = _get(table, "scopes", list, list(SCOPES), where)
        if not all(s in SCOPES for s in scopes):
            raise SimulatorDataError(f"{where}: scopes must be among {', '.join(SCOPES)}")
        client_id = _get(table, "id", str, "", where)
        secret = _get(table, "secret", str, "", where)
        if not client_id or not secret:
            raise SimulatorDataError(f"{where}: id and secret are required")
        clients.append(SimClient(
            id=client_id, secret=secret, name=_get(table, "name", str, client_id, where),
            client_group_id=_get(table, "client_group_id", str, "group", where),
            scopes=list(scopes), type=_get(table, "type", str, "pos", where),
        ))
    owner = clients[0].id if clients else ""
    vouchers = [_voucher_row(t, currency, owner, i) for i, t in enumerate(raw.get("vouchers", []))]
    ids = [v["id"] for v in vouchers]
    if len(set(ids)) != len(ids) or len({v["code"] for v in vouchers}) != len(vouchers):
        raise SimulatorDataError("vouchers: ids and codes must be unique")
    known = {c.id for c in clients}
    pins: list[tuple[str, str, float]] = []
    for i, table in enumerate(raw.get("pins", [])):
        where = f"pins[{i}]"
        pin = _get(table, "pin", str, "", where)
        client_id = _get(table, "client_id", str, owner, where)
        if not pin or client_id not in known:
            raise SimulatorDataError(f"{where}: needs a pin and a known client_id")
        pins.append((pin, client_id, float(_get(table, "valid_for_s", (int, float), PIN_TTL_S, where))))
    return SimData(currency=currency, clients=clients, vouchers=vouchers, pins=pins)


def load_data(path: str | Path | None = None) -> SimData:
    """Load simulator data from a TOML file (default: the packaged demo data)."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_DATA).read_text(encoding="utf-8")
        where = DEFAULT_DATA
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SimulatorDataError(f"{where}: {exc}") from None
    return parse_data(raw)


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------
def _error(status: int, code: str, message: str) -> Reply:
    return status, {"status": status, "code": code, "message": message}


def _invalid(operation: str, errors: Sequence[tuple[str, str, str]]) -> Reply:
    """422 for invalid input: ``operation`` like ``RESERVATION.CREATE``, errors as
    (property, rule, message); codes ``RESOURCE.OPERATION.PROPERTY.RULE[:arg]``."""
    return 422, {
        "status": 422,
        "code": f"{operation}.UNPROCESSABLE_ENTITY",
        "message": MSG_INVALID,
        "errors": [
            {
                "code": f"{operation}.{prop.upper()}.{rule.split(':')[0].upper()}"
                + (f":{rule.split(':', 1)[1]}" if ":" in rule else ""),
                "property": prop,
                "rule": rule.split(":")[0],
                "message": message,
            }
            for prop, rule, message in errors
        ],
    }


def _amount_errors(body: JsonObject, name: str = "amount") -> list[tuple[str, str, str]]:
    value = body.get(name)
    if value is None:
        return [(name, "required", f"The {name} field is required.")]
    cents = to_cents(value)
    if cents is None:
        return [(name, "regex", f"The {name} must be a string like 10.53.")]
    if cents < 1:
        return [(name, "min:0.01", f"The {name} must be at least 0.01.")]
    return []


def _currency_errors(body: JsonObject) -> list[tuple[str, str, str]]:
    value = body.get("currency")
    if value is None:
        return [("currency", "required", "The currency field is required.")]
    if not isinstance(value, str) or not _CURRENCY.match(value):
        return [("currency", "valid_currency", "Currency must be a valid currency code")]
    return []


def _text_errors(body: JsonObject, name: str, required: bool) -> list[tuple[str, str, str]]:
    value = body.get(name)
    if value is None:
        return [(name, "required", f"The {name} field is required.")] if required else []
    if not isinstance(value, str) or not value.strip():
        return [(name, "string", f"The {name} must be a string.")]
    return []


# ---------------------------------------------------------------------------
# The simulator: state, rules
# ---------------------------------------------------------------------------
class JtlSimulator(SimulatorBase[SimState]):
    """State and rules of one simulated JTL-Voucher Cloud account.

    Rule methods run under the lock and return ``(status, body)``. ``clock``
    gives epoch seconds (default ``time.time``): tokens, pins, reservations
    and voucher validity are measured with it.
    """

    def __init__(self, data: SimData, clock: Clock | None = None, token_ttl_s: float = TOKEN_TTL_S) -> None:
        self._data = data
        self._clock: Clock = clock or time.time
        self.token_ttl_s = token_ttl_s
        super().__init__()

    # -- housekeeping -------------------------------------------------------------
    def _fresh_state(self) -> SimState:
        now = self._clock()
        vouchers = {
            row["id"]: SimVoucher(**row, created_at=now, updated_at=now) for row in copy.deepcopy(self._data.vouchers)
        }
        state = SimState(clients={c.id: copy.deepcopy(c) for c in self._data.clients}, vouchers=vouchers)
        for pin, client_id, ttl in self._data.pins:
            state.pins[pin] = Pin(pin, client_id, now + ttl)
        return state

    def _ledger_snapshot(self) -> JsonObject:
        state = self.state
        return {
            "vouchers": {i: {**self._voucher_body(v), "locked": self._locked(v) is not None}
                         for i, v in state.vouchers.items()},
            "reservations": [asdict(r) for r in state.reservations.values()],
            "charges": [asdict(c) for c in state.charges.values()],
            "tokens": len(state.tokens),
            "clients": {i: c.scopes for i, c in state.clients.items()},
        }

    def _dump_ledger(self) -> JsonObject:
        state = self.state
        return {
            "version": 1,
            "vouchers": [asdict(v) for v in state.vouchers.values()],
            "reservations": [asdict(r) for r in state.reservations.values()],
            "charges": [asdict(c) for c in state.charges.values()],
        }

    def _load_ledger(self, data: JsonObject) -> None:
        """Vouchers, reservations and charges as a demo left them; clients and pins
        come from the seed data, tokens are not kept (a till fetches a new one)."""
        if data.get("version") != 1:
            raise ValueError(f"unknown simulator state version {data.get('version')!r}")
        state = self._fresh_state()
        state.vouchers = {row["id"]: SimVoucher(**row) for row in data["vouchers"]}
        state.reservations = {row["id"]: Reservation(**row) for row in data["reservations"]}
        state.charges = {row["id"]: Charge(**row) for row in data["charges"]}
        self.state = state

    # -- test and admin helpers ---------------------------------------------------------
    def voucher(self, voucher_id: str) -> SimVoucher:
        """The ledger row of a voucher (tests: ``sim.voucher(id).remaining``)."""
        return self.state.vouchers[voucher_id]

    def issue_pin(self, client_id: str | None = None, pin: str | None = None,
                  valid_for_s: float = PIN_TTL_S) -> str:
        """A connection pin for ``client_id`` (default: the first client), as the Admin UI shows."""
        with self._lock:
            client_id = client_id or next(iter(self.state.clients))
            if client_id not in self.state.clients:
                raise KeyError(client_id)
            pin = pin or f"{secrets.randbelow(10**6):06d}"
            if not pin.isdigit():
                raise ValueError("a pin has digits only")
            self.state.pins[pin] = Pin(pin, client_id, self._clock() + valid_for_s)
            return pin

    def expire_tokens(self) -> int:
        """Expire every token issued so far (a till must then fetch a new one); returns how many."""
        with self._lock:
            count = len(self.state.tokens)
            self.state.tokens.clear()
            return count

    def set_scopes(self, client_id: str, scopes: Sequence[str]) -> None:
        """Change a client group's scopes (the Admin UI); tokens already issued keep theirs."""
        with self._lock:
            self.state.clients[client_id].scopes = [s for s in SCOPES if s in scopes]

    # -- OAuth and connect ----------------------------------------------------------------
    def token(self, form: dict[str, str]) -> Reply:
        with self._lock:
            if not form.get("grant_type") or not form.get("client_id"):
                return 400, {"error": "invalid_request",
                             "error_description": "The request is missing a required parameter."}
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type",
                             "error_description": "The authorization grant type is not supported by the authorization server."}
            client = self.state.clients.get(form.get("client_id", ""))
            if client is None or not secrets.compare_digest(client.secret, form.get("client_secret", "")):
                return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            client_type = form.get("client_type")
            if client_type is not None and len(client_type) > MAX_CLIENT_TYPE:
                return 400, {"error": "invalid_request",
                             "error_description": "The client_type may not be greater than 32 characters."}
            asked = form.get("scope", "").split()
            if any(s not in client.scopes for s in asked):
                return 400, {"error": "invalid_scope",
                             "error_description": "The requested scope is invalid, unknown, or malformed"}
            scopes = [s for s in SCOPES if s in asked] if asked else list(client.scopes)
            token = Token(secrets.token_urlsafe(32), client.id, scopes,
                          self._clock() + self.token_ttl_s, client_type)
            self.state.tokens[token.token] = token
            return 200, {"token_type": "Bearer", "expires_in": int(self.token_ttl_s),
                         "access_token": token.token, "scope": " ".join(scopes)}

    def connect(self, body: JsonObject) -> Reply:
        with self._lock:
            pin = body.get("pin")
            if pin is None:
                return _invalid("CLIENT.CONNECT", [("pin", "required", "The pin field is required.")])
            found = self.state.pins.get(str(pin))
            if found is None or self._clock() >= found.expires_at:
                return _invalid("CLIENT.CONNECT", [("pin", "valid_pin", MSG_PIN)])
            del self.state.pins[found.pin]  # a pin is used once
            client = self.state.clients[found.client_id]
            now = rfc3339(self._clock())
            return 200, {
                "id": client.id, "client_group_id": client.client_group_id, "name": client.name,
                "secret": client.secret, "scopes": list(client.scopes), "type": client.type,
                "created_at": now, "updated_at": now, "connected_at": now,
            }

    def authenticate(self, authorization: str | None) -> Token | None:
        """The valid token of an ``Authorization: Bearer`` header, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            token = self.state.tokens.get(authorization.removeprefix("Bearer ").strip())
            if token is None:
                return None
            if self._clock() >= token.expires_at:
                del self.state.tokens[token.token]
                return None
            return token

    # -- bodies ---------------------------------------------------------------------------
    def _locked(self, voucher: SimVoucher) -> Reservation | None:
        """The voucher's open reservation: newest, not charged, not expired."""
        reservation = self.state.reservations.get(voucher.reservation_id or "")
        if reservation is None or reservation.charge_id is not None:
            return None
        if self._clock() >= reservation.valid_until:
            return None
        return reservation

    def _voucher_body(self, voucher: SimVoucher, secret: bool = False) -> JsonObject:
        lock = self._locked(voucher)
        body: JsonObject = {
            "id": voucher.id, "client_id": voucher.client_id, "sku": voucher.sku, "batch": voucher.batch,
            "amount": to_text(voucher.amount), "currency": voucher.currency,
            "valid_until": rfc3339(voucher.valid_until), "validity_value": voucher.validity_value,
            "validity_interval": voucher.validity_interval, "status": voucher.status, "type": voucher.type,
            "taxable": voucher.taxable, "tax_rate": voucher.tax_rate, "order_number": voucher.order_number,
            "data": None, "created_at": rfc3339(voucher.created_at), "updated_at": rfc3339(voucher.updated_at),
            "remaining_amount": to_text(voucher.remaining),
            "locked": lock is not None, "locked_until": rfc3339(lock.valid_until) if lock else None,
        }
        if secret:
            body["code"], body["pin"] = voucher.code, voucher.pin
        return body

    def _list_voucher_body(self, voucher: SimVoucher) -> JsonObject:
        has_charges = any(c.voucher_id == voucher.id for c in self.state.charges.values())
        return {**self._voucher_body(voucher), "deletable": not has_charges}

    @staticmethod
    def _charge_body(charge: Charge) -> JsonObject:
        at = rfc3339(charge.created_at)
        return {"id": charge.id, "voucher_id": charge.voucher_id, "client_id": charge.client_id,
                "type": charge.type, "amount": to_text(charge.amount), "order_number": charge.order_number,
                "created_at": at, "updated_at": at}

    def _reservation_body(self, reservation: Reservation) -> JsonObject:
        voucher = self.state.vouchers[reservation.voucher_id]
        at = rfc3339(reservation.created_at)
        return {"id": reservation.id, "voucher_id": reservation.voucher_id, "client_id": reservation.client_id,
                "voucher_taxable": voucher.taxable, "voucher_tax_rate": voucher.tax_rate,
                "amount": to_text(reservation.amount), "valid_until": rfc3339(reservation.valid_until),
                "created_at": at, "updated_at": at}

    def _usable(self, voucher: SimVoucher) -> Reply | None:
        if voucher.status != "active":
            return _error(422, "VOUCHER.INACTIVE", MSG_INACTIVE)
        if voucher.valid_until is not None and self._clock() >= voucher.valid_until:
            return _error(422, "VOUCHER.EXPIRED", MSG_EXPIRED)
        return None

    def _new_id(self) -> str:
        return uuid.uuid4().hex[:20]

    # -- vouchers ----------------------------------------------------------------------------
    def get_voucher(self, voucher_id: str, secret: bool = False) -> Reply:
        with self._lock:
            voucher = self.state.vouchers.get(voucher_id)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            return 200, self._voucher_body(voucher, secret)

    def list_vouchers(self, query: dict[str, str], path: str) -> Reply:
        with self._lock:
            rows = [self._list_voucher_body(v) for v in self.state.vouchers.values()]
            return _page(rows, query, path)

    def set_status(self, voucher_id: str, body: JsonObject) -> Reply:
        with self._lock:
            voucher = self.state.vouchers.get(voucher_id)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            status = body.get("status")
            if status not in ("active", "inactive"):
                return _invalid("VOUCHER.STATUS", [("status", "in:active,inactive",
                                                    "The selected status is invalid.")])
            errors = _text_errors(body, "comment", required=False)
            if errors:
                return _invalid("VOUCHER.STATUS", errors)
            now = self._clock()
            if status == voucher.status:
                return 200, self._voucher_body(voucher)
            voucher.status = status
            voucher.updated_at = now
            if status == "active":
                voucher.valid_until = (
                    _add_interval(now, voucher.validity_value, voucher.validity_interval)
                    if voucher.validity_value and voucher.validity_interval else None
                )
            else:
                voucher.valid_until = None
                voucher.reservation_id = None  # its hold goes with it
            return 200, self._voucher_body(voucher)

    def create_voucher(self, body: JsonObject, client_id: str) -> Reply:
        with self._lock:
            errors = [*_amount_errors(body), *_currency_errors(body)]
            for name in ("id", "code", "pin", "sku", "batch"):
                errors += _text_errors(body, name, required=False)
            if isinstance(body.get("batch"), str) and len(body["batch"]) > MAX_BATCH:
                errors.append(("batch", "max:30", "The batch may not be greater than 30 characters."))
            value, interval = body.get("validity_value"), body.get("validity_interval")
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                errors.append(("validity_value", "integer", "The validity value must be a positive integer."))
            if interval is not None and interval not in INTERVALS:
                errors.append(("validity_interval", "in:" + ",".join(INTERVALS),
                               "The selected validity interval is invalid."))
            if isinstance(body.get("id"), str) and body["id"] in self.state.vouchers:
                errors.append(("id", "unique", "The id has already been taken."))
            if isinstance(body.get("code"), str) and any(v.code == body["code"] for v in self.state.vouchers.values()):
                errors.append(("code", "unique", "The code has already been taken."))
            if errors:
                return _invalid("VOUCHER.CREATE", errors)
            now = self._clock()
            amount = to_cents(body["amount"]) or 0
            voucher = SimVoucher(
                id=body.get("id") or self._new_id(), code=body.get("code") or secrets.token_hex(8).upper(),
                pin=body.get("pin"), amount=amount, remaining=amount, currency=body["currency"],
                status="inactive", validity_value=value, validity_interval=interval,
                sku=body.get("sku"), batch=body.get("batch"), client_id=client_id, created_at=now, updated_at=now,
            )
            self.state.vouchers[voucher.id] = voucher
            return 201, self._voucher_body(voucher, secret=True)

    def update_voucher(self, voucher_id: str, body: JsonObject) -> Reply:
        with self._lock:
            voucher = self.state.vouchers.get(voucher_id)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            errors = [*_text_errors(body, "sku", required=False), *_text_errors(body, "batch", required=False)]
            if isinstance(body.get("batch"), str) and len(body["batch"]) > MAX_BATCH:
                errors.append(("batch", "max:30", "The batch may not be greater than 30 characters."))
            if errors:
                return _invalid("VOUCHER.UPDATE", errors)
            voucher.sku = body.get("sku", voucher.sku)
            voucher.batch = body.get("batch", voucher.batch)
            voucher.updated_at = self._clock()
            return 200, self._voucher_body(voucher)

    def delete_voucher(self, voucher_id: str) -> Reply:
        with self._lock:
            voucher = self.state.vouchers.get(voucher_id)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            if any(c.voucher_id == voucher_id for c in self.state.charges.values()):
                return _error(422, "VOUCHER.DELETE.NOT_DELETABLE", MSG_NOT_DELETABLE)
            del self.state.vouchers[voucher_id]
            return 204, ""

    # -- reservations and charges ---------------------------------------------------------------
    def reserve(self, body: JsonObject, client_id: str) -> Reply:
        with self._lock:
            errors = [*_amount_errors(body), *_currency_errors(body), *_text_errors(body, "code", True)]
            if body.get("pin") is not None and not isinstance(body.get("pin"), str):
                errors.append(("pin", "string", "The pin must be a string."))
            if errors:
                return _invalid("RESERVATION.CREATE", errors)
            voucher = next((v for v in self.state.vouchers.values() if v.code == body["code"]), None)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            if voucher.pin is not None and body.get("pin") != voucher.pin:
                return _invalid("RESERVATION.CREATE", [("pin", "valid_pin", MSG_VOUCHER_PIN)])
            if body["currency"] != voucher.currency:
                return _error(422, "CURRENCY.MISMATCH", MSG_CURRENCY_MISMATCH)
            refused = self._usable(voucher)
            if refused:
                return refused
            amount = to_cents(body["amount"]) or 0
            if amount > voucher.remaining:
                return _error(422, "RESERVATION.INSUFFICIENT_BALANCE", MSG_INSUFFICIENT)
            now = self._clock()
            reservation = Reservation(self._new_id(), voucher.id, client_id, amount, now + RESERVATION_TTL_S, now)
            self.state.reservations[reservation.id] = reservation
            voucher.reservation_id = reservation.id  # replaces any earlier hold
            return 201, self._reservation_body(reservation)

    def charge(self, reservation_id: str, body: JsonObject, client_id: str) -> Reply:
        with self._lock:
            reservation = self.state.reservations.get(reservation_id)
            if reservation is None:
                return _error(404, "RESERVATION.NOT_FOUND", MSG_RESERVATION_NOT_FOUND)
            errors = _text_errors(body, "order_number", required=True)
            if errors:
                return _invalid("RESERVATION.CHARGE", errors)
            if reservation.charge_id is not None:
                return _error(422, "RESERVATION.ALREADY_CHARGED", MSG_ALREADY_CHARGED)
            voucher = self.state.vouchers[reservation.voucher_id]
            if voucher.reservation_id != reservation.id:
                return _error(422, "RESERVATION.REPLACED", MSG_RESERVATION_REPLACED)
            if self._clock() >= reservation.valid_until:
                return _error(422, "RESERVATION.EXPIRED", MSG_RESERVATION_EXPIRED)
            refused = self._usable(voucher)
            if refused:
                return refused
            if reservation.amount > voucher.remaining:
                return _error(422, "RESERVATION.INSUFFICIENT_BALANCE", MSG_INSUFFICIENT)
            charge = Charge(self._new_id(), voucher.id, client_id, "charge", reservation.amount,
                            body["order_number"], self._clock())
            self.state.charges[charge.id] = charge
            reservation.charge_id = charge.id
            voucher.remaining -= charge.amount
            voucher.updated_at = charge.created_at
            return 201, self._charge_body(charge)

    def list_charges(self, voucher_id: str, query: dict[str, str], path: str) -> Reply:
        with self._lock:
            if voucher_id not in self.state.vouchers:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            order_number = query.get("filter[order_number]")
            rows = [self._charge_body(c) for c in self.state.charges.values()
                    if c.voucher_id == voucher_id and (order_number is None or c.order_number == order_number)]
            return _page(rows, query, path)

    def get_charge(self, voucher_id: str, charge_id: str) -> Reply:
        with self._lock:
            if voucher_id not in self.state.vouchers:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            charge = self.state.charges.get(charge_id)
            if charge is None or charge.voucher_id != voucher_id:
                return _error(404, "CHARGE.NOT_FOUND", MSG_CHARGE_NOT_FOUND)
            return 200, self._charge_body(charge)

    def refund(self, charge_id: str, body: JsonObject, client_id: str) -> Reply:
        with self._lock:
            charge = self.state.charges.get(charge_id)
            if charge is None:
                return _error(404, "CHARGE.NOT_FOUND", MSG_CHARGE_NOT_FOUND)
            errors = [*_amount_errors(body), *_currency_errors(body)]
            if errors:
                return _invalid("CHARGE.REFUND", errors)
            voucher = self.state.vouchers[charge.voucher_id]
            if body["currency"] != voucher.currency:
                return _error(422, "CURRENCY.MISMATCH", MSG_CURRENCY_MISMATCH)
            if charge.type != "charge":
                return _error(422, "CHARGE.REFUND.NOT_REFUNDABLE", MSG_NOT_REFUNDABLE)
            amount = to_cents(body["amount"]) or 0
            if amount > charge.amount - charge.refunded:
                return _error(422, "CHARGE.REFUND.AMOUNT_EXCEEDED", MSG_REFUND_EXCEEDED)
            refund = Charge(self._new_id(), voucher.id, client_id, "refund", amount, charge.order_number,
                            self._clock(), refund_of=charge.id)
            self.state.charges[refund.id] = refund
            charge.refunded += amount
            voucher.remaining += amount
            voucher.updated_at = refund.created_at
            return 201, self._charge_body(refund)

    def recharge(self, body: JsonObject, client_id: str) -> Reply:
        with self._lock:
            errors = [*_amount_errors(body), *_currency_errors(body),
                      *_text_errors(body, "order_number", required=True)]
            has_id, has_code = body.get("id") is not None, body.get("code") is not None
            if not has_id and not has_code:
                errors.append(("id", "required_without:code", "The id field is required when code is not present."))
            if errors:
                return _invalid("VOUCHER.RECHARGE", errors)
            if has_id:
                voucher = self.state.vouchers.get(str(body["id"]))
            else:
                voucher = next((v for v in self.state.vouchers.values() if v.code == body["code"]), None)
            if voucher is None:
                return _error(404, "VOUCHER.NOT_FOUND", MSG_VOUCHER_NOT_FOUND)
            if body["currency"] != voucher.currency:
                return _error(422, "CURRENCY.MISMATCH", MSG_CURRENCY_MISMATCH)
            refused = self._usable(voucher)
            if refused:
                return refused
            amount = to_cents(body["amount"]) or 0
            if voucher.remaining + amount > MAX_CENTS:
                return _invalid("VOUCHER.RECHARGE", [("amount", "max:99999.99",
                                                      "The remaining amount may not be greater than 99999.99.")])
            charge = Charge(self._new_id(), voucher.id, client_id, "recharge", amount,
                            body["order_number"], self._clock())
            self.state.charges[charge.id] = charge
            voucher.remaining += amount
            voucher.updated_at = charge.created_at
            return 201, self._charge_body(charge)


def _page(rows: list[JsonObject], query: dict[str, str], path: str) -> Reply:
    """Laravel-style pagination: ``{data, links, meta}``; ``page``/``per_page`` from the query."""
    try:
        page = max(1, int(query.get("page", "1")))
        per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", str(DEFAULT_PER_PAGE)))))
    except ValueError:
        return _invalid("PAGINATION", [("page", "integer", "The page and per_page must be integers.")])
    total = len(rows)
    last = max(1, -(-total // per_page))
    start = (page - 1) * per_page
    data = rows[start:start + per_page]
    keep = {k: v for k, v in query.items() if k not in ("page",)}

    def link(n: int) -> str:
        return f"{path}?{urlencode({**keep, 'page': n})}"

    return 200, {
        "data": data,
        "links": {"first": link(1), "last": link(last),
                  "prev": link(page - 1) if page > 1 else None,
                  "next": link(page + 1) if page < last else None},
        "meta": {"current_page": page, "per_page": per_page,
                 "from": start + 1 if data else None, "to": start + len(data) if data else None,
                 "last_page": last, "total": total, "path": path},
    }


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
_UNAUTHENTICATED = {"status": 401, "code": "UNAUTHENTICATED", "message": MSG_UNAUTHENTICATED}

Handler = Callable[[Request, str], Awaitable[Reply]]


def _respond(reply: Reply) -> Response:
    status, payload = reply
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(payload, status_code=status)


def _api_routes(sim: JtlSimulator) -> list[BaseRoute]:
    def guarded(scope: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Bearer token, then scope, then the rule."""

        async def endpoint(request: Request) -> Response:
            token = sim.authenticate(request.headers.get("authorization"))
            if token is None:
                return JSONResponse(_UNAUTHENTICATED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            if scope not in token.scopes:
                return JSONResponse("Forbidden", status_code=403)
            return _respond(await handler(request, token.client_id))

        return endpoint

    def with_body(rule: Callable[[Request, JsonObject, str], Reply]) -> Handler:
        async def handler(request: Request, client_id: str) -> Reply:
            body = await json_body(request)
            if body is None:
                return _error(400, "BAD_REQUEST", MSG_BAD_JSON)
            return rule(request, body, client_id)

        return handler

    def query(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        status, payload = sim.token(form)
        headers = {"Cache-Control": "no-store"}
        if status == 401:
            headers["WWW-Authenticate"] = "Basic"
        return JSONResponse(payload, status_code=status, headers=headers)

    async def connect(request: Request) -> Response:
        body = await json_body(request)
        if body is None:
            return _respond(_error(400, "BAD_REQUEST", MSG_BAD_JSON))
        return _respond(sim.connect(body))

    async def get_voucher(request: Request, _client: str) -> Reply:
        return sim.get_voucher(request.path_params["id"])

    async def complete(request: Request, _client: str) -> Reply:
        return sim.get_voucher(request.path_params["id"], secret=True)

    async def list_vouchers(request: Request, _client: str) -> Reply:
        return sim.list_vouchers(query(request), str(request.url.replace(query="")))

    async def list_charges(request: Request, _client: str) -> Reply:
        return sim.list_charges(request.path_params["id"], query(request), str(request.url.replace(query="")))

    async def get_charge(request: Request, _client: str) -> Reply:
        return sim.get_charge(request.path_params["id"], request.path_params["charge_id"])

    v = "/v1/vouchers"
    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/v1/clients/connect", connect, methods=["POST"]),
        Route(f"{v}/recharge", guarded("recharge", with_body(lambda r, b, c: sim.recharge(b, c))), methods=["POST"]),
        Route(v, guarded("read-lists", list_vouchers), methods=["GET"]),
        Route(v, guarded("manage", with_body(lambda r, b, c: sim.create_voucher(b, c))), methods=["POST"]),
        Route(f"{v}/{{id}}", guarded("read", get_voucher), methods=["GET"]),
        Route(f"{v}/{{id}}", guarded("update", with_body(
            lambda r, b, c: sim.update_voucher(r.path_params["id"], b))), methods=["PATCH"]),
        Route(f"{v}/{{id}}", guarded("manage", with_body(
            lambda r, b, c: sim.delete_voucher(r.path_params["id"]))), methods=["DELETE"]),
        Route(f"{v}/{{id}}/complete", guarded("read-secrets", complete), methods=["GET"]),
        Route(f"{v}/{{id}}/status", guarded("use", with_body(
            lambda r, b, c: sim.set_status(r.path_params["id"], b))), methods=["PATCH"]),
        Route(f"{v}/{{id}}/charges", guarded("read-lists", list_charges), methods=["GET"]),
        Route(f"{v}/{{id}}/charges/{{charge_id}}", guarded("read", get_charge), methods=["GET"]),
        Route("/v1/reservations", guarded("use", with_body(lambda r, b, c: sim.reserve(b, c))), methods=["POST"]),
        Route("/v1/reservations/{id}/charge", guarded("use", with_body(
            lambda r, b, c: sim.charge(r.path_params["id"], b, c))), methods=["POST"]),
        Route("/v1/charges/{id}/refund", guarded("use", with_body(
            lambda r, b, c: sim.refund(r.path_params["id"], b, c))), methods=["POST"]),
    ]


def _admin_routes(sim: JtlSimulator) -> list[BaseRoute]:
    """JTL's own control routes (the generic ones are simkit's):

    * ``POST /_sim/pins`` ``{"client_id": "...", "pin": "123456", "valid_for_s": 1800}``
      -> ``{"pin": "123456"}`` (what the Admin UI's connect button shows)
    * ``POST /_sim/tokens/expire`` -> ``{"expired": N}``
    * ``POST /_sim/scopes`` ``{"client_id": "...", "scopes": ["read"]}`` (the client group)
    """

    async def pins(request: Request) -> Response:
        body = await json_body(request) or {}
        try:
            pin = sim.issue_pin(body.get("client_id"), body.get("pin"),
                                float(body.get("valid_for_s", PIN_TTL_S)))
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"cannot issue pin: {exc}"}, status_code=400)
        return JSONResponse({"pin": pin})

    async def expire(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_tokens()})

    async def scopes(request: Request) -> Response:
        body = await json_body(request) or {}
        try:
            sim.set_scopes(str(body.get("client_id")), list(body.get("scopes", [])))
        except (KeyError, TypeError) as exc:
            return JSONResponse({"error": f"cannot set scopes: {exc}"}, status_code=400)
        return JSONResponse({"ok": True})

    return [
        Route(f"{ADMIN_PREFIX}pins", pins, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}tokens/expire", expire, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}scopes", scopes, methods=["POST"]),
    ]


def build_app(
    data_path: str | Path | None = None,
    clock: Clock | None = None,
    *,
    data: SimData | None = None,
    token_ttl_s: float = TOKEN_TTL_S,
) -> tuple[ASGIApp, JtlSimulator]:
    """The ASGI app and its simulator, seeded from ``data`` or ``data_path``
    (default: the packaged ``demo_vouchers.toml``)."""
    sim = JtlSimulator(data if data is not None else load_data(data_path), clock, token_ttl_s)
    return simulator_app(sim, _api_routes(sim), _admin_routes(sim)), sim


async def serve(host: str = "127.0.0.1", port: int = 8766, data_path: str | Path | None = None) -> None:
    """Serve a fresh JTL simulator over HTTP until cancelled or interrupted."""
    app, _sim = build_app(data_path)
    await simkit.serve(app, host, port, name="JTL-Voucher Cloud simulator")


def run(host: str = "127.0.0.1", port: int = 8766, data_path: str | Path | None = None) -> None:
    """Blocking entry point for ``pos simulate jtl --port N [--data FILE]``."""
    asyncio.run(serve(host, port, data_path))


def demo_secrets(sim: JtlSimulator) -> dict[str, str]:
    """The secrets a till uses against this simulator in demo mode: the first client's credentials."""
    client = next(iter(sim.state.clients.values()))
    return {"client_id": client.id, "client_secret": client.secret}
