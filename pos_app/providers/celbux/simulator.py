"""A Celbux voucher platform simulator, faithful to ``providers/celbux.md``.

A Starlette ASGI app, served in-process (:func:`in_process_transport`, the
demo) or over HTTP by uvicorn (:func:`serve`, :func:`run`, :class:`ServerThread`).
Faults, the request log (no query string, no header, no body: the token
never lands in it), ``/_sim/state``, ``/_sim/reset``, ``/_sim/faults`` and
:meth:`~pos_app.providers.simkit.SimulatorBase.persist` are simkit's; this
module keeps Celbux's data and rules. The API sits at the host root
(:data:`API_ROOT` is empty): ``POST /<call>?ns=<community>``.

What it does, as the reference page and seed 002 say ([C]):

* every call is ``POST /<call>?ns=<community>`` with a JSON body whose fields are all strings;
* amounts are ZAR cents as strings (``"2000"`` = R20.00);
* ``Authorization: bearer <token>``; a token is scoped to calls and communities;
* out of scope is ``Status "-5"`` "Transaction Failed - Not Authorised";
* every answer has ``State`` (``Success``/``Failed``), ``Status`` (``"1"`` or negative) and ``Error``;
* a ``Reference`` is unique on the platform: a second use is an error;
* ``createVoucher`` issues a voucher to ``Username`` (an MSISDN), or to the funder's own account without one;
* an unknown user is created and gets an SMS with voucher number, balance, username and password;
* a user of another community is added to ``ns``; a known user gets an SMS with voucher number and balance;
* ``createVoucher`` answers ``TID``, ``Reference``, ``Created`` (``YYYY/MM/DD HH:MM``), ``Amount``, ``VoucherNo``;
* ``viewVoucher`` answers ``TID``, ``Owner``, ``VoucherNo``, ``VoucherType``, ``Title``,
  ``Amount`` (the balance; active if above 0), ``Locked``;
* ``pay`` debits a voucher; ``reverse`` cancels a completed transaction;
* ``payment`` looks a transaction up by ``TID`` or ``OldReference``.

Our choices where the page is silent (**[I]**), each one a line:

* errors are HTTP 200 ``State "Failed"``; codes ``-1`` invalid request, ``-2`` duplicate Reference;
* ``-3`` voucher not found, ``-4`` insufficient balance, ``-6`` invalid MSISDN, ``-7`` voucher locked;
* ``-8`` transaction not found (``payment``/``reverse``), ``-9`` already reversed, ``-10`` still in progress;
* no or an unknown token is HTTP 401 with a ``Failed``/``-5`` body; scope is checked before the body;
* a missing ``ns`` is ``-1``; a body that is not a JSON object, a non-string field, a missing field is ``-1``;
* ``Metadata`` must be JSON text when present (else ``-1``); an amount is digits only and above 0;
* ``Currency`` must be ``ZAR``; a ``StoreID`` not of the community is ``-1``; an unknown VoucherType is ``-1``;
* only completed transactions hold their Reference: a refused one leaves it free for a retry;
* a replayed Reference is ``-2`` and applies nothing; the till finds the original with ``payment``;
* the funder's account (the store's balance) pays for ``createVoucher`` (``-4`` when short) and receives ``pay``;
* every ``createVoucher`` creates a new voucher with its own number (``168-NNNNN-NNNNN``, seeded draws);
* a ``Username`` that is a known user needs no MSISDN form; an unknown one must be ``27`` + 9 digits (``-6``);
* only a phone number gets an SMS (not the funder's own account); new users get a 6-digit password;
* ``pay`` checks, in order: voucher known in ``ns`` (``-3``), not locked (``-7``), balance (``-4``);
* ``reverse`` names its original by ``TID`` (wins when both are given) or ``OldReference``;
* reversing a ``pay`` credits the voucher back, also when it is locked now;
* reversing a ``createVoucher`` takes the whole amount back only if the voucher still holds it;
* a partly spent voucher's ``createVoucher`` is not reversible: ``-4``, nothing changes;
* a reverse of a reverse is ``-1``; a second reverse of the same transaction is ``-9``;
* the original must be of the same community and StoreID (else ``-8``);
* ``payment`` answers ``Type`` (the call name), ``Date`` ``YYYY/MM/DD``, ``Time`` ``HH:MM:SS``, ``VoucherNo`` too;
* ``ReverseID`` is the TID of the reverse that cancelled it, else ``""``; a reverse adds ``OldTID``;
* a request that arrived and is not applied yet (a late application) is ``-10`` for ``payment``;
* times are South African (UTC+2, no DST) on the injected ``clock``; TIDs are an 11-digit sequence;
* ``viewVoucher`` ``Locked`` is ``"true"``/``"false"``; its ``TID`` is a fresh one (a view is not kept);
* every call is a POST, so faults (drops, late application) apply to views and lookups too.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pos_app.providers import simkit
from pos_app.providers.simkit import (
    ASGIApp,
    JsonObject,
    RequestRecord,
    ServerThread,
    SimulatorBase,
    in_process_transport,
    simulator_app,
)

__all__ = [
    "API_ROOT",
    "CALLS",
    "DEFAULT_DATA",
    "DEFAULT_PORT",
    "CelbuxSimulator",
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
]

API_ROOT = ""  # the API sits at the host root: a till's base_url for this simulator is the host
DEFAULT_PORT = 8768
DEFAULT_DATA = "demo_vouchers.toml"
CURRENCY = "ZAR"
CALLS = ("createVoucher", "viewVoucher", "pay", "reverse", "payment")
WRITES = frozenset({"createVoucher", "pay", "reverse"})
SAST = timezone(timedelta(hours=2), "SAST")

SUCCESS = "1"
INVALID, DUPLICATE, VOUCHER_NOT_FOUND, INSUFFICIENT = "-1", "-2", "-3", "-4"
NOT_AUTHORISED, INVALID_MSISDN, LOCKED = "-5", "-6", "-7"
TRANSACTION_NOT_FOUND, ALREADY_REVERSED, IN_PROGRESS = "-8", "-9", "-10"

ERRORS = {
    INVALID: "Transaction Failed - Invalid Request",
    DUPLICATE: "Transaction Failed - Duplicate Reference",
    VOUCHER_NOT_FOUND: "Transaction Failed - Voucher Not Found",
    INSUFFICIENT: "Transaction Failed - Insufficient Balance",
    NOT_AUTHORISED: "Transaction Failed - Not Authorised",
    INVALID_MSISDN: "Transaction Failed - Invalid MSISDN",
    LOCKED: "Transaction Failed - Voucher Locked",
    TRANSACTION_NOT_FOUND: "Transaction Failed - Transaction Not Found",
    ALREADY_REVERSED: "Transaction Failed - Transaction Already Reversed",
    IN_PROGRESS: "Transaction In Progress - Ask Again Later",
}

Clock = Callable[[], float]

MSISDN = re.compile(r"^27\d{9}$")
VOUCHER_NO = re.compile(r"^168-\d{5}-\d{5}$")
_DIGITS = re.compile(r"^\d+$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
class SimulatorDataError(ValueError):
    """The data file is not valid simulator data."""


@dataclass
class SimToken:
    token: str
    name: str
    scopes: list[str]
    communities: list[str]


@dataclass
class SimStore:
    id: str
    community: str
    account: str  # the funder's own account (a username)


@dataclass
class SimData:
    """Seed data, as loaded from TOML."""

    communities: dict[str, dict[str, str]]  # ns -> voucher type -> title
    stores: dict[str, SimStore]
    balances: dict[str, int]  # store id -> cents on the funder's account
    tokens: list[SimToken]
    users: dict[str, list[str]]  # username -> communities
    vouchers: list[JsonObject]  # validated rows of SimVoucher
    seed: int = 0
    first_tid: int = 10_000_000_001


@dataclass
class SimVoucher:
    number: str
    community: str
    owner: str
    type: str
    balance: int  # cents
    locked: bool = False


@dataclass
class SimUser:
    username: str
    communities: list[str]
    password: str | None = None  # set when the simulator created the user


@dataclass
class Transaction:
    """A completed createVoucher, pay or reverse: what ``payment`` finds."""

    tid: str
    reference: str
    type: str  # createVoucher | pay | reverse
    community: str
    store_id: str
    voucher_no: str
    amount: int
    created: float  # epoch seconds
    metadata: str = ""
    username: str | None = None  # createVoucher: the recipient
    original: str | None = None  # reverse: the TID it cancelled
    reversed_by: str | None = None  # createVoucher/pay: the TID of its reverse


@dataclass
class Sms:
    """A text message the platform sent (the tests read them: ``sim.sms_to(msisdn)``)."""

    to: str
    text: str
    voucher_no: str
    kind: str  # new_user | existing_user
    at: float


@dataclass
class SimState:
    """The ledger tests assert on."""

    vouchers: dict[str, SimVoucher]
    users: dict[str, SimUser]
    balances: dict[str, int]
    transactions: dict[str, Transaction] = field(default_factory=dict)  # key: TID
    sms: list[Sms] = field(default_factory=list)
    next_tid: int = 10_000_000_001
    arrived: dict[str, float] = field(default_factory=dict)  # References of POSTs arrived, not applied yet
    requests: list[RequestRecord] = field(default_factory=list)


def _get(table: Any, name: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise SimulatorDataError(f"{where}: a table is expected")
    value = table.get(name, default)
    if isinstance(value, bool) and kind is not bool:
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    if not isinstance(value, kind):
        raise SimulatorDataError(f"{where}: {name} has the wrong type")
    return value


def _name(table: Any, name: str, where: str) -> str:
    value = _get(table, name, str, "", where)
    if not _NAME.match(value):
        raise SimulatorDataError(f"{where}: {name} is required (letters, digits, '.', '_', '-')")
    return value


def _cents(table: Any, name: str, default: int | None, where: str) -> int:
    value = _get(table, name, int, default, where) if default is not None or name in table else None
    if not isinstance(value, int) or value < 0:
        raise SimulatorDataError(f"{where}: {name} must be a whole number of cents (0 or more)")
    return value


def _strings(table: Any, name: str, where: str) -> list[str]:
    values = _get(table, name, list, [], where)
    if not all(isinstance(v, str) for v in values):
        raise SimulatorDataError(f"{where}: {name} must be a list of strings")
    return list(values)


def parse_data(raw: dict[str, Any]) -> SimData:
    """Validate a parsed TOML document into :class:`SimData`."""
    platform = _get(raw, "platform", dict, {}, "platform")
    currency = _get(platform, "currency", str, CURRENCY, "platform")
    if currency != CURRENCY:
        raise SimulatorDataError(f"platform: currency must be {CURRENCY}")
    seed = _get(platform, "seed", int, 0, "platform")
    first_tid = _get(platform, "first_tid", int, 10_000_000_001, "platform")
    if not 10_000_000_000 <= first_tid < 99_000_000_000:
        raise SimulatorDataError("platform: first_tid must have 11 digits")
    communities: dict[str, dict[str, str]] = {}
    for i, table in enumerate(_get(raw, "communities", list, [], "communities")):
        where = f"communities[{i}]"
        ns = _name(table, "ns", where)
        if ns in communities:
            raise SimulatorDataError(f"{where}: community {ns} is listed twice")
        types: dict[str, str] = {}
        for j, row in enumerate(_get(table, "voucher_types", list, [], where)):
            kind = _name(row, "type", f"{where}.voucher_types[{j}]")
            types[kind] = _get(row, "title", str, kind, f"{where}.voucher_types[{j}]")
        if not types:
            raise SimulatorDataError(f"{where}: at least one voucher type is required")
        communities[ns] = types
    if not communities:
        raise SimulatorDataError("communities: at least one [[communities]] is required")

    def community(table: Any, where: str) -> str:
        ns = _get(table, "community", str, "", where)
        if ns not in communities:
            raise SimulatorDataError(f"{where}: community {ns!r} is not among [[communities]]")
        return ns

    users: dict[str, list[str]] = {}
    for i, table in enumerate(_get(raw, "users", list, [], "users")):
        where = f"users[{i}]"
        username = _name(table, "username", where)
        if username in users:
            raise SimulatorDataError(f"{where}: user {username} is listed twice")
        joined = _strings(table, "communities", where)
        if any(ns not in communities for ns in joined):
            raise SimulatorDataError(f"{where}: communities must be among [[communities]]")
        users[username] = joined
    stores: dict[str, SimStore] = {}
    balances: dict[str, int] = {}
    for i, table in enumerate(_get(raw, "stores", list, [], "stores")):
        where = f"stores[{i}]"
        store = SimStore(_name(table, "id", where), community(table, where), _name(table, "account", where))
        if store.id in stores:
            raise SimulatorDataError(f"{where}: store {store.id} is listed twice")
        stores[store.id] = store
        balances[store.id] = _cents(table, "balance", 0, where)
        joined = users.setdefault(store.account, [])
        if store.community not in joined:
            joined.append(store.community)
    tokens: list[SimToken] = []
    for i, table in enumerate(_get(raw, "tokens", list, [], "tokens")):
        where = f"tokens[{i}]"
        token = _get(table, "token", str, "", where)
        if len(token) < 8 or any(t.token == token for t in tokens):
            raise SimulatorDataError(f"{where}: token is required (8 characters or more, unique)")
        scopes = _strings(table, "scopes", where)
        if any(s not in CALLS for s in scopes):
            raise SimulatorDataError(f"{where}: scopes must be among {', '.join(CALLS)}")
        scoped = _strings(table, "communities", where)
        if any(ns not in communities for ns in scoped):
            raise SimulatorDataError(f"{where}: communities must be among [[communities]]")
        tokens.append(SimToken(token, _get(table, "name", str, f"token {i + 1}", where), scopes, scoped))
    if not tokens:
        raise SimulatorDataError("tokens: at least one [[tokens]] is required")
    vouchers: list[JsonObject] = []
    for i, table in enumerate(_get(raw, "vouchers", list, [], "vouchers")):
        where = f"vouchers[{i}]"
        number = _get(table, "number", str, "", where)
        if not VOUCHER_NO.match(number):
            raise SimulatorDataError(f"{where}: number must have the form 168-NNNNN-NNNNN")
        ns = community(table, where)
        owner = _get(table, "owner", str, "", where)
        if ns not in users.get(owner, []):
            raise SimulatorDataError(f"{where}: owner {owner!r} must be a user of community {ns}")
        kind = _get(table, "type", str, "", where)
        if kind not in communities[ns]:
            raise SimulatorDataError(f"{where}: type {kind!r} is not a voucher type of community {ns}")
        vouchers.append({"number": number, "community": ns, "owner": owner, "type": kind,
                         "balance": _cents(table, "balance", None, where),
                         "locked": _get(table, "locked", bool, False, where)})
    if len({v["number"] for v in vouchers}) != len(vouchers):
        raise SimulatorDataError("vouchers: numbers must be unique")
    return SimData(communities=communities, stores=stores, balances=balances, tokens=tokens, users=users,
                   vouchers=vouchers, seed=seed, first_tid=first_tid)


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
def failed(status: str, error: str | None = None) -> JsonObject:
    """A refusal: HTTP 200, ``State "Failed"``, the negative code and its reason."""
    return {"State": "Failed", "Status": status, "Error": error or ERRORS[status]}


def _success(**fields: str) -> JsonObject:
    return {**fields, "State": "Success", "Status": SUCCESS, "Error": ""}


def _cents_of(value: str) -> int | None:
    """An amount field as cents: digits only, above 0; None otherwise."""
    if not _DIGITS.match(value) or len(value) > 12:
        return None
    cents = int(value)
    return cents if cents > 0 else None


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).astimezone(SAST)


def created_text(epoch: float) -> str:
    """``Created``: ``YYYY/MM/DD HH:MM`` in South African time."""
    return _local(epoch).strftime("%Y/%m/%d %H:%M")


def _rands(cents: int) -> str:
    return f"R{cents // 100}.{cents % 100:02d}"


# ---------------------------------------------------------------------------
# The simulator: state, rules
# ---------------------------------------------------------------------------
class CelbuxSimulator(SimulatorBase[SimState]):
    """State and rules of one simulated Celbux platform (its communities, stores and tokens).

    Rule methods run under the lock and return ``(status, body)``. ``clock``
    gives epoch seconds (default ``time.time``): ``Created``, ``Date`` and
    ``Time`` come from it. Voucher numbers and new users' passwords are drawn
    from ``random.Random(data.seed)``, re-seeded by a reset.
    """

    def __init__(self, data: SimData, clock: Clock | None = None) -> None:
        self._data = data
        self._clock: Clock = clock or time.time
        self._random = random.Random(data.seed)
        self.tokens = {t.token: t for t in data.tokens}
        super().__init__()

    # -- housekeeping -------------------------------------------------------------
    def _fresh_state(self) -> SimState:
        self._random = random.Random(self._data.seed)
        return SimState(
            vouchers={row["number"]: SimVoucher(**row) for row in copy.deepcopy(self._data.vouchers)},
            users={u: SimUser(u, list(c)) for u, c in self._data.users.items()},
            balances=dict(self._data.balances),
            next_tid=self._data.first_tid,
        )

    def _ledger_snapshot(self) -> JsonObject:
        state = self.state
        return {
            "vouchers": {n: asdict(v) for n, v in state.vouchers.items()},
            "users": {u.username: u.communities for u in state.users.values()},
            "balances": dict(state.balances),
            "transactions": [asdict(t) for t in state.transactions.values()],
            "sms": [asdict(s) for s in state.sms],
            "arrived": sorted(state.arrived),
            "tokens": {t.name: {"scopes": t.scopes, "communities": t.communities} for t in self.tokens.values()},
        }

    def _dump_ledger(self) -> JsonObject:
        state = self.state
        return {
            "version": 1,
            "vouchers": [asdict(v) for v in state.vouchers.values()],
            "users": [asdict(u) for u in state.users.values()],
            "balances": dict(state.balances),
            "transactions": [asdict(t) for t in state.transactions.values()],
            "sms": [asdict(s) for s in state.sms],
            "next_tid": state.next_tid,
        }

    def _load_ledger(self, data: JsonObject) -> None:
        """Vouchers, users, balances, transactions and SMS as a demo left them;
        communities, stores and tokens come from the seed data."""
        if data.get("version") != 1:
            raise ValueError(f"unknown simulator state version {data.get('version')!r}")
        state = self._fresh_state()
        state.vouchers = {row["number"]: SimVoucher(**row) for row in data["vouchers"]}
        state.users = {row["username"]: SimUser(**row) for row in data["users"]}
        state.balances = {str(k): int(v) for k, v in data["balances"].items()}
        state.transactions = {row["tid"]: Transaction(**row) for row in data["transactions"]}
        state.sms = [Sms(**row) for row in data["sms"]]
        state.next_tid = int(data["next_tid"])
        self.state = state

    # -- test helpers ---------------------------------------------------------------------
    def writes(self, method: str, path: str) -> bool:
        """Every call is a POST; only these change the ledger (the reads are not
        held by ``apply_delay_s`` nor dropped)."""
        return method.upper() == "POST" and path.rsplit("/", 1)[-1] in WRITES

    def voucher(self, number: str) -> SimVoucher:
        """The ledger row of a voucher (tests: ``sim.voucher(no).balance``)."""
        with self._lock:
            return self.state.vouchers[number]

    def balance(self, store_id: str) -> int:
        """Cents on the funder's account of ``store_id``."""
        with self._lock:
            return self.state.balances[store_id]

    def transactions(self, kind: str | None = None) -> list[Transaction]:
        with self._lock:
            return [t for t in self.state.transactions.values() if kind is None or t.type == kind]

    def by_reference(self, reference: str) -> Transaction | None:
        with self._lock:
            return self._find_reference(reference)

    def sms_to(self, msisdn: str) -> list[Sms]:
        """The text messages sent to ``msisdn``, oldest first."""
        with self._lock:
            return [s for s in self.state.sms if s.to == msisdn]

    def user(self, username: str) -> SimUser | None:
        with self._lock:
            return self.state.users.get(username)

    # -- auth --------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> SimToken | None:
        """The token of an ``Authorization: bearer <token>`` header (scheme in any case), or None."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.tokens.get(value.strip())

    # -- arrival (late application) ---------------------------------------------------------
    @staticmethod
    def _arrival_reference(path: str, body: bytes) -> str | None:
        if path.strip("/") not in ("createVoucher", "pay", "reverse"):
            return None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return None
        reference = data.get("Reference") if isinstance(data, dict) else None
        return reference if isinstance(reference, str) and reference else None

    def on_arrival(self, path: str, headers: dict[str, str], body: bytes) -> None:
        """A write that arrived is "in progress" (``-10`` for ``payment``) until it is handled."""
        reference = self._arrival_reference(path, body)
        if reference is not None:
            with self._lock:
                self.state.arrived[reference] = self._clock()

    def settle_arrival(self, path: str, body: bytes) -> None:
        """The request has been handled (applied, refused or not authenticated)."""
        reference = self._arrival_reference(path, body)
        if reference is not None:
            with self._lock:
                self.state.arrived.pop(reference, None)

    # -- helpers under the lock ----------------------------------------------------------------
    def _find_reference(self, reference: str) -> Transaction | None:
        return next((t for t in self.state.transactions.values() if t.reference == reference), None)

    def _next_tid(self) -> str:
        tid = str(self.state.next_tid)
        self.state.next_tid += 1
        return tid

    def _new_voucher_no(self) -> str:
        while True:
            number = f"168-{self._random.randrange(10**5):05d}-{self._random.randrange(10**5):05d}"
            if number not in self.state.vouchers:
                return number

    def _book(self, kind: str, ns: str, body: JsonObject, voucher_no: str, amount: int,
                **extra: Any) -> Transaction:
        row = Transaction(tid=self._next_tid(), reference=body["Reference"], type=kind, community=ns,
                          store_id=body["StoreID"], voucher_no=voucher_no, amount=amount,
                          created=self._clock(), metadata=body.get("Metadata", ""), **extra)
        self.state.transactions[row.tid] = row
        return row

    def _common(self, ns: str, body: JsonObject, *required: str) -> JsonObject | None:
        """Required fields, Metadata, StoreID of ``ns``, Currency and a fresh Reference: a refusal or None."""
        missing = [name for name in required if not body.get(name)]
        if missing:
            return failed(INVALID, f"Transaction Failed - Invalid Request: {', '.join(missing)} required")
        metadata = body.get("Metadata")
        if metadata:
            try:
                json.loads(metadata)
            except ValueError:
                return failed(INVALID, "Transaction Failed - Invalid Request: Metadata must be JSON")
        if "StoreID" in required:
            store = self._data.stores.get(body["StoreID"])
            if store is None or store.community != ns:
                return failed(INVALID, "Transaction Failed - Invalid Request: unknown StoreID")
        if "Currency" in required and body["Currency"] != CURRENCY:
            return failed(INVALID, f"Transaction Failed - Invalid Request: Currency must be {CURRENCY}")
        if "Amount" in required and _cents_of(body["Amount"]) is None:
            return failed(INVALID, "Transaction Failed - Invalid Request: Amount must be cents above 0")
        if "Reference" in required and self._find_reference(body["Reference"]) is not None:
            return failed(DUPLICATE)
        return None

    def _original(self, ns: str, body: JsonObject) -> Transaction | None:
        """The transaction named by ``TID`` (first) or ``OldReference``, of this community and store."""
        tid, old = body.get("TID"), body.get("OldReference")
        found = self.state.transactions.get(tid) if tid else (self._find_reference(old) if old else None)
        if found is None or found.community != ns or found.store_id != body.get("StoreID"):
            return None
        return found

    # -- the calls ------------------------------------------------------------------------
    def create_voucher(self, ns: str, body: JsonObject) -> JsonObject:
        with self._lock:
            refused = self._common(ns, body, "VoucherType", "Amount", "Currency", "StoreID", "Reference")
            if refused:
                return refused
            types = self._data.communities[ns]
            if body["VoucherType"] not in types:
                return failed(INVALID, "Transaction Failed - Invalid Request: unknown VoucherType")
            store = self._data.stores[body["StoreID"]]
            username = body.get("Username") or None
            user = self.state.users.get(username or store.account)
            if username is not None and user is None and not MSISDN.match(username):
                return failed(INVALID_MSISDN)
            amount = _cents_of(body["Amount"]) or 0
            if amount > self.state.balances[store.id]:
                return failed(INSUFFICIENT, "Transaction Failed - Insufficient Balance on the funding account")
            kind = "existing_user"
            password: str | None = None
            if user is None:
                assert username is not None
                password = f"{self._random.randrange(10**6):06d}"
                user = SimUser(username, [ns], password)
                self.state.users[username] = user
                kind = "new_user"
            elif ns not in user.communities:
                user.communities.append(ns)
            number = self._new_voucher_no()
            voucher = SimVoucher(number, ns, user.username, body["VoucherType"], amount)
            self.state.vouchers[number] = voucher
            self.state.balances[store.id] -= amount
            row = self._book("createVoucher", ns, body, number, amount, username=user.username)
            if username is not None and MSISDN.match(user.username):
                title = types[voucher.type]
                text = f"You received a {title} voucher {number}, balance {_rands(amount)}."
                if password is not None:
                    text += f" Your Celbux username: {username}, password: {password}."
                self.state.sms.append(Sms(username, text, number, kind, row.created))
            return _success(TID=row.tid, Reference=row.reference, Created=created_text(row.created),
                            Amount=str(amount), VoucherNo=number)

    def view_voucher(self, ns: str, body: JsonObject) -> JsonObject:
        with self._lock:
            refused = self._common(ns, body, "VoucherNo")
            if refused:
                return refused
            voucher = self.state.vouchers.get(body["VoucherNo"])
            if voucher is None or voucher.community != ns:
                return failed(VOUCHER_NOT_FOUND)
            return _success(TID=self._next_tid(), Owner=voucher.owner, VoucherNo=voucher.number,
                            VoucherType=voucher.type, Title=self._data.communities[ns].get(voucher.type, ""),
                            Amount=str(voucher.balance), Locked="true" if voucher.locked else "false")

    def pay(self, ns: str, body: JsonObject) -> JsonObject:
        with self._lock:
            refused = self._common(ns, body, "VoucherNo", "Amount", "Currency", "StoreID", "Reference")
            if refused:
                return refused
            voucher = self.state.vouchers.get(body["VoucherNo"])
            if voucher is None or voucher.community != ns:
                return failed(VOUCHER_NOT_FOUND)
            if voucher.locked:
                return failed(LOCKED)
            amount = _cents_of(body["Amount"]) or 0
            if amount > voucher.balance:
                return failed(INSUFFICIENT)
            voucher.balance -= amount
            self.state.balances[body["StoreID"]] += amount
            row = self._book("pay", ns, body, voucher.number, amount)
            return _success(TID=row.tid, Reference=row.reference, Created=created_text(row.created),
                            Amount=str(amount))

    def reverse(self, ns: str, body: JsonObject) -> JsonObject:
        with self._lock:
            refused = self._common(ns, body, "StoreID", "Reference")
            if refused:
                return refused
            if not body.get("TID") and not body.get("OldReference"):
                return failed(INVALID, "Transaction Failed - Invalid Request: TID or OldReference required")
            original = self._original(ns, body)
            if original is None:
                return failed(TRANSACTION_NOT_FOUND)
            if original.type == "reverse":
                return failed(INVALID, "Transaction Failed - Invalid Request: a reverse cannot be reversed")
            if original.reversed_by is not None:
                return failed(ALREADY_REVERSED)
            voucher = self.state.vouchers[original.voucher_no]
            if original.type == "pay":
                voucher.balance += original.amount
                self.state.balances[original.store_id] -= original.amount
            else:
                if voucher.balance < original.amount:
                    return failed(INSUFFICIENT, "Transaction Failed - Insufficient Balance: "
                                                "the voucher has been spent from")
                voucher.balance -= original.amount
                self.state.balances[original.store_id] += original.amount
            row = self._book("reverse", ns, body, voucher.number, original.amount, original=original.tid)
            original.reversed_by = row.tid
            return _success(TID=row.tid, Reference=row.reference, Created=created_text(row.created),
                            Amount=str(row.amount), OldTID=original.tid)

    def payment(self, ns: str, body: JsonObject) -> JsonObject:
        with self._lock:
            refused = self._common(ns, body, "StoreID")
            if refused:
                return refused
            if not body.get("TID") and not body.get("OldReference"):
                return failed(INVALID, "Transaction Failed - Invalid Request: TID or OldReference required")
            found = self._original(ns, body)
            if found is None:
                if not body.get("TID") and body["OldReference"] in self.state.arrived:
                    return failed(IN_PROGRESS)
                return failed(TRANSACTION_NOT_FOUND)
            at = _local(found.created)
            answer = _success(TID=found.tid, Reference=found.reference, Date=at.strftime("%Y/%m/%d"),
                              Time=at.strftime("%H:%M:%S"), Type=found.type, Amount=str(found.amount),
                              VoucherNo=found.voucher_no, ReverseID=found.reversed_by or "")
            if found.original is not None:
                answer["OldTID"] = found.original
            return answer


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
_UNAUTHORISED = {"State": "Failed", "Status": NOT_AUTHORISED,
                 "Error": "Unauthorised - a valid bearer token is required"}


def _api_routes(sim: CelbuxSimulator) -> list[BaseRoute]:
    rules: dict[str, Callable[[str, JsonObject], JsonObject]] = {
        "createVoucher": sim.create_voucher, "viewVoucher": sim.view_voucher, "pay": sim.pay,
        "reverse": sim.reverse, "payment": sim.payment,
    }

    def endpoint(call: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                return await checked(request)
            finally:
                sim.settle_arrival(request.url.path, await request.body())

        async def checked(request: Request) -> Response:
            token = sim.authenticate(request.headers.get("authorization"))
            if token is None:
                return JSONResponse(_UNAUTHORISED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            ns = request.query_params.get("ns")
            if not ns:
                return JSONResponse(failed(INVALID, "Transaction Failed - Invalid Request: ns required"))
            if call not in token.scopes or ns not in token.communities:
                return JSONResponse(failed(NOT_AUTHORISED))
            try:
                body = json.loads(await request.body() or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return JSONResponse(failed(INVALID, "Transaction Failed - Invalid Request: a JSON object expected"))
            wrong = sorted(k for k, v in body.items() if not isinstance(v, str))
            if wrong:
                return JSONResponse(failed(INVALID, f"Transaction Failed - Invalid Request: "
                                                    f"{', '.join(wrong)} must be a string"))
            return JSONResponse(rules[call](ns, body))

        return handle

    return [Route(f"{API_ROOT}/{call}", endpoint(call), methods=["POST"]) for call in CALLS]


def build_app(
    data_path: str | Path | None = None,
    clock: Clock | None = None,
    *,
    data: SimData | None = None,
) -> tuple[ASGIApp, CelbuxSimulator]:
    """The ASGI app and its simulator, seeded from ``data`` or ``data_path``
    (default: the packaged ``demo_vouchers.toml``)."""
    sim = CelbuxSimulator(data if data is not None else load_data(data_path), clock)
    return simulator_app(sim, _api_routes(sim)), sim


async def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, data_path: str | Path | None = None) -> None:
    """Serve a fresh Celbux simulator over HTTP until cancelled or interrupted."""
    app, _sim = build_app(data_path)
    await simkit.serve(app, host, port, name="Celbux simulator")


def run(host: str = "127.0.0.1", port: int = DEFAULT_PORT, data_path: str | Path | None = None) -> None:
    """Blocking entry point for ``pos simulate celbux --port N [--data FILE]``."""
    asyncio.run(serve(host, port, data_path))


def demo_secrets(sim: CelbuxSimulator) -> dict[str, str]:
    """The secrets a till uses against this simulator in demo mode: the first token (all its scopes)."""
    return {"token": next(iter(sim.tokens))}
