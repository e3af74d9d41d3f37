"""An E-GUMA REST API v1 simulator, faithful to ``providers/eguma.md``.

It is a Starlette ASGI app, served either in-process (:func:`in_process_transport`,
the demo mode) or over real HTTP by uvicorn (:func:`serve`, :func:`run`,
:class:`ServerThread`; ``pos simulate eguma --port N [--data FILE]``).

What it does, as the reference page says:

* per-outlet API keys in the ``apikey`` query parameter; a wrong or missing
  key is HTTP 401 with a plain-text body;
* errors are HTTP 400 with a German plain-text body, e.g.
  ``Der Gutschein ist nicht vorhanden.``;
* Balance accepts dashed, undashed and lower-case codes and returns the
  canonical code; it alone resolves a 2-digit voucher2mobile short code
  (valid 5 minutes, measured with the injected ``clock``); Balance of an
  unknown, used-up, expired or not-yet-activated voucher is 200 with
  ``is_redeemable: false`` and the reason in ``message``;
* the other endpoints echo the code as it was sent (the recorded real
  responses do: ``cancel -> {"code": "2QH3-QTDM-28N6", ...}``);
* Redeem takes partial amounts and answers a ``redeem_token``; a repeated
  Redeem is a second redemption (there is no idempotency key);
* Cancel redemption takes the token and an amount, may be repeated until the
  redemption is fully cancelled, and refuses to cancel more than is left;
* depot vouchers: a fixed amount or a free amount; activate only once;
  ``amount_in_cents`` is only accepted for a free amount (and required then);
  status endpoints answer "not possible" as 200 with the flag false,
  ``amount_in_cents`` 0 and a message (the refused shape recorded from the
  real API, which carries no ``code``).

Our choices where the reference is silent (**[I]**):

* A depot voucher can be deactivated only while it is activated and unused:
  its balance still equals the activated amount. One that has been redeemed
  from cannot be deactivated, even in part ("Der Gutschein wurde bereits
  eingelöst ..."); cancelling the redemptions first makes it unused again.
  Deactivation puts it back in the stack: inactive, balance 0, so it can be
  sold again.
* An expired short code answers Balance with ``Der Kurzcode ist abgelaufen.``
* Codes are case-insensitive; whitespace and dashes are ignored.

Test support: ``sim.state`` is the ledger (vouchers, redemptions with their
cancelled amounts, activations, deactivations, a request log without the
key), ``sim.snapshot()`` a JSON copy of it, ``sim.reset()`` restores the
seed data. Faults — latency, "answer the next N requests with status S",
"apply the next N POSTs, then drop the response", "apply every POST only
after a delay, even when the client has given up" — are set with methods
on the simulator or over HTTP under ``/_sim/``. All of that is generic and
lives in :mod:`pos_app.providers.simkit`; this module keeps E-GUMA's data,
rules and its one own admin route (short codes). The generic names are
re-exported here, so ``from pos_app.providers.eguma.simulator import
ServerThread`` keeps working.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import re
import time
import tomllib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from pos_app.providers import simkit
from pos_app.providers.simkit import (
    ADMIN_PREFIX,
    ASGIApp,
    Faults,
    JsonObject,
    Reply,
    RequestRecord,
    ResponseDropped,
    ServerThread,
    SimulatorBase,
    SimulatorTransport,
    in_process_transport,
    json_body,
    reply_response,
    simulator_app,
)

__all__ = [
    "DEFAULT_DATA",
    "EgumaSimulator",
    "Faults",
    "RequestRecord",
    "ResponseDropped",
    "ServerThread",
    "SimData",
    "SimState",
    "SimulatorDataError",
    "SimulatorTransport",
    "build_app",
    "in_process_transport",
    "load_data",
    "run",
    "serve",
]

SHORT_CODE_TTL_S = 300.0
MAX_TEXT = 1024

MSG_UNAUTHORIZED = "Ungültiger API-Key."
MSG_NOT_FOUND = "Der Gutschein ist nicht vorhanden."
MSG_USED_UP = "Der Gutschein wurde bereits vollständig eingelöst."
MSG_EXPIRED = "Der Gutschein ist abgelaufen."
MSG_NOT_ACTIVATED = "Der Gutschein wurde noch nicht aktiviert."
MSG_ALREADY_ACTIVATED = "Der Gutschein wurde bereits aktiviert."
MSG_NOT_DEPOT = "Der Gutschein ist kein Depot-Gutschein."
MSG_SHORT_CODE_EXPIRED = "Der Kurzcode ist abgelaufen."
MSG_AMOUNT_INVALID = "Der Parameter amount_in_cents fehlt oder ist ungültig."
MSG_AMOUNT_EXCEEDS_BALANCE = "Der Betrag übersteigt das Guthaben des Gutscheins."
MSG_TOKEN_MISSING = "Der Parameter redeem_token fehlt."
MSG_REDEMPTION_NOT_FOUND = "Die Einlösung ist nicht vorhanden."
MSG_ALREADY_CANCELLED = "Die Einlösung wurde bereits vollständig storniert."
MSG_CANCEL_EXCEEDS = "Der Betrag übersteigt den eingelösten Betrag."
MSG_AMOUNT_NOT_ALLOWED = "Für diesen Gutschein kann kein Betrag angegeben werden."
MSG_AMOUNT_REQUIRED = "Für diesen Gutschein muss ein Betrag angegeben werden."
MSG_ALREADY_USED = "Der Gutschein wurde bereits eingelöst und kann nicht deaktiviert werden."
MSG_TEXT_TOO_LONG = "Der Text ist zu lang (höchstens 1024 Zeichen)."
MSG_BAD_JSON = "Ungültige Anfrage: JSON erwartet."

Clock = Callable[[], float]

_CODE = re.compile(r"^[A-Z0-9]{12}$")
_SHORT = re.compile(r"^[0-9]{2}$")


def canonical(code: str) -> str:
    """The server's reading of a code: no whitespace or dashes, upper case."""
    return re.sub(r"[\s\-]", "", code).upper()


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
class SimulatorDataError(ValueError):
    """The data file is not valid simulator data."""


class VoucherStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    INACTIVE = "inactive"  # a depot voucher not yet activated


@dataclass
class SimVoucher:
    code: str
    balance_in_cents: int
    total_amount_in_cents: int
    currency: str
    product_id: str
    status: VoucherStatus = VoucherStatus.ACTIVE
    depot: bool = False
    free_amount: bool = False
    amount_in_cents: int = 0  # a depot voucher's fixed face value

    def not_redeemable_reason(self) -> str | None:
        if self.status is VoucherStatus.INACTIVE:
            return MSG_NOT_ACTIVATED
        if self.status is VoucherStatus.EXPIRED:
            return MSG_EXPIRED
        if self.balance_in_cents <= 0:
            return MSG_USED_UP
        return None


@dataclass
class ShortCode:
    short: str
    code: str
    expires_at: float


@dataclass
class Redemption:
    token: str
    code: str
    amount_in_cents: int
    reference: str | None
    outlet: str
    cancelled_in_cents: int = 0

    @property
    def open_in_cents(self) -> int:
        return self.amount_in_cents - self.cancelled_in_cents


@dataclass
class ActivationRecord:
    code: str
    amount_in_cents: int
    outlet: str


@dataclass
class DeactivationRecord:
    code: str
    amount_in_cents: int
    reason: str | None
    outlet: str


@dataclass
class SimData:
    """Seed data, as loaded from TOML."""

    currency: str
    outlets: dict[str, str]  # api key -> outlet name
    vouchers: list[SimVoucher]
    short_codes: list[tuple[str, str, float]] = field(default_factory=list)  # short, code, ttl


@dataclass
class SimState:
    """The ledger tests assert on."""

    currency: str
    outlets: dict[str, str]
    vouchers: dict[str, SimVoucher]
    short_codes: dict[str, ShortCode] = field(default_factory=dict)
    redemptions: dict[str, Redemption] = field(default_factory=dict)
    activations: list[ActivationRecord] = field(default_factory=list)
    deactivations: list[DeactivationRecord] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)


DEFAULT_DATA = "demo_vouchers.toml"


def _field(
    table: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    """``table[name]`` checked against ``kind`` (``bool`` never passes for a number)."""
    value = table.get(name, default)
    numeric = kind is int or kind == (int, float)
    if isinstance(value, bool) and numeric:
        raise SimulatorDataError(f"{where}: {name} must be a number")
    if not isinstance(value, kind):
        expected = getattr(kind, "__name__", "a number")
        expected = "an integer" if kind is int else "a number" if numeric else expected
        raise SimulatorDataError(f"{where}: {name} must be {expected}")
    return value


def _voucher_from(table: dict[str, Any], currency: str, index: int) -> SimVoucher:
    where = f"vouchers[{index}]"
    code = canonical(_field(table, "code", str, "", where))
    if not _CODE.match(code):
        raise SimulatorDataError(f"{where}: code must be 12 letters/digits, got {code!r}")
    try:
        status = VoucherStatus(_field(table, "status", str, "active", where))
    except ValueError:
        raise SimulatorDataError(f"{where}: status must be active, expired or inactive") from None
    depot = _field(table, "depot", bool, False, where)
    amount = _field(table, "amount_in_cents", int, 0, where)
    balance = _field(table, "balance_in_cents", int, 0, where)
    return SimVoucher(
        code=code,
        balance_in_cents=balance,
        total_amount_in_cents=_field(table, "total_amount_in_cents", int, balance, where),
        currency=_field(table, "currency", str, currency, where),
        product_id=_field(table, "product_id", str, "", where),
        status=status,
        depot=depot,
        free_amount=_field(table, "free_amount", bool, False, where),
        amount_in_cents=amount,
    )


def parse_data(raw: dict[str, Any]) -> SimData:
    """Validate a parsed TOML document into :class:`SimData`."""
    currency = _field(raw.get("account", {}), "currency", str, "CHF", "account")
    outlets: dict[str, str] = {}
    for i, table in enumerate(raw.get("outlets", [])):
        key = _field(table, "api_key", str, "", f"outlets[{i}]")
        if not key:
            raise SimulatorDataError(f"outlets[{i}]: api_key is empty")
        outlets[key] = _field(table, "name", str, f"Outlet {i + 1}", f"outlets[{i}]")
    vouchers = [_voucher_from(t, currency, i) for i, t in enumerate(raw.get("vouchers", []))]
    known = {v.code for v in vouchers}
    shorts: list[tuple[str, str, float]] = []
    for i, table in enumerate(raw.get("short_codes", [])):
        where = f"short_codes[{i}]"
        short = _field(table, "short", str, "", where)
        code = canonical(_field(table, "code", str, "", where))
        if not _SHORT.match(short) or code not in known:
            raise SimulatorDataError(f"{where}: needs a 2-digit short and a known code")
        ttl = float(_field(table, "valid_for_s", (int, float), SHORT_CODE_TTL_S, where))
        shorts.append((short, code, ttl))
    return SimData(currency=currency, outlets=outlets, vouchers=vouchers, short_codes=shorts)


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
# The simulator: state, business rules, faults
# ---------------------------------------------------------------------------
def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


class EgumaSimulator(SimulatorBase[SimState]):
    """State and rules of one simulated E-GUMA account.

    The rule methods (``balance``, ``redeem``, ...) are synchronous and run
    under the lock, so a test thread may inspect or change the state while a
    uvicorn thread serves requests. Faults, the request log and held POSTs
    are :class:`~pos_app.providers.simkit.SimulatorBase`'s.
    """

    def __init__(self, data: SimData, clock: Clock | None = None) -> None:
        self._data = data
        self._clock: Clock = clock or time.monotonic
        super().__init__()

    # -- housekeeping ----------------------------------------------------------
    def _fresh_state(self) -> SimState:
        state = SimState(
            currency=self._data.currency,
            outlets=dict(self._data.outlets),
            vouchers={v.code: copy.deepcopy(v) for v in self._data.vouchers},
        )
        now = self._clock()
        for short, code, ttl in self._data.short_codes:
            state.short_codes[short] = ShortCode(short, code, now + ttl)
        return state

    def _ledger_snapshot(self) -> JsonObject:
        state = self.state
        return {
            "currency": state.currency,
            "vouchers": {c: _plain(asdict(v)) for c, v in state.vouchers.items()},
            "short_codes": {s: asdict(sc) for s, sc in state.short_codes.items()},
            "redemptions": [
                {**asdict(r), "open_in_cents": r.open_in_cents} for r in state.redemptions.values()
            ],
            "activations": [asdict(a) for a in state.activations],
            "deactivations": [asdict(d) for d in state.deactivations],
        }

    def _dump_ledger(self) -> JsonObject:
        state = self.state
        return {
            "version": 1,
            "vouchers": [_plain(asdict(v)) for v in state.vouchers.values()],
            "redemptions": [asdict(r) for r in state.redemptions.values()],
            "activations": [asdict(a) for a in state.activations],
            "deactivations": [asdict(d) for d in state.deactivations],
        }

    def _load_ledger(self, data: JsonObject) -> None:
        """The vouchers, redemptions and (de)activations as a demo left them; short
        codes come fresh from the seed data (they are valid for minutes only)."""
        if data.get("version") != 1:
            raise ValueError(f"unknown simulator state version {data.get('version')!r}")
        state = self._fresh_state()
        state.vouchers = {}
        for row in data["vouchers"]:
            voucher = SimVoucher(**{**row, "status": VoucherStatus(row["status"])})
            state.vouchers[voucher.code] = voucher
        state.redemptions = {row["token"]: Redemption(**row) for row in data["redemptions"]}
        state.activations = [ActivationRecord(**row) for row in data["activations"]]
        state.deactivations = [DeactivationRecord(**row) for row in data["deactivations"]]
        self.state = state

    def voucher(self, code: str) -> SimVoucher:
        """The ledger row of a voucher (tests: ``sim.voucher("L4FU-...").balance_in_cents``)."""
        return self.state.vouchers[canonical(code)]

    def outlet_for(self, api_key: str | None) -> str | None:
        return self.state.outlets.get(api_key) if api_key else None

    def issue_short_code(
        self, code: str, short: str | None = None, valid_for_s: float = SHORT_CODE_TTL_S
    ) -> str:
        """A voucher2mobile short code for ``code``, valid ``valid_for_s`` seconds."""
        code = canonical(code)
        with self._lock:
            if code not in self.state.vouchers:
                raise KeyError(code)
            if short is None:
                used = set(self.state.short_codes)
                short = next(f"{n:02d}" for n in range(10, 100) if f"{n:02d}" not in used)
            if not _SHORT.match(short):
                raise ValueError("a short code has 2 digits")
            self.state.short_codes[short] = ShortCode(short, code, self._clock() + valid_for_s)
            return short

    # -- the API's rules ---------------------------------------------------------
    def _find(self, code: str) -> SimVoucher | None:
        return self.state.vouchers.get(canonical(code))

    def _balance_body(self, code: str, voucher: SimVoucher | None, message: str) -> JsonObject:
        return {
            "code": voucher.code if voucher else canonical(code),
            "is_redeemable": not message,
            "balance_in_cents": voucher.balance_in_cents if voucher else 0,
            "total_amount_in_cents": voucher.total_amount_in_cents if voucher else 0,
            "currency": voucher.currency if voucher else self.state.currency,
            "product_id": voucher.product_id if voucher else "",
            "message": message,
        }

    def balance(self, code: str) -> Reply:
        with self._lock:
            raw = code.strip()
            if _SHORT.match(raw):
                short = self.state.short_codes.get(raw)
                if short is None:
                    return 200, self._balance_body(raw, None, MSG_NOT_FOUND)
                if self._clock() >= short.expires_at:
                    return 200, self._balance_body(raw, None, MSG_SHORT_CODE_EXPIRED)
                raw = short.code
            voucher = self._find(raw)
            if voucher is None:
                return 200, self._balance_body(raw, None, MSG_NOT_FOUND)
            return 200, self._balance_body(raw, voucher, voucher.not_redeemable_reason() or "")

    def redeem(self, code: str, body: JsonObject, outlet: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            amount = _positive_int(body.get("amount_in_cents"))
            reference = body.get("reference_number")
            if amount is None:
                return 400, MSG_AMOUNT_INVALID
            if reference is not None and (not isinstance(reference, str) or len(reference) > MAX_TEXT):
                return 400, MSG_TEXT_TOO_LONG
            reason = voucher.not_redeemable_reason()
            if reason:
                return 400, reason
            if amount > voucher.balance_in_cents:
                return 400, MSG_AMOUNT_EXCEEDS_BALANCE
            voucher.balance_in_cents -= amount
            token = uuid.uuid4().hex
            self.state.redemptions[token] = Redemption(token, voucher.code, amount, reference, outlet)
            return 200, {
                "code": code,
                "balance_in_cents": voucher.balance_in_cents,
                "redeem_token": token,
            }

    def cancel_redemption(self, code: str, body: JsonObject, outlet: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            token = body.get("redeem_token")
            if not isinstance(token, str) or not token:
                return 400, MSG_TOKEN_MISSING
            amount = _positive_int(body.get("amount_in_cents"))
            if amount is None:
                return 400, MSG_AMOUNT_INVALID
            redemption = self.state.redemptions.get(token)
            if redemption is None or redemption.code != voucher.code:
                return 400, MSG_REDEMPTION_NOT_FOUND
            if redemption.open_in_cents <= 0:
                return 400, MSG_ALREADY_CANCELLED
            if amount > redemption.open_in_cents:
                return 400, MSG_CANCEL_EXCEEDS
            redemption.cancelled_in_cents += amount
            voucher.balance_in_cents += amount
            return 200, {"code": code, "balance_in_cents": voucher.balance_in_cents}

    @staticmethod
    def _refused_status(flag: str, message: str) -> JsonObject:
        """The recorded shape of a refused status answer (no ``code``)."""
        return {flag: False, "amount_in_cents": 0, "message": message}

    def _activation_refusal(self, voucher: SimVoucher) -> str | None:
        if not voucher.depot:
            return MSG_NOT_DEPOT
        if voucher.status is VoucherStatus.ACTIVE:
            return MSG_ALREADY_ACTIVATED
        if voucher.status is VoucherStatus.EXPIRED:
            return MSG_EXPIRED
        return None

    def activate_status(self, code: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            refusal = self._activation_refusal(voucher)
            if refusal:
                return 200, self._refused_status("can_be_activated", refusal)
            body: JsonObject = {
                "code": code,
                "can_be_activated": True,
                "free_amount": voucher.free_amount,
                "currency": voucher.currency,
                "message": "",
            }
            if not voucher.free_amount:  # "If free_amount is true, E-GUMA doesn't return an amount"
                body["amount_in_cents"] = voucher.amount_in_cents
            return 200, body

    def activate(self, code: str, body: JsonObject, outlet: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            refusal = self._activation_refusal(voucher)
            if refusal:
                return 400, refusal
            given = body.get("amount_in_cents")
            if given is not None and not voucher.free_amount:
                return 400, MSG_AMOUNT_NOT_ALLOWED
            if voucher.free_amount:
                if given is None:
                    return 400, MSG_AMOUNT_REQUIRED
                amount = _positive_int(given)
                if amount is None:
                    return 400, MSG_AMOUNT_INVALID
            else:
                amount = voucher.amount_in_cents
            voucher.status = VoucherStatus.ACTIVE
            voucher.balance_in_cents = voucher.total_amount_in_cents = amount
            self.state.activations.append(ActivationRecord(voucher.code, amount, outlet))
            return 200, {"code": code, "amount_in_cents": amount}

    def _deactivation_refusal(self, voucher: SimVoucher) -> str | None:
        if not voucher.depot:
            return MSG_NOT_DEPOT
        if voucher.status is VoucherStatus.INACTIVE:
            return MSG_NOT_ACTIVATED
        if voucher.status is VoucherStatus.EXPIRED:
            return MSG_EXPIRED
        if voucher.balance_in_cents != voucher.total_amount_in_cents:
            return MSG_ALREADY_USED
        return None

    def deactivate_status(self, code: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            refusal = self._deactivation_refusal(voucher)
            if refusal:
                return 200, self._refused_status("can_be_deactivated", refusal)
            return 200, {
                "code": code,
                "can_be_deactivated": True,
                "amount_in_cents": voucher.balance_in_cents,
                "message": "",
            }

    def deactivate(self, code: str, body: JsonObject, outlet: str) -> Reply:
        with self._lock:
            voucher = self._find(code)
            if voucher is None:
                return 400, MSG_NOT_FOUND
            reason = body.get("deactivate_reason")
            if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_TEXT):
                return 400, MSG_TEXT_TOO_LONG
            refusal = self._deactivation_refusal(voucher)
            if refusal:
                return 400, refusal
            amount = voucher.balance_in_cents
            voucher.status = VoucherStatus.INACTIVE
            voucher.balance_in_cents = voucher.total_amount_in_cents = 0
            self.state.deactivations.append(DeactivationRecord(voucher.code, amount, reason, outlet))
            return 200, {"code": code, "amount_in_cents": amount}


def _plain(data: JsonObject) -> JsonObject:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in data.items()}


# ---------------------------------------------------------------------------
# HTTP: API routes and E-GUMA's own admin route (the rest is simkit's)
# ---------------------------------------------------------------------------
def _api_routes(sim: EgumaSimulator) -> list[BaseRoute]:
    def get(rule: Callable[[str], Reply]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if sim.outlet_for(request.query_params.get("apikey")) is None:
                return PlainTextResponse(MSG_UNAUTHORIZED, status_code=401)
            return reply_response(rule(request.path_params["code"]))

        return endpoint

    def post(rule: Callable[[str, JsonObject, str], Reply]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            outlet = sim.outlet_for(request.query_params.get("apikey"))
            if outlet is None:
                return PlainTextResponse(MSG_UNAUTHORIZED, status_code=401)
            body = await json_body(request)
            if body is None:
                return PlainTextResponse(MSG_BAD_JSON, status_code=400)
            return reply_response(rule(request.path_params["code"], body, outlet))

        return endpoint

    v, d = "/v1/vouchers/{code}", "/v1/depot_vouchers/{code}"
    return [
        Route(f"{v}/balance.json", get(sim.balance), methods=["GET"]),
        Route(f"{v}/redeem.json", post(sim.redeem), methods=["POST"]),
        Route(f"{v}/cancel_redemption.json", post(sim.cancel_redemption), methods=["POST"]),
        Route(f"{d}/activate_status.json", get(sim.activate_status), methods=["GET"]),
        Route(f"{d}/activate.json", post(sim.activate), methods=["POST"]),
        Route(f"{d}/deactivate_status.json", get(sim.deactivate_status), methods=["GET"]),
        Route(f"{d}/deactivate.json", post(sim.deactivate), methods=["POST"]),
    ]


def _admin_routes(sim: EgumaSimulator) -> list[BaseRoute]:
    """E-GUMA's own control route; ``/_sim/state``, ``/_sim/reset`` and
    ``/_sim/faults`` are simkit's (:func:`pos_app.providers.simkit.admin_routes`).

    * ``POST /_sim/short_codes`` ``{"code": "L4FU5LQTKJR3", "short": "42",
      "valid_for_s": 300}`` -> ``{"short": "42"}``
    """

    async def short_codes(request: Request) -> Response:
        body = await json_body(request) or {}
        try:
            short = sim.issue_short_code(
                str(body.get("code", "")),
                body.get("short"),
                float(body.get("valid_for_s", SHORT_CODE_TTL_S)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"cannot issue short code: {exc}"}, status_code=400)
        return JSONResponse({"short": short})

    return [Route(f"{ADMIN_PREFIX}short_codes", short_codes, methods=["POST"])]


def build_app(
    data_path: str | Path | None = None,
    clock: Clock | None = None,
    *,
    data: SimData | None = None,
) -> tuple[ASGIApp, EgumaSimulator]:
    """The ASGI app and its simulator, seeded from ``data`` or ``data_path``
    (default: the packaged ``demo_vouchers.toml``)."""
    sim = EgumaSimulator(data if data is not None else load_data(data_path), clock)
    return simulator_app(sim, _api_routes(sim), _admin_routes(sim)), sim


# ---------------------------------------------------------------------------
# Servers (transports and ServerThread are simkit's, re-exported above)
# ---------------------------------------------------------------------------
async def serve(host: str = "127.0.0.1", port: int = 8765, data_path: str | Path | None = None) -> None:
    """Serve a fresh E-GUMA simulator over HTTP until cancelled or interrupted."""
    app, _sim = build_app(data_path)
    await simkit.serve(app, host, port, name="E-GUMA simulator")


def run(host: str = "127.0.0.1", port: int = 8765, data_path: str | Path | None = None) -> None:
    """Blocking entry point for ``pos simulate eguma --port N [--data FILE]``."""
    asyncio.run(serve(host, port, data_path))


def demo_secrets(sim: EgumaSimulator) -> dict[str, str]:
    """The secrets a till uses against this simulator in demo mode: the first outlet's key."""
    return {"api_key": next(iter(sim.state.outlets))}
