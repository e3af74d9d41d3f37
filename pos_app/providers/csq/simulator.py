"""A CSQ eVSB prepaid-voucher API simulator, faithful to ``providers/csq.md``.

A Starlette ASGI app, served in-process (:func:`in_process_transport`, the
demo) or over HTTP by uvicorn (:func:`serve`, :func:`run`, :class:`ServerThread`).
Faults, the request log (no query string, no header, no body: the hash never
lands in it), ``/_sim/state``, ``/_sim/reset``, ``/_sim/faults`` and
:meth:`~pos_app.providers.simkit.SimulatorBase.persist` are simkit's; this
module keeps CSQ's data and rules. The API sits at the host root
(:data:`API_ROOT` is empty): ``/pre-paid/...``, ``/util/...``, ``/ping/...``.
Its own admin route, ``POST /_sim/settings``, changes the indexing delay, the
additional-data 404 counts and the terminals' balances (:meth:`CsqSimulator.configure`).

What it does, as the reference page says ([C]):

* every request carries ``U``, ``ST`` (Unix seconds, valid 30 s on the injected
  ``clock``) and ``SH`` = ``sha256(sha256hex(password) + sha256hex(ST))`` in
  lowercase hex; a bad hash, an unknown user or a stale salt is 401;
* ``Accept: application/json`` is required; the literal ``json`` (or anything
  else) is 406;
* answers are ``{"rc": 0|-1, "items": [...]}``, items with ``resultcode`` (a
  string), ``resultmessage``, ``supplierreference``, ``suppliertoken``,
  ``finalstatus``;
* a purchase names exactly one of
  ``amountToSendX100``/``destinationAmountX100`` and a ``localDateTime``, plus
  the fields GET ``/recharge/parameters`` lists; its ``localReference`` has up
  to 9 digits;
* a sale (10) debits the terminal's account, a refund (20) credits it back; too
  little on the account is 13;
* a sale answers ``voucherCode`` (also in ``suppliertoken``) and
  ``hasAdditionalData``; GET ``/additional-data`` answers 404 while the
  provider still processes;
* GET ``/products`` is 404 for an operator without dynamic products;
  ``/finished-products`` lists resolved raffles;
* GET ``/util/transaction/info`` answers ``rc -1, resultcode "900"`` (not
  indexed yet) right after a purchase, then the original result;
* test operators 9991 DummyPin, 9994 DummyVoucherADTrue (random
  ``hasAdditionalData``), 9995 DummyVoucherADFalse (always
  ``hasAdditionalData``); the ``account`` suffix 000 -> 10, 001 -> 971, 002 ->
  990, other -> 991.

Our choices where the page is silent (**[I]**), each one a line:

* a salt more than 30 s in the future is 401 too; ``SH`` must be lowercase;
  auth errors are 401 ``{"rc": -1, "message", "items": []}``; Accept is checked
  before auth;
* a terminal that is not the user's (or unknown) is 403 ``{"rc": -1, "message",
  "items": []}``: the user is known, the terminal forbidden;
* an unknown operator is 404 ``{"rc": -1, "message", "items": []}`` on every
  endpoint;
* invalid input (reference, amounts, date, parameters, body not JSON, an amount
  the operator does not sell) is HTTP 200 ``{"rc": -1, "message", "items":
  []}``: no item, nothing recorded, the reference stays free;
* ``rc`` is 0 only for a sale (10) or a refund (20); every refused transaction
  is ``rc -1`` with its item; ``finalstatus`` is ``true`` for all of ours (none
  stays pending);
* the idempotency key is (terminal, localReference, the date of
  ``localDateTime``); a replay with the same operator, amount, product and
  account answers the original envelope unchanged and buys nothing; the same
  key with another operator, amount, product or account is ``rc -1, "12"``
  (duplicate), not recorded;
* the balance is checked before the operator is asked: 13 is recorded like any
  refused sale; amounts are CHF, ``destinationAmountX100`` equals
  ``amountToSendX100``; a dynamic product debits its ``totalAmountX100`` (fee
  included);
* every listed parameter is required (a non-empty string; ``receiverEmail`` has
  an ``@``, ``documentType`` is PASSPORT or ID_CARD); fields not listed are
  accepted and kept;
* 9991 answers the redemption data inline in the sale's item
  (``hasAdditionalData: false``); 9994's draw is ``draw() < chance`` with an
  injectable ``draw`` (default: a ``random.Random`` seeded from the data,
  re-seeded by a reset);
* GET ``/additional-data/{t}/{op}/{suppliertoken}`` finds the sale by its
  token; it answers 404 ``{"rc": -1, "message", "items": []}`` (still processing) the operator's
  ``additional_data_404s`` times first, then ``rc 0`` with the redemption item;
  a token unknown (or of a refused sale) is 404 ``not found``;
* transaction info answers the original envelope (its ``rc`` and item, plus
  ``reverted``) once ``indexing_delay_s`` has passed; a request that arrived
  but is not applied yet (a late application) is 900 too; a reference never
  received is ``rc -1, resultcode "404"``, ``finalstatus: true``, "transaction
  not found" (never 900);
* a revert has its own reference (same key rules and replay as a purchase) and
  must name a sale (10) of this terminal and operator of the same local day as
  the revert's ``localDateTime``, for its full ``amountToSendX100``, with the
  sale's ``account`` if it had one: then ``rc 0, "20"``, the sale's debit
  credited back;
* an unknown original is ``rc -1, "404"``; a second revert of the same sale is
  ``rc -1, "12"``; a refused sale, another day, another amount or account is
  ``rc -1, "971"``; refused reverts are recorded (a replay answers the same);
* ``supplierreference`` is ``CSQ`` and a 9-digit sequence; a voucher code is a
  16-digit PIN or ``XXXX-XXXX-XXXX`` (kind ``pin``/``voucher``); GET
  ``/ping/{echo}`` answers ``{"rc": 0, "echo": echo}`` and needs auth.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
import re
import secrets
import string
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

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
    "API_ROOT",
    "DEFAULT_DATA",
    "DEFAULT_PORT",
    "CsqSimulator",
    "ServerThread",
    "SimData",
    "SimState",
    "SimulatorDataError",
    "Transaction",
    "build_app",
    "demo_secrets",
    "in_process_transport",
    "load_data",
    "parse_data",
    "run",
    "serve",
    "sign",
]

API_ROOT = ""  # the API sits at the host root: a till's base_url for this simulator is the host
DEFAULT_PORT = 8767
DEFAULT_DATA = "demo_products.toml"
SALT_TTL_S = 30.0
INDEXING_DELAY_S = 5.0

RC_OK, RC_FAILED = 0, -1
SALE_DONE, REFUND_DONE = "10", "20"
DUPLICATE, INSUFFICIENT = "12", "13"
REJECTED, OPERATOR_TIMEOUT, SYSTEM_ERROR = "971", "990", "991"
NOT_INDEXED, NOT_FOUND = "900", "404"

MESSAGES = {
    SALE_DONE: "Sale done",
    REFUND_DONE: "Refund done",
    DUPLICATE: "Duplicate transaction",
    INSUFFICIENT: "Insufficient balance",
    REJECTED: "Rejected",
    OPERATOR_TIMEOUT: "Operator timeout",
    SYSTEM_ERROR: "System error",
    NOT_INDEXED: "Transaction not indexed yet",
    NOT_FOUND: "Transaction not found",
}
# The test operators' outcome, keyed on the account's last three digits (csq.md).
TEST_ACCOUNT_OUTCOMES = {"000": SALE_DONE, "001": REJECTED, "002": OPERATOR_TIMEOUT}

FIELDS: dict[str, dict[str, str]] = {
    "account": {"en": "Account", "es": "Cuenta"},
    "beneficiaryPhoneNumber": {"en": "Beneficiary phone number", "es": "Teléfono del beneficiario"},
    "receiverEmail": {"en": "Receiver e-mail", "es": "Correo electrónico del destinatario"},
    "receiverMessage": {"en": "Message to the receiver", "es": "Mensaje para el destinatario"},
    "documentNumber": {"en": "Document number", "es": "Número de documento"},
    "documentType": {"en": "Document type (PASSPORT or ID_CARD)", "es": "Tipo de documento (PASSPORT o ID_CARD)"},
}
DOCUMENT_TYPES = ("PASSPORT", "ID_CARD")
AD_MODES = ("never", "inline", "always", "random")
KINDS = ("pin", "voucher")

Clock = Callable[[], float]
Draw = Callable[[], float]

_REFERENCE = re.compile(r"^\d{1,9}$")
_DAY = re.compile(r"^\d{8}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PATH_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def sign(password: str, salt: str) -> str:
    """``SH`` for a password and a salt (``ST``): ``sha256(sha256hex(password) + sha256hex(ST))``."""
    def hexdigest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return hexdigest(hexdigest(password) + hexdigest(salt))


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
class SimulatorDataError(ValueError):
    """The data file is not valid simulator data."""


@dataclass
class SimUser:
    username: str
    password: str
    terminals: list[str]


@dataclass
class SimOperator:
    id: str
    name: str
    kind: str = "voucher"  # pin | voucher: the shape of the code
    amounts_x100: list[int] = field(default_factory=list)  # fixed amounts; empty: the range below
    min_x100: int = 1
    max_x100: int = 100_000_00
    currency: str = "CHF"
    parameters: list[str] = field(default_factory=list)
    test_accounts: bool = False
    additional_data: str = "never"  # never | inline | always | random
    additional_data_chance: float = 0.5
    additional_data_404s: int = 0
    validity_days: int = 365
    redeem_instructions: str = ""
    products: list[JsonObject] = field(default_factory=list)  # dynamic products, API shape
    finished: list[JsonObject] = field(default_factory=list)  # resolved raffles, API shape


@dataclass
class SimData:
    """Seed data, as loaded from TOML."""

    users: list[SimUser]
    balances: dict[str, int]  # terminal -> cents
    operators: dict[str, SimOperator]
    indexing_delay_s: float = INDEXING_DELAY_S
    seed: int = 0


@dataclass
class Transaction:
    """A purchase or a revert as the ledger keeps it; ``answer`` is the envelope it got."""

    kind: str  # purchase | revert
    terminal: str
    local_reference: str
    date: str  # yyyyMMdd, from localDateTime
    operator: str
    amount_x100: int
    debit_x100: int  # what the account was charged (a sale) or credited (a refund), fee included
    account: str | None
    resultcode: str
    supplierreference: str
    suppliertoken: str
    voucher_code: str | None
    has_additional_data: bool
    additional_data_pending: int  # 404s still to answer before the additional data
    product_id: str | None
    fields: dict[str, str]
    local_date_time: str
    recorded_at: float
    answer: JsonObject
    reverted_by: str | None = None  # a sale: the key of the revert that refunded it
    original: str | None = None  # a revert: the key of the sale it names


@dataclass
class SimState:
    """The ledger tests assert on."""

    balances: dict[str, int]
    transactions: dict[str, Transaction] = field(default_factory=dict)  # key: terminal/ref/yyyyMMdd
    sequence: int = 0
    arrived: dict[str, float] = field(default_factory=dict)  # keys of POSTs arrived, not applied yet
    requests: list[RequestRecord] = field(default_factory=list)


def _key(terminal: str, reference: str, day: str) -> str:
    return f"{terminal}/{reference}/{day}"


def _get(table: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = table.get(name, default)
    if isinstance(value, bool) and kind is not bool:
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    if not isinstance(value, kind):
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    return value


def _ident(table: dict[str, Any], name: str, where: str) -> str:
    """An id given as a string or an integer, safe in a URL path."""
    value = table.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _PATH_SAFE.match(value):
        raise SimulatorDataError(f"{where}: {name} is required (letters, digits, '.', '_', '-')")
    return value


def _cents(table: dict[str, Any], name: str, default: int | None, where: str) -> int:
    value = table.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SimulatorDataError(f"{where}: {name} must be a whole number of cents (0 or more)")
    return value


def _product(table: Any, currency: str, where: str) -> JsonObject:
    if not isinstance(table, dict):
        raise SimulatorDataError(f"{where}: a product is a table")
    send = _cents(table, "amountToSendX100", None, where)
    if send < 1:
        raise SimulatorDataError(f"{where}: amountToSendX100 must be at least 1")
    fee = _cents(table, "serviceFeeX100", 0, where)
    extra = _get(table, "additionalData", list, [], where)
    if not all(isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("value"), str)
               for e in extra):
        raise SimulatorDataError(f"{where}: additionalData is a list of {{key, value}} strings")
    return {
        "id": _ident(table, "id", where),
        "description": _get(table, "description", str, "", where),
        "amountToSendX100": send,
        "destinationAmountX100": _cents(table, "destinationAmountX100", send, where),
        "serviceFeeX100": fee,
        "totalAmountX100": send + fee,
        "destinationCurrency": _get(table, "destinationCurrency", str, currency, where),
        "additionalData": [{"key": e["key"], "value": e["value"]} for e in extra],
    }


def _operator(table: Any, index: int) -> SimOperator:
    where = f"operators[{index}]"
    if not isinstance(table, dict):
        raise SimulatorDataError(f"{where}: an operator is a table")
    op_id = _ident(table, "id", where)
    where = f"operators[{index}] ({op_id})"
    kind = _get(table, "kind", str, "voucher", where)
    if kind not in KINDS:
        raise SimulatorDataError(f"{where}: kind must be one of {', '.join(KINDS)}")
    currency = _get(table, "currency", str, "CHF", where)
    if not _CURRENCY.match(currency):
        raise SimulatorDataError(f"{where}: currency must be an ISO 4217 code")
    amounts = _get(table, "amounts_x100", list, [], where)
    if not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in amounts):
        raise SimulatorDataError(f"{where}: amounts_x100 must be whole numbers of cents above 0")
    low, high = _cents(table, "min_x100", 1, where), _cents(table, "max_x100", 100_000_00, where)
    if not 1 <= low <= high:
        raise SimulatorDataError(f"{where}: min_x100 and max_x100 must be 1 <= min <= max")
    parameters = _get(table, "parameters", list, [], where)
    unknown = [p for p in parameters if p not in FIELDS]
    if unknown:
        raise SimulatorDataError(f"{where}: parameters must be among {', '.join(FIELDS)}, not {unknown}")
    test_accounts = _get(table, "test_accounts", bool, False, where)
    if test_accounts and "account" not in parameters:
        raise SimulatorDataError(f"{where}: test_accounts needs the parameter account")
    mode = _get(table, "additional_data", str, "never", where)
    if mode not in AD_MODES:
        raise SimulatorDataError(f"{where}: additional_data must be one of {', '.join(AD_MODES)}")
    chance = _get(table, "additional_data_chance", (int, float), 0.5, where)
    if not 0 <= chance <= 1:
        raise SimulatorDataError(f"{where}: additional_data_chance must be between 0 and 1")
    products = [_product(p, currency, f"{where}.products[{i}]")
                for i, p in enumerate(_get(table, "products", list, [], where))]
    finished = [_product(p, currency, f"{where}.finished[{i}]")
                for i, p in enumerate(_get(table, "finished", list, [], where))]
    if len({p["id"] for p in products}) != len(products):
        raise SimulatorDataError(f"{where}: product ids must be unique")
    return SimOperator(
        id=op_id, name=_get(table, "name", str, op_id, where), kind=kind, amounts_x100=list(amounts),
        min_x100=low, max_x100=high, currency=currency, parameters=list(parameters),
        test_accounts=test_accounts, additional_data=mode, additional_data_chance=float(chance),
        additional_data_404s=_cents(table, "additional_data_404s", 0, where),
        validity_days=_cents(table, "validity_days", 365, where),
        redeem_instructions=_get(table, "redeem_instructions", str, "", where),
        products=products, finished=finished,
    )


def parse_data(raw: dict[str, Any]) -> SimData:
    """Validate a parsed TOML document into :class:`SimData`."""
    account = _get(raw, "account", dict, {}, "account")
    delay = _get(account, "indexing_delay_s", (int, float), INDEXING_DELAY_S, "account")
    if delay < 0:
        raise SimulatorDataError("account: indexing_delay_s must be 0 or more")
    seed = _get(account, "seed", int, 0, "account")
    balances: dict[str, int] = {}
    for i, table in enumerate(_get(raw, "terminals", list, [], "terminals")):
        where = f"terminals[{i}]"
        if not isinstance(table, dict):
            raise SimulatorDataError(f"{where}: a terminal is a table")
        terminal = _ident(table, "id", where)
        if terminal in balances:
            raise SimulatorDataError(f"{where}: terminal {terminal} is listed twice")
        balances[terminal] = _cents(table, "balance_x100", 0, where)
    users: list[SimUser] = []
    owners: dict[str, str] = {}
    for i, table in enumerate(_get(raw, "users", list, [], "users")):
        where = f"users[{i}]"
        if not isinstance(table, dict):
            raise SimulatorDataError(f"{where}: a user is a table")
        username = _get(table, "username", str, "", where)
        password = _get(table, "password", str, "", where)
        if not username or not password:
            raise SimulatorDataError(f"{where}: username and password are required")
        if any(u.username == username for u in users):
            raise SimulatorDataError(f"{where}: username {username} is listed twice")
        terminals = [str(t) if isinstance(t, int) and not isinstance(t, bool) else t
                     for t in _get(table, "terminals", list, [], where)]
        for terminal in terminals:
            if terminal not in balances:
                raise SimulatorDataError(f"{where}: terminal {terminal!r} is not among [[terminals]]")
            if terminal in owners:
                raise SimulatorDataError(f"{where}: terminal {terminal} already belongs to {owners[terminal]}")
            owners[terminal] = username
        users.append(SimUser(username, password, terminals))
    if not users:
        raise SimulatorDataError("users: at least one [[users]] is required")
    operators: dict[str, SimOperator] = {}
    for i, table in enumerate(_get(raw, "operators", list, [], "operators")):
        operator = _operator(table, i)
        if operator.id in operators:
            raise SimulatorDataError(f"operators[{i}]: operator {operator.id} is listed twice")
        operators[operator.id] = operator
    return SimData(users=users, balances=balances, operators=operators, indexing_delay_s=float(delay), seed=seed)


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
    try:
        return parse_data(raw)
    except SimulatorDataError as exc:
        raise SimulatorDataError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------
def _refused(message: str) -> JsonObject:
    """Invalid input, an auth or routing error: no transaction, no item."""
    return {"rc": RC_FAILED, "message": message, "items": []}


def _item(resultcode: str, message: str | None = None, reference: str = "", token: str = "",
          final: bool = True, **extra: Any) -> JsonObject:
    return {"resultcode": resultcode, "resultmessage": message or MESSAGES.get(resultcode, ""),
            "supplierreference": reference, "suppliertoken": token, "finalstatus": final, **extra}


def _envelope(item: JsonObject) -> JsonObject:
    rc = RC_OK if item["resultcode"] in (SALE_DONE, REFUND_DONE) else RC_FAILED
    return {"rc": rc, "items": [item]}


def _day_of(value: Any) -> str | None:
    """The local day of an ISO 8601 ``localDateTime`` as ``yyyyMMdd``; None if it is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value).strftime("%Y%m%d")
    except ValueError:
        return None


def _original_day(value: Any) -> str | None:
    """``originalLocalDate``: ``yyyyMMdd`` or ``yyyy-MM-dd``."""
    if not isinstance(value, str):
        return None
    text = value.replace("-", "") if len(value) == 10 else value
    if not _DAY.match(text):
        return None
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return text


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------
# The simulator: state, rules
# ---------------------------------------------------------------------------
class CsqSimulator(SimulatorBase[SimState]):
    """State and rules of one simulated CSQ eVSB account (its users and terminals).

    Rule methods run under the lock and return ``(status, body)``. ``clock``
    gives Unix seconds (default ``time.time``): salts and the indexing delay
    are measured with it. ``draw`` gives floats in [0, 1) for the random
    operators (default: ``random.Random(data.seed).random``).
    """

    def __init__(self, data: SimData, clock: Clock | None = None, draw: Draw | None = None,
                 indexing_delay_s: float | None = None) -> None:
        self._data = data
        self._clock: Clock = clock or time.time
        self._injected_draw = draw
        self._draw: Draw = draw or random.Random(data.seed).random
        self.indexing_delay_s = data.indexing_delay_s if indexing_delay_s is None else indexing_delay_s
        self.users = {u.username: u for u in data.users}
        self.operators = copy.deepcopy(data.operators)
        super().__init__()

    # -- housekeeping -------------------------------------------------------------
    def _fresh_state(self) -> SimState:
        if self._injected_draw is None:
            self._draw = random.Random(self._data.seed).random
        return SimState(balances=dict(self._data.balances))

    def _ledger_snapshot(self) -> JsonObject:
        state = self.state
        rows = [self._row(t) for t in state.transactions.values()]
        return {
            "balances": dict(state.balances),
            "purchases": [r for r in rows if r["kind"] == "purchase"],
            "reverts": [r for r in rows if r["kind"] == "revert"],
            "arrived": sorted(state.arrived),
            "indexing_delay_s": self.indexing_delay_s,
        }

    @staticmethod
    def _row(t: Transaction) -> JsonObject:
        row = asdict(t)
        del row["answer"]
        row["reverted"] = t.reverted_by is not None
        return row

    def _dump_ledger(self) -> JsonObject:
        state = self.state
        return {
            "version": 1,
            "balances": dict(state.balances),
            "sequence": state.sequence,
            "transactions": [asdict(t) for t in state.transactions.values()],
        }

    def _load_ledger(self, data: JsonObject) -> None:
        """Balances and transactions as a demo left them; users and operators come from the seed data."""
        if data.get("version") != 1:
            raise ValueError(f"unknown simulator state version {data.get('version')!r}")
        state = self._fresh_state()
        state.balances = {str(k): int(v) for k, v in data["balances"].items()}
        state.sequence = int(data["sequence"])
        rows = [Transaction(**row) for row in data["transactions"]]
        state.transactions = {_key(t.terminal, t.local_reference, t.date): t for t in rows}
        self.state = state

    # -- test and admin helpers -----------------------------------------------------
    def balance(self, terminal: str) -> int:
        with self._lock:
            return self.state.balances[terminal]

    def transaction(self, terminal: str, reference: str, day: str) -> Transaction | None:
        """The ledger row of (terminal, localReference, yyyyMMdd), or None."""
        with self._lock:
            return self.state.transactions.get(_key(terminal, reference, day))

    def purchases(self) -> list[Transaction]:
        with self._lock:
            return [t for t in self.state.transactions.values() if t.kind == "purchase"]

    def reverts(self) -> list[Transaction]:
        with self._lock:
            return [t for t in self.state.transactions.values() if t.kind == "revert"]

    def configure(self, spec: JsonObject) -> JsonObject:
        """Change the account's settings (the admin route ``/_sim/settings``), every key optional::

            {"indexing_delay_s": 0, "additional_data_404s": {"9994": 3}, "balances": {"173101": 500}}

        Returns the settings now. Raises ``KeyError`` for an unknown operator or
        terminal, ``ValueError``/``TypeError`` for a malformed value. A reset
        keeps the delay and the 404 counts, and puts the seed balances back."""
        with self._lock:
            if "indexing_delay_s" in spec:
                delay = float(spec["indexing_delay_s"])
                if delay < 0:
                    raise ValueError("indexing_delay_s must be 0 or more")
                self.indexing_delay_s = delay
            for operator_id, count in dict(spec.get("additional_data_404s", {})).items():
                if _whole(count) is None or count < 0:
                    raise ValueError("additional_data_404s are whole numbers, 0 or more")
                self.operators[str(operator_id)].additional_data_404s = count
            for terminal, cents in dict(spec.get("balances", {})).items():
                if str(terminal) not in self.state.balances:
                    raise KeyError(terminal)
                if _whole(cents) is None or cents < 0:
                    raise ValueError("balances are whole numbers of cents, 0 or more")
                self.state.balances[str(terminal)] = cents
            return {
                "indexing_delay_s": self.indexing_delay_s,
                "additional_data_404s": {o.id: o.additional_data_404s for o in self.operators.values()},
                "balances": dict(self.state.balances),
            }

    # -- auth ---------------------------------------------------------------------------
    def authenticate(self, username: str | None, salt: str | None, signature: str | None) -> SimUser | None:
        """The user of valid ``U``/``ST``/``SH`` headers, or None."""
        user = self.users.get(username or "")
        if user is None or not salt or not signature or not salt.isdigit():
            return None
        if abs(self._clock() - int(salt)) > SALT_TTL_S:
            return None
        if not secrets.compare_digest(sign(user.password, salt).encode(), signature.encode()):
            return None
        return user

    # -- arrival (late application) -------------------------------------------------------
    @staticmethod
    def _arrival_key(path: str, body: bytes) -> str | None:
        """The ledger key a purchase or revert request would get, if it has one."""
        parts = path.strip("/").split("/")
        if parts[:3] == ["pre-paid", "vouchers", "purchase"] and len(parts) == 6:
            terminal, reference = parts[3], parts[5]
        elif parts[:2] == ["util", "revert"] and len(parts) == 5:
            terminal, reference = parts[2], parts[4]
        else:
            return None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return None
        day = _day_of(data.get("localDateTime")) if isinstance(data, dict) else None
        return _key(terminal, reference, day) if day is not None else None

    def on_arrival(self, path: str, headers: dict[str, str], body: bytes) -> None:
        """A purchase or revert that arrived is "not indexed yet" (900) until it is applied."""
        key = self._arrival_key(path, body)
        if key is not None:
            with self._lock:
                self.state.arrived[key] = self._clock()

    def settle_arrival(self, path: str, body: bytes) -> None:
        """The request has been handled (applied, refused or not authenticated): no longer pending."""
        key = self._arrival_key(path, body)
        if key is not None:
            with self._lock:
                self.state.arrived.pop(key, None)

    # -- reading ---------------------------------------------------------------------------
    def _operator(self, operator_id: str) -> SimOperator | None:
        return self.operators.get(operator_id)

    def products(self, operator_id: str) -> Reply:
        operator = self._operator(operator_id)
        if operator is None:
            return 404, _refused(f"Unknown operator {operator_id}")
        if not operator.products:
            return 404, _refused("The operator has no dynamic products")
        return 200, {"rc": RC_OK, "items": copy.deepcopy(operator.products)}

    def finished_products(self, operator_id: str) -> Reply:
        operator = self._operator(operator_id)
        if operator is None:
            return 404, _refused(f"Unknown operator {operator_id}")
        if not operator.finished:
            return 404, _refused("The operator has no finished products")
        return 200, {"rc": RC_OK, "items": copy.deepcopy(operator.finished)}

    def parameters(self, operator_id: str) -> Reply:
        operator = self._operator(operator_id)
        if operator is None:
            return 404, _refused(f"Unknown operator {operator_id}")
        return 200, {
            "rc": RC_OK, "message": "OK", "dynamic": bool(operator.products),
            "parameters": [{"field": f, "labels": dict(FIELDS[f])} for f in operator.parameters],
        }

    def _redemption(self, sale: Transaction, operator: SimOperator) -> JsonObject:
        expiration = datetime.strptime(sale.date, "%Y%m%d").date() + timedelta(days=operator.validity_days)
        code = sale.voucher_code or ""
        return {
            "redeemAccount": sale.account or sale.fields.get("receiverEmail", ""),
            "redeemInstructions": operator.redeem_instructions,
            "redeemCode": code,
            "expiration": expiration.isoformat(),
            "additionalData": [
                {"key": "barcode", "value": code},
                {"key": "pdf", "value": f"https://csq.sim.invalid/vouchers/{sale.suppliertoken}.pdf"},
            ],
        }

    def additional_data(self, terminal: str, operator_id: str, token: str) -> Reply:
        with self._lock:
            operator = self._operator(operator_id)
            if operator is None:
                return 404, _refused(f"Unknown operator {operator_id}")
            sale = next((t for t in self.state.transactions.values()
                         if t.kind == "purchase" and t.resultcode == SALE_DONE and t.suppliertoken == token
                         and t.terminal == terminal and t.operator == operator_id), None)
            if sale is None:
                return 404, _refused("Voucher not found")
            if sale.additional_data_pending > 0:
                sale.additional_data_pending -= 1
                return 404, _refused("The provider is still processing the voucher")
            return 200, {"rc": RC_OK, "items": [_item(
                SALE_DONE, reference=sale.supplierreference, token=sale.suppliertoken,
                **self._redemption(sale, operator))]}

    def transaction_info(self, terminal: str, reference: str, day: str) -> Reply:
        with self._lock:
            key = _key(terminal, reference, day)
            found = self.state.transactions.get(key)
            if found is None:
                if key in self.state.arrived:
                    return 200, {"rc": RC_FAILED, "items": [_item(NOT_INDEXED, final=False)]}
                return 200, {"rc": RC_FAILED, "items": [_item(NOT_FOUND)]}
            if self._clock() < found.recorded_at + self.indexing_delay_s:
                return 200, {"rc": RC_FAILED, "items": [_item(NOT_INDEXED, final=False)]}
            answer = copy.deepcopy(found.answer)
            for item in answer["items"]:
                item["reverted"] = found.reverted_by is not None
            return 200, answer

    # -- writing ------------------------------------------------------------------------------
    def _next_reference(self) -> str:
        self.state.sequence += 1
        return f"CSQ{self.state.sequence:09d}"

    def _new_code(self, operator: SimOperator) -> str:
        taken = {t.voucher_code for t in self.state.transactions.values()}
        while True:
            if operator.kind == "pin":
                code = f"{secrets.randbelow(10**16):016d}"
            else:
                alphabet = string.ascii_uppercase + string.digits
                code = "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
            if code not in taken:
                return code

    @staticmethod
    def _amount(body: JsonObject) -> tuple[int | None, str | None]:
        """The amount of a purchase (cents) or why it is invalid."""
        send, dest = body.get("amountToSendX100"), body.get("destinationAmountX100")
        if send is not None and dest is not None:
            return None, "Send exactly one of amountToSendX100 and destinationAmountX100, not both"
        if send is None and dest is None:
            return None, "amountToSendX100 or destinationAmountX100 is required"
        amount = _whole(send if send is not None else dest)
        if amount is None or amount < 1:
            return None, "The amount must be a whole number of cents above 0"
        return amount, None

    @staticmethod
    def _field_errors(operator: SimOperator, body: JsonObject) -> str | None:
        for name in operator.parameters:
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                return f"{name} is required for operator {operator.id}"
            if name == "receiverEmail" and "@" not in value:
                return "receiverEmail must be an e-mail address"
            if name == "documentType" and value not in DOCUMENT_TYPES:
                return f"documentType must be one of {', '.join(DOCUMENT_TYPES)}"
        return None

    def _replay(self, key: str, kind: str, operator_id: str, amount: int, product: str | None,
                account: str | None) -> Reply | None:
        """The original answer of a replayed reference, a duplicate refusal, or None (a new one)."""
        found = self.state.transactions.get(key)
        if found is None:
            return None
        if (found.kind, found.operator, found.amount_x100, found.product_id, found.account) == (
                kind, operator_id, amount, product, account):
            return 200, copy.deepcopy(found.answer)
        return 200, _envelope(_item(DUPLICATE, "Duplicate transaction: this localReference was used "
                                               "today for another transaction"))

    def purchase(self, terminal: str, operator_id: str, reference: str, body: JsonObject) -> Reply:
        with self._lock:
            operator = self._operator(operator_id)
            if operator is None:
                return 404, _refused(f"Unknown operator {operator_id}")
            if not _REFERENCE.match(reference):
                return 200, _refused("localReference must be a number of up to 9 digits")
            amount, error = self._amount(body)
            if error or amount is None:
                return 200, _refused(error or "invalid amount")
            day = _day_of(body.get("localDateTime"))
            if day is None:
                return 200, _refused("localDateTime is required (ISO 8601)")
            product: JsonObject | None = None
            if operator.products:
                wanted = body.get("dynamicProductId")
                product = next((p for p in operator.products if p["id"] == str(wanted)), None)
                if wanted is None or product is None:
                    return 200, _refused(f"dynamicProductId must name a product of operator {operator_id}")
                if amount not in (product["amountToSendX100"], product["destinationAmountX100"]):
                    return 200, _refused(f"The amount of product {product['id']} is "
                                         f"{product['amountToSendX100']}")
            elif operator.amounts_x100 and amount not in operator.amounts_x100:
                return 200, _refused(f"Operator {operator_id} sells the amounts {operator.amounts_x100}")
            elif not operator.amounts_x100 and not operator.min_x100 <= amount <= operator.max_x100:
                return 200, _refused(f"Operator {operator_id} sells amounts from {operator.min_x100} "
                                     f"to {operator.max_x100}")
            error = self._field_errors(operator, body)
            if error:
                return 200, _refused(error)
            account = body.get("account") if isinstance(body.get("account"), str) else None
            key = _key(terminal, reference, day)
            product_id = product["id"] if product else None
            replay = self._replay(key, "purchase", operator_id, amount, product_id, account)
            if replay is not None:
                return replay
            debit = product["totalAmountX100"] if product else amount
            if operator.test_accounts:
                outcome = TEST_ACCOUNT_OUTCOMES.get((account or "")[-3:], SYSTEM_ERROR)
            else:
                outcome = SALE_DONE
            if outcome == SALE_DONE and debit > self.state.balances.get(terminal, 0):
                outcome = INSUFFICIENT
            sale = outcome == SALE_DONE
            code = self._new_code(operator) if sale else None
            has_ad = False
            if sale and operator.additional_data == "always":
                has_ad = True
            elif sale and operator.additional_data == "random":
                has_ad = self._draw() < operator.additional_data_chance
            supplier_reference = self._next_reference() if sale else ""
            fields = {k: v for k, v in body.items() if k in FIELDS and isinstance(v, str)}
            row = Transaction(
                kind="purchase", terminal=terminal, local_reference=reference, date=day, operator=operator_id,
                amount_x100=amount, debit_x100=debit if sale else 0, account=account, resultcode=outcome,
                supplierreference=supplier_reference, suppliertoken=code or "", voucher_code=code,
                has_additional_data=has_ad, additional_data_pending=operator.additional_data_404s if has_ad else 0,
                product_id=product_id, fields=fields, local_date_time=str(body["localDateTime"]),
                recorded_at=self._clock(), answer={},
            )
            extra: JsonObject = {}
            if sale:
                extra = {"voucherCode": code, "hasAdditionalData": has_ad, "amountToSendX100": amount,
                         "totalAmountX100": debit, "operatorId": operator_id, "localReference": reference}
                if operator.additional_data == "inline":
                    extra.update(self._redemption(row, operator))
                self.state.balances[terminal] -= debit
            row.answer = _envelope(_item(outcome, reference=supplier_reference, token=code or "", **extra))
            self.state.transactions[key] = row
            return 200, copy.deepcopy(row.answer)

    def revert(self, terminal: str, operator_id: str, reference: str, body: JsonObject) -> Reply:
        with self._lock:
            operator = self._operator(operator_id)
            if operator is None:
                return 404, _refused(f"Unknown operator {operator_id}")
            if not _REFERENCE.match(reference):
                return 200, _refused("localReference must be a number of up to 9 digits")
            amount = _whole(body.get("amountToSendX100"))
            if amount is None or amount < 1:
                return 200, _refused("amountToSendX100 is required (a whole number of cents above 0)")
            day = _day_of(body.get("localDateTime"))
            if day is None:
                return 200, _refused("localDateTime is required (ISO 8601)")
            original_ref = body.get("originalLocalReference")
            if isinstance(original_ref, int) and not isinstance(original_ref, bool):
                original_ref = str(original_ref)
            if not isinstance(original_ref, str) or not _REFERENCE.match(original_ref):
                return 200, _refused("originalLocalReference must be a number of up to 9 digits")
            original_day = _original_day(body.get("originalLocalDate"))
            if original_day is None:
                return 200, _refused("originalLocalDate is required (yyyyMMdd)")
            account = body.get("account") if isinstance(body.get("account"), str) else None
            key = _key(terminal, reference, day)
            replay = self._replay(key, "revert", operator_id, amount, None, account)
            if replay is not None:
                return replay
            original_key = _key(terminal, original_ref, original_day)
            sale = self.state.transactions.get(original_key)
            credit = 0
            if sale is None or sale.kind != "purchase" or sale.operator != operator_id:
                outcome, message = NOT_FOUND, "Original transaction not found"
            elif sale.reverted_by is not None:
                outcome, message = DUPLICATE, "The original transaction has already been reverted"
            elif sale.resultcode != SALE_DONE:
                outcome, message = REJECTED, "The original transaction was not a sale"
            elif sale.date != day:
                outcome, message = REJECTED, "Only a sale of the same day can be reverted"
            elif sale.amount_x100 != amount:
                outcome, message = REJECTED, "The amount differs from the original sale's"
            elif sale.account is not None and sale.account != account:
                outcome, message = REJECTED, "The account differs from the original sale's"
            else:
                outcome, message, credit = REFUND_DONE, None, sale.debit_x100
            supplier_reference = self._next_reference() if credit else ""
            row = Transaction(
                kind="revert", terminal=terminal, local_reference=reference, date=day, operator=operator_id,
                amount_x100=amount, debit_x100=credit, account=account, resultcode=outcome,
                supplierreference=supplier_reference, suppliertoken="", voucher_code=None,
                has_additional_data=False, additional_data_pending=0, product_id=None, fields={},
                local_date_time=str(body["localDateTime"]), recorded_at=self._clock(), answer={},
                original=original_key,
            )
            extra: JsonObject = {}
            if sale is not None and credit:
                sale.reverted_by = key
                self.state.balances[terminal] += credit
                extra = {"originalSupplierReference": sale.supplierreference, "amountToSendX100": amount}
            row.answer = _envelope(_item(outcome, message, reference=supplier_reference, **extra))
            self.state.transactions[key] = row
            return 200, copy.deepcopy(row.answer)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
Handler = Callable[[Request], Awaitable[Reply]]


def _accepts_json(accept: str | None) -> bool:
    """Whether ``Accept`` names ``application/json`` (the literal ``json`` does not)."""
    if not accept:
        return False
    return any(part.split(";")[0].strip().lower() == "application/json" for part in accept.split(","))


def _api_routes(sim: CsqSimulator) -> list[BaseRoute]:
    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Accept, then the salted hash, then the terminal, then the rule."""

        async def endpoint(request: Request) -> Response:
            if request.method != "POST":
                return await checked(request)
            try:
                return await checked(request)
            finally:
                sim.settle_arrival(request.url.path, await request.body())

        async def checked(request: Request) -> Response:
            if not _accepts_json(request.headers.get("accept")):
                return JSONResponse(_refused("Accept: application/json is required"), status_code=406)
            user = sim.authenticate(request.headers.get("u"), request.headers.get("st"), request.headers.get("sh"))
            if user is None:
                return JSONResponse(_refused("Authentication failed"), status_code=401)
            terminal = request.path_params.get("terminal")
            if terminal is not None and terminal not in user.terminals:
                return JSONResponse(_refused(f"Terminal {terminal} is not allowed for this user"), status_code=403)
            status, payload = await handler(request)
            return JSONResponse(payload, status_code=status)

        return endpoint

    def read(rule: Callable[..., Reply], *names: str) -> Handler:
        async def handler(request: Request) -> Reply:
            return rule(*(request.path_params[n] for n in names))

        return handler

    def write(rule: Callable[[str, str, str, JsonObject], Reply]) -> Handler:
        async def handler(request: Request) -> Reply:
            body = await json_body(request)
            if body is None:
                return 200, _refused("The body must be a JSON object")
            p = request.path_params
            return rule(p["terminal"], p["operator"], p["reference"], body)

        return handler

    async def ping(request: Request) -> Reply:
        return 200, {"rc": RC_OK, "echo": request.path_params["echo"]}

    v, to = "/pre-paid/vouchers", "{terminal}/{operator}"
    return [
        Route(f"{v}/products/{to}", guarded(read(lambda t, o: sim.products(o), "terminal", "operator")),
              methods=["GET"]),
        Route(f"/pre-paid/recharge/parameters/{to}",
              guarded(read(lambda t, o: sim.parameters(o), "terminal", "operator")), methods=["GET"]),
        Route(f"{v}/purchase/{to}/{{reference}}", guarded(write(sim.purchase)), methods=["POST"]),
        Route(f"{v}/additional-data/{to}/{{token}}",
              guarded(read(sim.additional_data, "terminal", "operator", "token")), methods=["GET"]),
        Route(f"{v}/finished-products/{to}",
              guarded(read(lambda t, o: sim.finished_products(o), "terminal", "operator")), methods=["GET"]),
        Route(f"/util/revert/{to}/{{reference}}", guarded(write(sim.revert)), methods=["POST"]),
        Route("/util/transaction/info/{terminal}/{reference}/{day}",
              guarded(read(sim.transaction_info, "terminal", "reference", "day")), methods=["GET"]),
        Route("/ping/{echo}", guarded(ping), methods=["GET"]),
    ]


def _admin_routes(sim: CsqSimulator) -> list[BaseRoute]:
    """CSQ's own control route (the generic ones are simkit's):

    * ``POST /_sim/settings`` ``{"indexing_delay_s": 0, "additional_data_404s": {"9994": 3},
      "balances": {"173101": 500}}`` -> the settings now (see :meth:`CsqSimulator.configure`)
    """

    async def settings(request: Request) -> Response:
        body = await json_body(request)
        if body is None:
            return JSONResponse({"error": "JSON object expected"}, status_code=400)
        try:
            return JSONResponse(sim.configure(body))
        except KeyError as exc:
            return JSONResponse({"error": f"unknown operator or terminal {exc}"}, status_code=400)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return [Route(f"{ADMIN_PREFIX}settings", settings, methods=["POST"])]


def build_app(
    data_path: str | Path | None = None,
    clock: Clock | None = None,
    *,
    data: SimData | None = None,
    draw: Draw | None = None,
    indexing_delay_s: float | None = None,
) -> tuple[ASGIApp, CsqSimulator]:
    """The ASGI app and its simulator, seeded from ``data`` or ``data_path``
    (default: the packaged ``demo_products.toml``). ``draw`` replaces the
    seeded random draws (9994), ``indexing_delay_s`` the data's delay."""
    sim = CsqSimulator(data if data is not None else load_data(data_path), clock, draw, indexing_delay_s)
    return simulator_app(sim, _api_routes(sim), _admin_routes(sim)), sim


async def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, data_path: str | Path | None = None) -> None:
    """Serve a fresh CSQ simulator over HTTP until cancelled or interrupted."""
    app, _sim = build_app(data_path)
    await simkit.serve(app, host, port, name="CSQ eVSB simulator")


def run(host: str = "127.0.0.1", port: int = DEFAULT_PORT, data_path: str | Path | None = None) -> None:
    """Blocking entry point for ``pos simulate csq --port N [--data FILE]``."""
    asyncio.run(serve(host, port, data_path))


def demo_secrets(sim: CsqSimulator) -> dict[str, str]:
    """The secrets a till uses against this simulator in demo mode: the first user's credentials
    (its terminal id, a setting, is that user's first terminal)."""
    user = next(iter(sim.users.values()))
    return {"username": user.username, "password": user.password}
