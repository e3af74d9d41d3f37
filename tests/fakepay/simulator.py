"""The FakePay simulator: a small JTL-like voucher API, for tests only.

FakePay is deliberately unlike E-GUMA, so the core's provider-neutral paths
are exercised by a second provider:

* credentials are two headers, ``X-Client-Id`` and ``X-Client-Secret``; a
  wrong pair is HTTP 401 with a JSON error that **echoes the secret it
  received** (so the client's redaction is tested);
* amounts are decimal strings (``"10.53"``); a JSON number is refused;
* a payment is a **hold** (authorize: the voucher's available balance drops),
  **captured** into a charge carrying the order number when the order closes,
  **released** before capture (void) or **refunded** after it;
* a voucher may carry one open hold only (a second is 409);
* value lines are **cards**: issued once (a fixed amount or a free one) and
  cancelled while unused (balance as issued, no hold); cancelled is final;
* every money POST takes our ``reference`` (1-64 characters) and FakePay keeps
  it: ``GET /v1/operations?reference=R`` says whether an operation with that
  reference **arrived** and how it ended: ``pending`` (arrived, not applied
  yet: the provider is still working on it), ``done`` (with its ids, amount
  and the available balance after it) or ``failed`` (refused, with the
  message). A reference nobody sent is ``found: false``. Nothing is
  deduplicated: the same reference sent twice is two operations.

Error statuses: 401 bad credentials, 404 unknown voucher/hold/charge/card,
409 state conflicts (a hold already open, a hold no longer held, a card
already issued), 422 invalid input or a refusal (not enough money, not
redeemable). Errors are JSON ``{"error": "<code>", "message": "<text>"}``.

"Arrived" is recorded when a POST passes the fault middleware's injected
failures and before its ``apply_delay_s`` hold: a ``fail_next`` 500 models a
proxy that answered for a request FakePay never saw (not found), a held POST
one that FakePay is still working on (pending): simkit's ``on_arrival`` hook.

Test support as E-GUMA's: ``sim.state`` (the ledger), ``sim.snapshot()``,
``sim.reset()``, faults from :mod:`pos_app.providers.simkit`, ``build_app``,
``in_process_transport``, ``ServerThread``, ``demo_secrets``, ``run``.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import itertools
import json
import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pos_app.providers import simkit
from pos_app.providers.simkit import (
    ASGIApp,
    JsonObject,
    Reply,
    RequestRecord,
    ServerThread,
    SimulatorBase,
    in_process_transport,
    json_body,
    reply_response,
    simulator_app,
)

__all__ = [
    "DEFAULT_DATA",
    "FakePaySimulator",
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

DEFAULT_DATA = Path(__file__).with_name("demo_vouchers.toml")
CODE = re.compile(r"^FP-\d{8}$")
AMOUNT = re.compile(r"^\d{1,12}\.\d{2}$")
MAX_REFERENCE = 64
MAX_ORDER_NUMBER = 32

# Which POST is which operation (the lookup's ``kind``), by path.
_KINDS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"^/v1/vouchers/(?P<id>[^/]+)/holds$"), "hold", "code"),
    (re.compile(r"^/v1/holds/(?P<id>[^/]+)/capture$"), "capture", "hold"),
    (re.compile(r"^/v1/holds/(?P<id>[^/]+)/release$"), "release", "hold"),
    (re.compile(r"^/v1/charges/(?P<id>[^/]+)/refund$"), "refund", "charge"),
    (re.compile(r"^/v1/cards/(?P<id>[^/]+)/issue$"), "issue", "code"),
    (re.compile(r"^/v1/cards/(?P<id>[^/]+)/cancel$"), "cancel", "code"),
]


class SimulatorDataError(ValueError):
    """The data file is not valid simulator data."""


class Status(enum.StrEnum):
    ACTIVE = "active"  # a voucher that pays (an issued card is one too)
    STOCK = "stock"  # a card not issued yet
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # a card taken back: final


def to_minor(text: Any) -> int | None:
    """``"10.53"`` -> 1053; None for anything that is not such a string (a float, ``"10.5"``)."""
    if not isinstance(text, str) or not AMOUNT.match(text):
        return None
    try:
        return int(Decimal(text).scaleb(2))
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        return None


def to_text(minor: int) -> str:
    """1053 -> ``"10.53"``."""
    return f"{Decimal(minor).scaleb(-2):.2f}"


# ---------------------------------------------------------------------------
# Data and ledger
# ---------------------------------------------------------------------------
@dataclass
class Voucher:
    code: str
    balance: int  # minor units: what is on it (holds not deducted)
    status: Status = Status.ACTIVE
    card: bool = False
    face: int | None = None  # a card's fixed amount; None: a free amount
    issued: int = 0  # what a card was issued with


@dataclass
class Hold:
    hold_id: str
    code: str
    amount: int
    reference: str
    client_id: str
    state: str = "held"  # held | captured | released
    charge_id: str | None = None


@dataclass
class Charge:
    charge_id: str
    hold_id: str
    code: str
    amount: int
    order_number: str
    reference: str
    refunded: int = 0


@dataclass
class Refund:
    refund_id: str
    charge_id: str
    code: str
    amount: int
    reference: str


@dataclass
class CardEvent:
    event_id: str
    kind: str  # issue | cancel
    code: str
    amount: int
    reference: str
    reason: str | None = None


@dataclass
class OpEntry:
    """One money POST as FakePay keeps it under our reference (the lookup's rows)."""

    op_id: str
    reference: str
    client_id: str
    kind: str  # hold | capture | release | refund | issue | cancel
    code: str | None
    amount: int | None
    state: str = "pending"  # pending | done | failed
    ids: dict[str, str] = field(default_factory=dict)
    available: int | None = None  # the voucher's available balance after it (done)
    order_number: str | None = None
    message: str = ""

    def public(self) -> JsonObject:
        """As the lookup answers it: amounts as decimal strings."""
        return {
            "id": self.op_id,
            "reference": self.reference,
            "kind": self.kind,
            "state": self.state,
            "code": self.code,
            "amount": None if self.amount is None else to_text(self.amount),
            "ids": dict(self.ids),
            "available": None if self.available is None else to_text(self.available),
            "order_number": self.order_number,
            "message": self.message,
        }


@dataclass
class SimData:
    currency: str
    clients: dict[str, tuple[str, str]]  # client_id -> (secret, name)
    vouchers: list[Voucher]


@dataclass
class SimState:
    """The ledger tests assert on."""

    currency: str
    clients: dict[str, tuple[str, str]]
    vouchers: dict[str, Voucher]
    holds: dict[str, Hold] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)
    cards: list[CardEvent] = field(default_factory=list)
    operations: list[OpEntry] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)


def _text(table: dict[str, Any], name: str, default: str, where: str) -> str:
    value = table.get(name, default)
    if not isinstance(value, str):
        raise SimulatorDataError(f"{where}: {name} must be text")
    return value


def _amount(table: dict[str, Any], name: str, where: str, default: str | None = None) -> int | None:
    raw = table.get(name, default)
    if raw is None:
        return None
    minor = to_minor(raw)
    if minor is None:
        raise SimulatorDataError(f'{where}: {name} must be a decimal string like "10.50", got {raw!r}')
    return minor


def _code(table: dict[str, Any], where: str) -> str:
    code = _text(table, "code", "", where).strip().upper()
    if not CODE.match(code):
        raise SimulatorDataError(f"{where}: code must look like FP-12345678, got {code!r}")
    return code


def parse_data(raw: dict[str, Any]) -> SimData:
    currency = _text(raw.get("account", {}), "currency", "CHF", "account")
    clients: dict[str, tuple[str, str]] = {}
    for i, table in enumerate(raw.get("clients", [])):
        where = f"clients[{i}]"
        client_id = _text(table, "client_id", "", where)
        secret = _text(table, "client_secret", "", where)
        if not client_id or not secret:
            raise SimulatorDataError(f"{where}: client_id and client_secret are required")
        clients[client_id] = (secret, _text(table, "name", f"Client {i + 1}", where))
    vouchers: list[Voucher] = []
    for i, table in enumerate(raw.get("vouchers", [])):
        where = f"vouchers[{i}]"
        try:
            status = Status(_text(table, "status", "active", where))
        except ValueError:
            raise SimulatorDataError(f"{where}: status must be active or expired") from None
        balance = _amount(table, "balance", where, "0.00")
        assert balance is not None
        vouchers.append(Voucher(_code(table, where), balance, status))
    for i, table in enumerate(raw.get("cards", [])):
        where = f"cards[{i}]"
        face = _amount(table, "amount", where)
        status = _text(table, "status", "stock", where)
        if status not in ("stock", "issued"):
            raise SimulatorDataError(f"{where}: status must be stock or issued")
        if status == "issued":
            if face is None:
                raise SimulatorDataError(f"{where}: an issued card needs its amount")
            vouchers.append(Voucher(_code(table, where), face, Status.ACTIVE, True, face, face))
        else:
            vouchers.append(Voucher(_code(table, where), 0, Status.STOCK, True, face, 0))
    codes = [v.code for v in vouchers]
    if len(set(codes)) != len(codes):
        raise SimulatorDataError("a code is listed twice")
    return SimData(currency, clients, vouchers)


def load_data(path: str | Path | None = None) -> SimData:
    """Seed data from TOML (default: ``demo_vouchers.toml`` next to this module)."""
    where = Path(path) if path is not None else DEFAULT_DATA
    try:
        raw = tomllib.loads(where.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SimulatorDataError(f"{where}: {exc}") from None
    return parse_data(raw)


# ---------------------------------------------------------------------------
# The simulator: rules under the lock
# ---------------------------------------------------------------------------
def _error(status: int, code: str, message: str) -> Reply:
    return status, {"error": code, "message": message}


class FakePaySimulator(SimulatorBase[SimState]):
    """State and rules of one simulated FakePay account."""

    def __init__(self, data: SimData) -> None:
        self._data = data
        self._ids = itertools.count(1)
        super().__init__()

    # -- housekeeping -----------------------------------------------------------
    def _fresh_state(self) -> SimState:
        return SimState(
            currency=self._data.currency,
            clients=dict(self._data.clients),
            vouchers={v.code: copy.deepcopy(v) for v in self._data.vouchers},
        )

    def _ledger_snapshot(self) -> JsonObject:
        s = self.state
        return {
            "currency": s.currency,
            "vouchers": {c: {**asdict(v), "status": v.status.value, "available": self._available(v)}
                         for c, v in s.vouchers.items()},
            "holds": [asdict(h) for h in s.holds.values()],
            "charges": [asdict(c) for c in s.charges.values()],
            "refunds": [asdict(r) for r in s.refunds],
            "cards": [asdict(e) for e in s.cards],
            "operations": [asdict(o) for o in s.operations],
        }

    def _next(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def voucher(self, code: str) -> Voucher:
        """The ledger row of a voucher or card (tests)."""
        return self.state.vouchers[code.strip().upper()]

    def available(self, code: str) -> int:
        with self._lock:
            return self._available(self.voucher(code))

    def _available(self, voucher: Voucher) -> int:
        held = sum(h.amount for h in self.state.holds.values() if h.code == voucher.code and h.state == "held")
        return voucher.balance - held

    def client_for(self, client_id: str | None, secret: str | None) -> str | None:
        """The client id when the pair is right, else None."""
        if not client_id or not secret:
            return None
        known = self.state.clients.get(client_id)
        return client_id if known is not None and known[0] == secret else None

    # -- the operation log ("did our reference arrive?") ---------------------------
    def on_arrival(self, path: str, headers: dict[str, str], body: bytes) -> None:
        """A money POST passed the injected failures: FakePay has it (pending)."""
        client = self.client_for(headers.get("x-client-id"), headers.get("x-client-secret"))
        if client is None:
            return
        match = next(((m, kind, what) for rx, kind, what in _KINDS if (m := rx.match(path))), None)
        if match is None:
            return
        m, kind, what = match
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return
        reference = data.get("reference") if isinstance(data, dict) else None
        if not isinstance(reference, str) or not 0 < len(reference) <= MAX_REFERENCE:
            return
        with self._lock:
            code = self._code_of(what, m.group("id"))
            amount = to_minor(data.get("amount"))
            self.state.operations.append(OpEntry(self._next("OP"), reference, client, kind, code, amount))

    def _code_of(self, what: str, ident: str) -> str | None:
        if what == "code":
            return ident.strip().upper()
        if what == "hold":
            hold = self.state.holds.get(ident)
            return hold.code if hold else None
        charge = self.state.charges.get(ident)
        return charge.code if charge else None

    def _entry(self, client: str, kind: str, reference: str, code: str | None) -> OpEntry:
        """The pending entry this request made when it arrived (or a new one: called directly)."""
        for entry in reversed(self.state.operations):
            if (entry.reference, entry.kind, entry.client_id, entry.state) == (reference, kind, client, "pending"):
                return entry
        entry = OpEntry(self._next("OP"), reference, client, kind, code, None)
        self.state.operations.append(entry)
        return entry

    def _finish(self, entry: OpEntry, reply: Reply, *, ids: dict[str, str] | None = None,
                amount: int | None = None, available: int | None = None,
                order_number: str | None = None) -> Reply:
        status, payload = reply
        if 200 <= status < 300:
            entry.state = "done"
            entry.ids = dict(ids or {})
            entry.amount = amount if amount is not None else entry.amount
            entry.available = available
            entry.order_number = order_number
        else:
            entry.state = "failed"
            entry.message = payload.get("message", "") if isinstance(payload, dict) else str(payload)
        return reply

    def lookup(self, client: str, reference: str) -> Reply:
        with self._lock:
            found = [e.public() for e in self.state.operations
                     if e.reference == reference and e.client_id == client]
        return 200, {"reference": reference, "found": bool(found), "operations": found}

    # -- vouchers ------------------------------------------------------------------
    def _voucher_body(self, voucher: Voucher) -> JsonObject:
        message = ""
        if voucher.status is Status.STOCK:
            message = "This card has not been issued yet."
        elif voucher.status is Status.CANCELLED:
            message = "This card was cancelled."
        elif voucher.status is Status.EXPIRED:
            message = "This voucher has expired."
        elif voucher.balance <= 0:
            message = "This voucher is used up."
        return {
            "code": voucher.code,
            "status": voucher.status.value,
            "balance": to_text(voucher.balance),
            "available": to_text(self._available(voucher)),
            "currency": self.state.currency,
            "message": message,
        }

    def get_voucher(self, client: str, code: str) -> Reply:
        with self._lock:
            voucher = self.state.vouchers.get(code.strip().upper())
            if voucher is None:
                return _error(404, "not_found", f"Voucher {code} is not known.")
            return 200, self._voucher_body(voucher)

    @staticmethod
    def _reference(body: JsonObject) -> str | None:
        reference = body.get("reference")
        if isinstance(reference, str) and 0 < len(reference) <= MAX_REFERENCE:
            return reference
        return None

    def hold(self, client: str, code: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        with self._lock:
            code = code.strip().upper()
            entry = self._entry(client, "hold", reference, code)
            voucher = self.state.vouchers.get(code)
            if voucher is None:
                return self._finish(entry, _error(404, "not_found", f"Voucher {code} is not known."))
            amount = to_minor(body.get("amount"))
            if amount is None or amount <= 0:
                return self._finish(entry, _error(422, "invalid_amount",
                                                  'amount must be a decimal string like "10.50".'))
            reason = self._voucher_body(voucher)["message"]
            if reason:
                return self._finish(entry, _error(422, "not_redeemable", reason))
            if any(h.code == code and h.state == "held" for h in self.state.holds.values()):
                return self._finish(entry, _error(409, "hold_exists", "This voucher already has an open hold."))
            available = self._available(voucher)
            if amount > available:
                return self._finish(entry, _error(
                    422, "insufficient_funds", f"Not enough on the voucher: {to_text(available)} available."))
            hold = Hold(self._next("H"), code, amount, reference, client)
            self.state.holds[hold.hold_id] = hold
            after = self._available(voucher)
            return self._finish(entry, (201, {
                "hold_id": hold.hold_id, "code": code, "amount": to_text(amount),
                "available": to_text(after), "state": "held", "reference": reference,
            }), ids={"hold_id": hold.hold_id}, amount=amount, available=after)

    def capture(self, client: str, hold_id: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        with self._lock:
            hold = self.state.holds.get(hold_id)
            entry = self._entry(client, "capture", reference, hold.code if hold else None)
            if hold is None or hold.client_id != client:
                return self._finish(entry, _error(404, "not_found", f"Hold {hold_id} is not known."))
            number = body.get("order_number")
            if not isinstance(number, str) or not 0 < len(number) <= MAX_ORDER_NUMBER:
                return self._finish(entry, _error(422, "invalid_order_number",
                                                  "order_number is required (1-32 characters)."))
            if hold.state != "held":
                return self._finish(entry, _error(409, "not_held", f"Hold {hold_id} is {hold.state}."))
            voucher = self.state.vouchers[hold.code]
            charge = Charge(self._next("C"), hold.hold_id, hold.code, hold.amount, number, reference)
            self.state.charges[charge.charge_id] = charge
            hold.state, hold.charge_id = "captured", charge.charge_id
            voucher.balance -= hold.amount
            after = self._available(voucher)
            return self._finish(entry, (201, {
                "charge_id": charge.charge_id, "hold_id": hold.hold_id, "code": hold.code,
                "amount": to_text(hold.amount), "order_number": number, "state": "captured",
            }), ids={"charge_id": charge.charge_id}, amount=hold.amount, available=after, order_number=number)

    def release(self, client: str, hold_id: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        with self._lock:
            hold = self.state.holds.get(hold_id)
            entry = self._entry(client, "release", reference, hold.code if hold else None)
            if hold is None or hold.client_id != client:
                return self._finish(entry, _error(404, "not_found", f"Hold {hold_id} is not known."))
            if hold.state != "held":
                return self._finish(entry, _error(409, "not_held", f"Hold {hold_id} is {hold.state}."))
            hold.state = "released"
            after = self._available(self.state.vouchers[hold.code])
            return self._finish(entry, (200, {
                "hold_id": hold.hold_id, "code": hold.code, "amount": to_text(hold.amount),
                "available": to_text(after), "state": "released",
            }), ids={"hold_id": hold.hold_id}, amount=hold.amount, available=after)

    def refund(self, client: str, charge_id: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        with self._lock:
            charge = self.state.charges.get(charge_id)
            entry = self._entry(client, "refund", reference, charge.code if charge else None)
            if charge is None:
                return self._finish(entry, _error(404, "not_found", f"Charge {charge_id} is not known."))
            amount = to_minor(body.get("amount"))
            if amount is None or amount <= 0:
                return self._finish(entry, _error(422, "invalid_amount",
                                                  'amount must be a decimal string like "10.50".'))
            if amount > charge.amount - charge.refunded:
                return self._finish(entry, _error(
                    422, "exceeds_charge",
                    f"Only {to_text(charge.amount - charge.refunded)} of this charge can be refunded."))
            voucher = self.state.vouchers[charge.code]
            charge.refunded += amount
            voucher.balance += amount
            refund = Refund(self._next("R"), charge.charge_id, charge.code, amount, reference)
            self.state.refunds.append(refund)
            after = self._available(voucher)
            return self._finish(entry, (201, {
                "refund_id": refund.refund_id, "charge_id": charge.charge_id, "code": charge.code,
                "amount": to_text(amount), "available": to_text(after), "state": "refunded",
            }), ids={"refund_id": refund.refund_id}, amount=amount, available=after)

    # -- cards (value lines) -----------------------------------------------------------
    def _card_body(self, card: Voucher) -> JsonObject:
        can_issue = card.status is Status.STOCK
        unused = (card.status is Status.ACTIVE and card.balance == card.issued
                  and self._available(card) == card.balance)
        if can_issue:
            message = ""
        elif card.status is Status.CANCELLED:
            message = "This card was cancelled."
        elif not unused:
            message = "This card has been used and cannot be cancelled."
        else:
            message = "This card is already issued."
        return {
            "code": card.code,
            "status": "issued" if card.status is Status.ACTIVE else card.status.value,
            "can_issue": can_issue,
            "can_cancel": unused,
            "free_amount": card.face is None,
            "amount": None if (card.face is None and not card.issued) else to_text(card.issued or card.face or 0),
            "message": message,
        }

    def _card(self, code: str) -> Voucher | None:
        card = self.state.vouchers.get(code.strip().upper())
        return card if card is not None and card.card else None

    def get_card(self, client: str, code: str) -> Reply:
        with self._lock:
            card = self._card(code)
            if card is None:
                return _error(404, "not_found", f"Card {code} is not known.")
            return 200, self._card_body(card)

    def issue(self, client: str, code: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        with self._lock:
            code = code.strip().upper()
            entry = self._entry(client, "issue", reference, code)
            card = self._card(code)
            if card is None:
                return self._finish(entry, _error(404, "not_found", f"Card {code} is not known."))
            if card.status is not Status.STOCK:
                return self._finish(entry, _error(409, "not_in_stock", self._card_body(card)["message"]))
            given = body.get("amount")
            if card.face is None:
                amount = to_minor(given)
                if amount is None or amount <= 0:
                    return self._finish(entry, _error(422, "invalid_amount",
                                                      "This card takes a free amount: give amount."))
            else:
                amount = card.face
                if given is not None and to_minor(given) != card.face:
                    return self._finish(entry, _error(422, "invalid_amount",
                                                      f"This card is issued for {to_text(card.face)} only."))
            card.status, card.balance, card.issued = Status.ACTIVE, amount, amount
            event = CardEvent(self._next("I"), "issue", code, amount, reference)
            self.state.cards.append(event)
            return self._finish(entry, (201, {"code": code, "amount": to_text(amount), "state": "issued",
                                              "issue_id": event.event_id}),
                                ids={"issue_id": event.event_id}, amount=amount, available=amount)

    def cancel(self, client: str, code: str, body: JsonObject) -> Reply:
        reference = self._reference(body)
        if reference is None:
            return _error(422, "invalid_reference", "reference is required (1-64 characters).")
        reason = body.get("reason")
        with self._lock:
            code = code.strip().upper()
            entry = self._entry(client, "cancel", reference, code)
            card = self._card(code)
            if card is None:
                return self._finish(entry, _error(404, "not_found", f"Card {code} is not known."))
            if not self._card_body(card)["can_cancel"]:
                return self._finish(entry, _error(409, "not_cancellable", self._card_body(card)["message"]))
            amount = card.balance
            card.status, card.balance = Status.CANCELLED, 0
            event = CardEvent(self._next("X"), "cancel", code, amount, reference,
                              reason if isinstance(reason, str) else None)
            self.state.cards.append(event)
            return self._finish(entry, (200, {"code": code, "amount": to_text(amount), "state": "cancelled",
                                              "cancel_id": event.event_id}),
                                ids={"cancel_id": event.event_id}, amount=amount, available=0)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
def _unauthorized(request: Request) -> Response:
    # Deliberately careless, like some real APIs: the error echoes what it got.
    return JSONResponse({
        "error": "unauthorized",
        "message": "Invalid client credentials.",
        "received": {"client_id": request.headers.get("x-client-id"),
                     "client_secret": request.headers.get("x-client-secret")},
    }, status_code=401)


def _api_routes(sim: FakePaySimulator) -> list[BaseRoute]:
    def authed(request: Request) -> str | None:
        return sim.client_for(request.headers.get("x-client-id"), request.headers.get("x-client-secret"))

    def get(rule: Callable[[str, str], Reply]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            client = authed(request)
            if client is None:
                return _unauthorized(request)
            return reply_response(rule(client, request.path_params["id"]))

        return endpoint

    def post(rule: Callable[[str, str, JsonObject], Reply]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            client = authed(request)
            if client is None:
                return _unauthorized(request)
            body = await json_body(request)
            if body is None:
                return reply_response(_error(400, "bad_json", "A JSON object is expected."))
            return reply_response(rule(client, request.path_params["id"], body))

        return endpoint

    async def operations(request: Request) -> Response:
        client = authed(request)
        if client is None:
            return _unauthorized(request)
        reference = request.query_params.get("reference", "")
        if not 0 < len(reference) <= MAX_REFERENCE:
            return reply_response(_error(422, "invalid_reference", "reference is required (1-64 characters)."))
        return reply_response(sim.lookup(client, reference))

    return [
        Route("/v1/vouchers/{id}", get(sim.get_voucher), methods=["GET"]),
        Route("/v1/vouchers/{id}/holds", post(sim.hold), methods=["POST"]),
        Route("/v1/holds/{id}/capture", post(sim.capture), methods=["POST"]),
        Route("/v1/holds/{id}/release", post(sim.release), methods=["POST"]),
        Route("/v1/charges/{id}/refund", post(sim.refund), methods=["POST"]),
        Route("/v1/cards/{id}", get(sim.get_card), methods=["GET"]),
        Route("/v1/cards/{id}/issue", post(sim.issue), methods=["POST"]),
        Route("/v1/cards/{id}/cancel", post(sim.cancel), methods=["POST"]),
        Route("/v1/operations", operations, methods=["GET"]),
    ]


def build_app(data_path: str | Path | None = None, *, data: SimData | None = None
              ) -> tuple[ASGIApp, FakePaySimulator]:
    """The ASGI app and its simulator, seeded from ``data`` or ``data_path``."""
    sim = FakePaySimulator(data if data is not None else load_data(data_path))
    return simulator_app(sim, _api_routes(sim)), sim


def demo_secrets(sim: FakePaySimulator) -> dict[str, str]:
    """The secrets a till uses against this simulator (``sim://fakepay``): the first client."""
    client_id, (secret, _name) = next(iter(sim.state.clients.items()))
    return {"client_id": client_id, "client_secret": secret}


async def serve(host: str = "127.0.0.1", port: int = 8766, data_path: str | Path | None = None) -> None:
    app, _sim = build_app(data_path)
    await simkit.serve(app, host, port, name="FakePay simulator")


def run(host: str = "127.0.0.1", port: int = 8766, data_path: str | Path | None = None) -> None:
    """Blocking: serve a fresh FakePay simulator over HTTP (like ``pos simulate``)."""
    asyncio.run(serve(host, port, data_path))
