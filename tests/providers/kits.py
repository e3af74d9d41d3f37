"""One kit per provider: what the contract suite needs to drive a provider's
client against its simulator, in-process and over real HTTP, and to read
its ledger. A new provider adds a kit here and is tested by the whole suite."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx

from pos_app.domain.money import Money
from pos_app.providers.base import (
    ClientSpec,
    ProviderDescriptor,
    Verdict,
    VoucherProvider,
)

Ledger = list[tuple[str, int, str | None]]  # (code, amount in minor units, our reference)
# The currency of the kit under test, for the suite's amounts (set by the ``kit`` fixture).
ACTIVE = {"currency": "CHF"}


@dataclass(frozen=True)
class Kit:
    """How to test one provider.

    * ``voucher``: a code that pays, with ``voucher_balance`` (minor units) on it;
    * ``value_code``: a value line (depot voucher, card) that can be created, for ``value_amount``;
    * ``refusal``: the provider's own message when more than the balance is asked;
    * ``wrong_secrets``: the outlet's secrets with the one that matters replaced by
      ``leaky`` (it must never show up anywhere);
    * ``secret``: the field whose value must be masked in everything the client passes on;
    * ``pending``: the verdict of a request the provider is still holding (applied late);
    * ``never_arrived``: the verdict of a request the provider never saw (a 500 from the edge);
    * ``authorizations``/``available``: the ledger (a reference the provider does not
      keep is None there: see :meth:`held`);
    * ``references``: the provider keeps our reference on a hold (JTL does not);
    * ``auth_paths``: requests that only fetch credentials (JTL's OAuth token), never a
      write of the provider's ledger: a fault meant for a write skips them;
    * ``requests_per_round``: requests :func:`test_one_connection_serves_every_call` makes;
    * ``lapse(sim, seconds)``: the simulator's clock that far ahead (a hold the till
      only drops lapses by itself, JTL); ``builder``: a simulator of the kit's own.
    """

    name: str
    descriptor_module: str
    voucher: str
    voucher_balance: int
    value_code: str
    value_amount: int
    refusal: str
    secret: str
    leaky: str
    pending: Verdict
    never_arrived: Verdict
    authorizations: Callable[[Any], Ledger]
    available: Callable[[Any, str], int]
    creations: Callable[[Any], Ledger]
    undos: Callable[[Any], list[str]]
    register: bool = False  # not in the real registry: a test registers it (tests/fakepay/fixtures.py)
    references: bool = True
    auth_paths: tuple[str, ...] = ()
    requests_per_round: int = 5
    answer_balance: bool = True  # the provider's authorize answer carries the new balance
    lapse: Callable[[Any, float], None] | None = None
    builder: Callable[[], tuple[Any, Any]] | None = None
    # False: the provider only sells value lines, it takes no voucher payments (CSQ):
    # the tests about tenders are skipped for it (``voucher``, ``refusal`` unused).
    tenders: bool = True
    settings: tuple[tuple[str, Any], ...] = ()  # settings beyond base_url/timeouts (CSQ: terminal, products)
    section_extra: str = ""  # the same, as TOML lines of the ``[providers.<name>]`` section
    currency: str = "CHF"  # the outlet's: Celbux takes ZAR only
    # the provider sells gift vouchers as value lines by code (E-GUMA, JTL, FakePay);
    # False: its value lines are issued to a customer instead (Celbux: by SMS)
    gift_values: bool = True
    # what a lookup by our reference gives back for the one authorization on the
    # ledger (a provider with ``lookup_by_reference``): the refs its answer would have had
    lookup_refs: Callable[[Any], dict[str, str]] | None = None
    # the paths of the calls that write the ledger, for a provider that POSTs its reads
    # too (Celbux's viewVoucher and payment lookup); empty: every POST writes
    write_paths: tuple[str, ...] = ()

    def __repr__(self) -> str:  # parametrize ids
        return self.name

    @property
    def descriptor(self) -> ProviderDescriptor:
        found: ProviderDescriptor = importlib.import_module(self.descriptor_module).DESCRIPTOR
        return found

    @property
    def simulator(self) -> ModuleType:
        return self.descriptor.simulator()

    @property
    def display_name(self) -> str:
        return self.descriptor.display_name

    def build(self) -> tuple[Any, Any]:
        """A fresh simulator: ``(asgi_app, sim)``."""
        if self.builder is not None:
            return self.builder()
        app, sim = self.simulator.build_app()
        return app, sim

    def transport(self, app: Any) -> httpx.AsyncBaseTransport:
        transport: httpx.AsyncBaseTransport = self.simulator.in_process_transport(app)
        return transport

    def secrets(self, sim: Any) -> dict[str, str]:
        found: dict[str, str] = self.simulator.demo_secrets(sim)
        return found

    def wrong_secrets(self, sim: Any) -> dict[str, str]:
        return {**self.secrets(sim), self.secret: self.leaky}

    def client(self, http: httpx.AsyncClient, base_url: str, secrets: dict[str, str],
               timeout_s: float = 0.5, currency: str | None = None) -> VoucherProvider:
        """The provider's client, built the way the till builds it (its descriptor)."""
        desc = self.descriptor
        base_url += getattr(self.simulator, "API_ROOT", "")  # the API below the host (JTL: /v1), as the till does
        settings = desc.settings_model(base_url=base_url, timeout_s=timeout_s, settle_s=timeout_s * 20,
                                       **dict(self.settings))
        return desc.make_client(ClientSpec(settings, secrets, http, currency or self.currency))

    def section(self, timeout_s: float, settle_s: float) -> str:
        """The ``[providers.<name>]`` section of a till on this provider's in-process simulator."""
        return (f'\n[providers.{self.name}]\nbase_url = "sim://{self.name}"\n'
                f"timeout_s = {timeout_s}\nsettle_s = {settle_s}\n{self.section_extra}")

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    def held(self, code: str, amount: int, reference: str | None) -> tuple[str, int, str | None]:
        """A row of :attr:`authorizations` as this provider's ledger shows it."""
        return (code, amount, reference if self.references else None)

    def is_write(self, request: httpx.Request) -> bool:
        """Whether a request may change the provider's ledger (not a read, not a token)."""
        if self.write_paths:
            return any(request.url.path.endswith(path) for path in self.write_paths)
        return request.method not in ("GET", "HEAD", "OPTIONS") and not any(
            request.url.path.endswith(path) for path in self.auth_paths)


# -- E-GUMA ----------------------------------------------------------------------
def _eguma_authorizations(sim: Any) -> Ledger:
    return [(r.code, r.amount_in_cents - r.cancelled_in_cents, r.reference)
            for r in sim.state.redemptions.values()]


EGUMA = Kit(
    name="eguma",
    descriptor_module="pos_app.providers.eguma.descriptor",
    voucher="L4FU5LQTKJR3",
    voucher_balance=5000,
    value_code="EADSHD24AKS5",
    value_amount=5000,
    refusal="Der Betrag übersteigt das Guthaben des Gutscheins.",
    secret="api_key",
    leaky="sk-live-0123456789-SECRET",
    pending=Verdict.UNCHANGED,  # the balance cannot show a request E-GUMA still holds
    never_arrived=Verdict.UNCHANGED,  # "did not happen" only after the settle window
    authorizations=_eguma_authorizations,
    available=lambda sim, code: sim.voucher(code).balance_in_cents,
    creations=lambda sim: [(a.code, a.amount_in_cents, None) for a in sim.state.activations],
    undos=lambda sim: [d.code for d in sim.state.deactivations],
)


# -- FakePay ------------------------------------------------------------------------
def _fakepay_authorizations(sim: Any) -> Ledger:
    return [(h.code, h.amount, h.reference) for h in sim.state.holds.values() if h.state != "released"]


FAKEPAY = Kit(
    name="fakepay",
    descriptor_module="tests.fakepay.descriptor",
    voucher="FP-10000050",
    voucher_balance=5000,
    value_code="FP-20000025",
    value_amount=2500,
    refusal="Not enough on the voucher: 50.00 available.",
    secret="client_secret",
    leaky="fp-live-SECRET-0123456789",
    pending=Verdict.PENDING,  # the lookup shows it arrived and is pending: never "did not happen"
    never_arrived=Verdict.NOT_APPLIED,  # the lookup says so at once
    authorizations=_fakepay_authorizations,
    available=lambda sim, code: sim.available(code),
    creations=lambda sim: [(e.code, e.amount, e.reference) for e in sim.state.cards if e.kind == "issue"],
    undos=lambda sim: [e.code for e in sim.state.cards if e.kind == "cancel"],
    register=True,
    lookup_refs=lambda sim: {"hold_id": next(iter(sim.state.holds.values())).hold_id},
)

# -- JTL-Voucher Cloud ------------------------------------------------------------------
JTL_CLIENT_ID = "c0ffee00000000000001"  # the demo data's till client (demo_vouchers.toml)
JTL_CLIENT_SECRET = "demo-jtl-secret-till-1"


class SimClock:
    """Epoch seconds for a JTL simulator, movable by a test (``offset``): a
    reservation lapses 30 minutes after it was made, by this clock."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def build_jtl(data: Any = None) -> tuple[Any, Any]:
    """A JTL simulator (the demo data, or ``data`` from its ``parse_data``) on a
    :class:`SimClock` (``sim.test_clock``), that keeps a log of status changes
    (``sim.status_changes``, in ``/_sim/state`` too): JTL's own state shows a
    voucher's status now, not that it was activated once and deactivated once."""
    from pos_app.providers.jtl import simulator as jtl

    clock = SimClock()
    app, sim = jtl.build_app(clock=clock, data=data)
    changes: list[dict[str, Any]] = []
    set_status, fresh_state, ledger_snapshot = sim.set_status, sim._fresh_state, sim._ledger_snapshot

    def logged_set_status(voucher_id: str, body: dict[str, Any]) -> Any:
        voucher = sim.state.vouchers.get(voucher_id)
        was = None if voucher is None else voucher.status
        status, payload = set_status(voucher_id, body)
        if status == 200 and voucher is not None and voucher.status != was:
            changes.append({"id": voucher_id, "status": voucher.status, "amount": voucher.amount})
        return status, payload

    def fresh() -> Any:
        changes.clear()
        return fresh_state()

    # instance attributes: the simulator's routes and its snapshot/reset look them up on the object
    sim.set_status = logged_set_status
    sim._fresh_state = fresh
    sim._ledger_snapshot = lambda: {**ledger_snapshot(), "status_changes": list(changes)}
    sim.test_clock = clock
    sim.status_changes = changes
    return app, sim


def _jtl_lock(sim: Any, voucher_id: str) -> Any:
    """The voucher's open reservation (newest, not charged, not lapsed), or None."""
    return sim._locked(sim.state.vouchers[voucher_id])


def _jtl_authorizations(sim: Any) -> Ledger:
    """Holds still open and charges (less their refunds); a hold that lapsed or was
    replaced is gone. JTL keeps no reference of ours: None."""
    found: Ledger = []
    for r in sim.state.reservations.values():
        if r.charge_id is not None:
            charge = sim.state.charges[r.charge_id]
            found.append((r.voucher_id, charge.amount - charge.refunded, None))
        elif (lock := _jtl_lock(sim, r.voucher_id)) is not None and lock.id == r.id:
            found.append((r.voucher_id, r.amount, None))
    return found


def _jtl_available(sim: Any, voucher_id: str) -> int:
    """What a new payment can take: the remaining amount less an open hold (a hold
    does not lower JTL's remaining amount, it locks the voucher)."""
    lock = _jtl_lock(sim, voucher_id)
    remaining: int = sim.state.vouchers[voucher_id].remaining
    return remaining - (lock.amount if lock is not None else 0)


def _jtl_lapse(sim: Any, seconds: float) -> None:
    sim.test_clock.offset = seconds


JTL = Kit(
    name="jtl",
    descriptor_module="pos_app.providers.jtl.descriptor",
    voucher="a1b2c3d4e5f600000001",  # CHF 100.00, pin 4711
    voucher_balance=10000,
    value_code="a1b2c3d4e5f600000004",  # inactive, for sale: CHF 50.00
    value_amount=5000,
    refusal="",  # the client reads the remaining amount first and refuses before sending: no JTL message
    secret="client_secret",
    leaky="jtl-live-SECRET-0123456789",
    pending=Verdict.UNCHANGED,  # the voucher's lock shows a reservation only once it is made
    never_arrived=Verdict.UNCHANGED,  # "did not happen" only after the settle window
    authorizations=_jtl_authorizations,
    available=_jtl_available,
    creations=lambda sim: [(c["id"], c["amount"], None) for c in sim.status_changes if c["status"] == "active"],
    undos=lambda sim: [c["id"] for c in sim.status_changes if c["status"] == "inactive"],
    references=False,
    auth_paths=("/oauth/token",),
    requests_per_round=6,  # + the token; the release sends nothing
    answer_balance=False,  # a reservation answer has no balance: the client computes the new one
    lapse=_jtl_lapse,
    builder=build_jtl,
)


# -- CSQ eVSB (digital vouchers: value lines only, no voucher payments) -------------------
CSQ_TERMINAL = "173101"  # demo-till's terminal, CHF 1000.00 on its prepaid account
CSQ_BALANCE = 100000


def build_csq() -> tuple[Any, Any]:
    """The CSQ simulator on its demo data, transaction info at once (no 900 "not
    indexed yet" after a purchase: the wait for the index has its own tests)."""
    from pos_app.providers.csq import simulator as csq

    return csq.build_app(indexing_delay_s=0)


def _csq_creations(sim: Any) -> Ledger:
    """Purchases that sold a voucher: (operator, amount, our localReference)."""
    return [(t.operator, t.amount_x100, t.local_reference) for t in sim.purchases() if t.resultcode == "10"]


def _csq_undos(sim: Any) -> list[str]:
    """Reverts that refunded a sale: the operator of the sale each names."""
    return [sim.state.transactions[t.original].operator for t in sim.reverts() if t.resultcode == "20"]


CSQ = Kit(
    name="csq",
    descriptor_module="pos_app.providers.csq.descriptor",
    voucher="",  # CSQ takes no payments
    voucher_balance=0,
    value_code="4101",  # City Gift Card, configured with one amount: 20.00
    value_amount=2000,
    refusal="Rejected",  # 971, DummyPin with an account ending 001
    secret="password",
    leaky="csq-live-SECRET-0123456789",
    pending=Verdict.PENDING,  # transaction info: 900 "not indexed yet" while it holds it
    never_arrived=Verdict.NOT_APPLIED,  # transaction info: "404" never received
    authorizations=lambda sim: [],
    available=lambda sim, code: 0,
    creations=_csq_creations,
    undos=_csq_undos,
    builder=build_csq,
    tenders=False,
    settings=(("terminal_id", CSQ_TERMINAL),
              ("products", ({"operator_id": 4101, "name": "City Gift Card", "currency": "CHF",
                             "amounts": ["20.00"]},
                            {"operator_id": 9991, "name": "DummyPin", "currency": "CHF",
                             "min": "1.00", "max": "1000.00"}))),
    section_extra=(f'terminal_id = "{CSQ_TERMINAL}"\n'
                   '[[providers.csq.products]]\noperator_id = 4101\nname = "City Gift Card"\n'
                   'currency = "CHF"\namounts = ["20.00"]\n'
                   '[[providers.csq.products]]\noperator_id = 9991\nname = "DummyPin"\n'
                   'currency = "CHF"\nmin = "1.00"\nmax = "1000.00"\n'),
)

# -- Celbux (ZAR: voucher payments, and vouchers issued by SMS) ---------------------------
def _celbux_live(sim: Any, kind: str) -> list[Any]:
    return [t for t in sim.transactions(kind) if t.reversed_by is None]


def _celbux_lookup_refs(sim: Any) -> dict[str, str]:
    [pay] = sim.transactions("pay")
    return {"tid": pay.tid, "reference": pay.reference}


CELBUX_PHONE = "27821234567"

CELBUX = Kit(
    name="celbux",
    descriptor_module="pos_app.providers.celbux.descriptor",
    voucher="168-78439-48310",  # R250.00
    voucher_balance=25000,
    value_code="sms",  # the voucher by SMS (issued to a phone: details)
    value_amount=10000,
    refusal="Transaction Failed - Insufficient Balance",
    secret="token",
    leaky="celbux-live-SECRET-0123456789",
    pending=Verdict.PENDING,  # payment: arrived, still being applied (in progress)
    never_arrived=Verdict.UNCHANGED,  # "not found" is "did not happen" only after the settle window
    authorizations=lambda sim: [(t.voucher_no, t.amount, t.reference) for t in _celbux_live(sim, "pay")],
    available=lambda sim, code: sim.voucher(code).balance,
    creations=lambda sim: [(t.username or "", t.amount, t.reference) for t in _celbux_live(sim, "createVoucher")],
    undos=lambda sim: [sim.state.transactions[t.original].voucher_no for t in sim.transactions("reverse")
                       if sim.state.transactions[t.original].type == "createVoucher"],
    answer_balance=False,
    requests_per_round=4,
    write_paths=("/pay", "/reverse", "/createVoucher"),  # viewVoucher, pay, reverse, viewVoucher (no value line read)
    currency="ZAR",
    gift_values=False,
    lookup_refs=_celbux_lookup_refs,
    settings=(("community", "demo-za"), ("store_id", "Store1")),
    section_extra='community = "demo-za"\nstore_id = "Store1"\n',
)

KITS = [EGUMA, FAKEPAY, JTL, CSQ, CELBUX]
