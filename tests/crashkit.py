"""Shared by the crash tests and the soak, for every provider: a crash kit per
provider (its simulator as a process of its own over HTTP, the child's client,
the codes the scenarios use, its ledger in provider-neutral words), the child
run, recovery after the crash, and the ledger-versus-journal check.

A new provider adds a :class:`CrashKit` to :data:`KITS` and is crash-tested by
the whole harness (``tests/test_crash.py``, ``tests/test_soak.py``), as a new
provider adds a kit to ``tests/providers/kits.py`` for the contract suite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from pos_app.config import PROJECT_ROOT, load_config
from pos_app.journal import OpRecord, OpState
from pos_app.providers import registry
from pos_app.providers.base import ClientSpec
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.providers import ProviderSlot, close_providers, slot_for
from pos_app.services.setup import open_till

# The child's provider timeout. A step run "slow" answers after SLOW_S (applied
# at once, answered late but in time); a step run "late" is applied after the
# timeout, LATE_TIMEOUT_S in those runs (E-GUMA: LATE_S after the send, a second
# after the child gave up and read the balance; FakePay: when the test opens its gate).
CHILD_TIMEOUT_S = 3.0
SLOW_S = 2.0
LATE_TIMEOUT_S = 2.0
LATE_S = 3.0
CRASH_DELAY_S = 1.0  # after_send: the kill comes this long after the send (POS_CRASH_DELAY)

SLOW_ENV = "POS_CRASH_SLOW"  # an operation kind: the simulator answers that step's requests after SLOW_S
LATE_ENV = "POS_CRASH_LATE"  # an operation kind: the simulator applies that step's POSTs after the timeout
TIMEOUT_ENV = "POS_CRASH_TIMEOUT"  # the child's provider timeout, when not CHILD_TIMEOUT_S


# ---------------------------------------------------------------------------
# The ledger in provider-neutral words
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Taking:
    """Money our till took from a voucher at the provider (an authorization)."""

    reference: str | None  # our reference of the authorize that took it
    code: str
    amount: int  # what was taken, minor units
    still: int  # what is still taken now (0: all given back)
    stage: str  # "authorized" (held) or "captured" (charged), as the tender's state says it
    refs: dict[str, str] = field(default_factory=dict)  # the provider's ids, as the tender keeps them
    order_number: str | None = None  # the order number a charge carries (providers that capture)


@dataclass(frozen=True)
class Ledger:
    """What the provider's own state says our till did."""

    takings: list[Taking]  # every authorization ever made, given back or not
    created: list[str]  # value-line codes we created (activated, issued), in order
    undone: list[str]  # value-line codes we undid (deactivated, cancelled), in order
    # Whether the provider tells a hold from a charge. E-GUMA does not (a redemption is
    # final when made), and the journal calls a tender "captured" once its order closed.
    stages: bool = True
    # A hold the till drops is dropped on the till's side only and lapses by itself (JTL):
    # it may still be there, uncharged, after the journal's void.
    holds_lapse: bool = False
    # The refs key of a hold when the provider keeps no reference of ours (JTL:
    # "reservation_id"): :func:`consistency` finds a taking's reference by it in the journal.
    hold_key: str | None = None
    # Credit our till added to vouchers (top-ups): (code, amount, order number); None
    # for a provider the till cannot top up with.
    top_ups: list[tuple[str, int, str | None]] | None = None
    # Value lines created, each with our reference, for a provider that keeps it (CSQ's
    # purchases by localReference): :func:`consistency` then checks exactly one creation
    # per value line the journal created, and none without one. None: not kept.
    creations: list[tuple[str, str]] | None = None

    @property
    def taken(self) -> list[Taking]:
        """Money still held or charged."""
        return [t for t in self.takings if t.still]

    @property
    def live(self) -> set[str]:
        """Value lines live at the provider: created more often than undone."""
        created, undone = Counter(self.created), Counter(self.undone)
        return {code for code in created if created[code] > undone[code]}


# ---------------------------------------------------------------------------
# One kit per provider
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CrashKit:
    """How to crash-test one provider.

    * ``command(port)``: its simulator as a process of its own, over HTTP;
    * ``secrets``: what the child's client uses (built through the descriptor,
      as the till builds it); ``other_shop``: another outlet's, used by
      :meth:`create_elsewhere`;
    * ``voucher``: 50.00 on it, which pays part of 2 × Merlot (76.00);
      ``small_voucher``: a second one with a little on it;
    * ``fixed_value``/``fixed_amount``: a value line with its own amount;
      ``free_value``: one with a free amount, which another shop creates
      during ``order_cancel`` so that the order's close fails half-way;
    * ``reversal``: how a closed sale's voucher payment is given back
      (``void``; ``refund`` where the close captured it);
    * ``gate``: the simulator holds POSTs behind a gate (``/_sim/gate``) for
      late application, instead of ``apply_delay_s``;
    * ``ledger(state)``: ``/_sim/state`` as a :class:`Ledger`;
    * ``void_sends``: a void of a hold sends a request (JTL's does not: the hold
      lapses; the void has no "after_send" and is never undecided);
    * ``reads_first``: one operation reads before it writes (JTL's authorize reads
      the voucher's code and pin): a slow answer is armed when the write goes out,
      so the kill 1 s after the send still finds the write received.
    """

    name: str
    descriptor_module: str
    register: bool  # not in the real registry: the test, and the child itself, register it
    command: Callable[[int], list[str]]
    secrets: dict[str, str]
    other_shop: dict[str, str]
    voucher: str
    small_voucher: str
    fixed_value: str
    fixed_amount: int
    free_value: str
    reversal: str
    captures: bool
    gate: bool
    ledger: Callable[[dict[str, Any]], Ledger]
    create_elsewhere: Callable[[str, str, dict[str, str]], httpx.Response]
    void_sends: bool = True
    reads_first: bool = False
    auth_paths: tuple[str, ...] = ()  # credential fetches (JTL's token), not writes of the ledger
    api_root: str = ""  # the API's path below the simulator's URL (JTL: /v1)
    top_up_value: str | None = None  # an active voucher the till tops up (F11), for providers that can
    # False: the provider takes no voucher payments, it only sells value lines (CSQ's
    # digital vouchers): its scenarios are the ``digital*`` ones (voucher fields unused).
    tenders: bool = True
    settings: tuple[tuple[str, Any], ...] = ()  # settings beyond base_url and timeout (CSQ: terminal, products)
    # Digital vouchers (offer code, amount typed, details): one the provider sells, and one
    # it refuses to sell (taken off the order at close, its money given back).
    digital: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
    refused_digital: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
    # The provider sells gift vouchers by code (activate, deactivate, order_cancel);
    # False: its value lines are issued to a customer (Celbux by SMS: ``digital``).
    gift_values: bool = True
    currency: str = "CHF"  # the outlet's (Celbux takes ZAR only)
    # the paths of the calls that write the ledger, where reads are POSTs too (Celbux)
    write_paths: tuple[str, ...] = ()

    def __repr__(self) -> str:  # parametrize ids
        return self.name

    @property
    def kinds(self) -> list[str]:
        """The core's operations this provider's scenarios run."""
        if not self.tenders:
            return ["create", "undo"]
        return ["authorize", *(["capture"] if self.captures else []), "void",
                *(["refund"] if self.reversal == "refund" else []), "create", "undo"]

    def writes(self, request: httpx.Request) -> bool:
        """Whether a request writes the provider's ledger (not a read, not a credentials fetch)."""
        if self.write_paths:
            return any(request.url.path.endswith(path) for path in self.write_paths)
        return request.method not in ("GET", "HEAD", "OPTIONS") and not any(
            request.url.path.endswith(path) for path in self.auth_paths)

    def register_in(self, packages: dict[str, str]) -> None:
        if self.register:
            packages[self.name] = self.descriptor_module


# -- E-GUMA -------------------------------------------------------------------------
OUTLET = "Demo Shop Zürich"  # the E-GUMA simulator's outlet of the key the crash child uses


def _eguma_ledger(state: dict[str, Any]) -> Ledger:
    takings = [Taking(r["reference"], r["code"], r["amount_in_cents"], r["open_in_cents"], "redeemed",
                      {"redeem_token": r["token"]})
               for r in state["redemptions"] if r["outlet"] == OUTLET]
    return Ledger(takings,
                  [a["code"] for a in state["activations"] if a["outlet"] == OUTLET],  # not another shop's
                  [d["code"] for d in state["deactivations"] if d["outlet"] == OUTLET],
                  stages=False)


def _eguma_elsewhere(url: str, code: str, secrets: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/v1/depot_vouchers/{code}/activate.json", params={"apikey": secrets["api_key"]},
                      json={"amount_in_cents": 900}, timeout=10)


EGUMA = CrashKit(
    name="eguma",
    descriptor_module="pos_app.providers.eguma.descriptor",
    register=False,
    command=lambda port: [sys.executable, "-m", "pos_app", "simulate", "eguma", "--port", str(port)],
    secrets={"api_key": "demo-outlet-key"},
    other_shop={"api_key": "demo-outlet-key-bern"},
    voucher="L4FU5LQTKJR3",
    small_voucher="2QH3QTDM28N6",
    fixed_value="EADSHD24AKS5",
    fixed_amount=5000,
    free_value="FREEAMNT0001",
    reversal="void",  # a redemption is final when made: cancel_redemption, before or after the close
    captures=False,
    gate=False,
    ledger=_eguma_ledger,
    create_elsewhere=_eguma_elsewhere,
)


# -- FakePay -------------------------------------------------------------------------
FAKEPAY_CLIENT = "fp-demo-client"


def _fakepay_ledger(state: dict[str, Any]) -> Ledger:
    charges = {c["hold_id"]: c for c in state["charges"]}
    takings = []
    for hold in state["holds"]:
        if hold["client_id"] != FAKEPAY_CLIENT:
            continue
        refs = {"hold_id": hold["hold_id"]}
        charge = charges.get(hold["hold_id"])
        if hold["state"] == "captured" and charge is not None:
            takings.append(Taking(hold["reference"], hold["code"], hold["amount"],
                                  charge["amount"] - charge["refunded"], "captured",
                                  {**refs, "charge_id": charge["charge_id"]}, charge["order_number"]))
        else:
            still = hold["amount"] if hold["state"] == "held" else 0
            takings.append(Taking(hold["reference"], hold["code"], hold["amount"], still, "authorized", refs))
    # card events carry no client: ours are those our client's operations made
    ours = {ident for op in state["operations"] if op["client_id"] == FAKEPAY_CLIENT and op["state"] == "done"
            for ident in op["ids"].values()}
    cards = [e for e in state["cards"] if e["event_id"] in ours]
    return Ledger(takings, [e["code"] for e in cards if e["kind"] == "issue"],
                  [e["code"] for e in cards if e["kind"] == "cancel"])


def _fakepay_elsewhere(url: str, code: str, secrets: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/v1/cards/{code}/issue", json={"amount": "9.00", "reference": "bern-till-1"},
                      headers={"X-Client-Id": secrets["client_id"], "X-Client-Secret": secrets["client_secret"]},
                      timeout=10)


FAKEPAY = CrashKit(
    name="fakepay",
    descriptor_module="tests.fakepay.descriptor",
    register=True,
    command=lambda port: [sys.executable, "-m", "tests.fakepay.server", "--port", str(port)],
    secrets={"client_id": FAKEPAY_CLIENT, "client_secret": "fp-demo-secret-0001"},
    other_shop={"client_id": "fp-bern-client", "client_secret": "fp-bern-secret-0002"},
    voucher="FP-10000050",
    small_voucher="FP-10000002",
    fixed_value="FP-20000025",
    fixed_amount=2500,
    free_value="FP-20000000",
    reversal="refund",  # a hold is captured at the close: a closed sale's payment is refunded
    captures=True,
    gate=True,
    ledger=_fakepay_ledger,
    create_elsewhere=_fakepay_elsewhere,
)

# -- JTL-Voucher Cloud -----------------------------------------------------------------
JTL_CLIENT = "c0ffee00000000000001"  # the demo data's till client
JTL_OTHER_SHOP = {"client_id": "c0ffee000000000be2e1", "client_secret": "jtl-bern-secret-0002"}
JTL_VOUCHER = "b0b0c0d0e0f000000050"  # active, CHF 50.00 (the demo's has 100.00: it would pay 2 Merlot whole)
JTL_GONE = "b0b0c0d0e0f000000020"  # inactive, CHF 20.00: another shop deletes it during order_cancel


def jtl_crash_data() -> Any:
    """The demo data (demo_vouchers.toml) plus what the crash scenarios need and the
    demo lacks: a voucher of exactly 50.00, a second one for sale, and another shop
    whose client group may delete vouchers."""
    from pos_app.providers.jtl import simulator as jtl

    raw = tomllib.loads(resources.files("pos_app.providers.jtl").joinpath("demo_vouchers.toml")
                        .read_text(encoding="utf-8"))
    raw["clients"].append({"id": JTL_OTHER_SHOP["client_id"], "secret": JTL_OTHER_SHOP["client_secret"],
                           "name": "Demo Shop Bern", "client_group_id": "bern", "scopes": list(jtl.SCOPES)})
    raw["vouchers"] += [
        {"id": JTL_VOUCHER, "code": "JTL-CRASH-050", "amount": "50.00", "status": "active",
         "valid_until": "2029-12-31T23:59:59+00:00"},
        {"id": JTL_GONE, "code": "JTL-CRASH-SELL-020", "amount": "20.00", "status": "inactive",
         "validity_value": 1, "validity_interval": "years"},
    ]
    return jtl.parse_data(raw)


def serve_jtl(port: int) -> None:
    """The JTL simulator on :func:`jtl_crash_data`, with the status log of
    ``tests/providers/kits.build_jtl``, over HTTP until killed (:data:`JTL`'s command).

    The token endpoint is served past the simulator's faults: they stand for the
    ledger's writes answered late or lost, and a till started while one is on (the
    restart of an undecided case) would otherwise wait LATE_S for its token, as long
    as its timeout."""
    from pos_app.providers import simkit
    from tests.providers.kits import build_jtl

    faulted, _sim = build_jtl(jtl_crash_data())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth/token":
            await faulted.app(scope, receive, send)  # FaultMiddleware's inner app
        else:
            await faulted(scope, receive, send)

    simkit.run(app, "127.0.0.1", port, name="JTL simulator (crash tests)")


def _jtl_ledger(state: dict[str, Any]) -> Ledger:
    """Reservations of our client: charged (less refunds), or held while the voucher's
    lock is theirs (the newest reservation of a locked voucher), or gone (lapsed,
    replaced). Activations and deactivations from the status log."""
    charges = {c["id"]: c for c in state["charges"]}
    newest: dict[str, str] = {}
    for r in state["reservations"]:
        newest[r["voucher_id"]] = r["id"]
    takings = []
    for r in state["reservations"]:
        if r["client_id"] != JTL_CLIENT:
            continue
        refs = {"reservation_id": r["id"]}
        charge = charges.get(r["charge_id"] or "")
        if charge is not None:
            takings.append(Taking(None, r["voucher_id"], r["amount"], charge["amount"] - charge["refunded"],
                                  "captured", {**refs, "charge_id": charge["id"]}, charge["order_number"]))
            continue
        locked = state["vouchers"][r["voucher_id"]]["locked"] and newest[r["voucher_id"]] == r["id"]
        takings.append(Taking(None, r["voucher_id"], r["amount"], r["amount"] if locked else 0, "authorized", refs))
    changes = state["status_changes"]
    top_ups = [(c["voucher_id"], c["amount"], c["order_number"]) for c in state["charges"]
               if c["type"] == "recharge" and c["client_id"] == JTL_CLIENT]
    return Ledger(takings, [c["id"] for c in changes if c["status"] == "active"],
                  [c["id"] for c in changes if c["status"] == "inactive"],
                  holds_lapse=True, hold_key="reservation_id", top_ups=top_ups)


def _jtl_elsewhere(url: str, code: str, secrets: dict[str, str]) -> httpx.Response:
    """Another shop deletes the voucher (it has no charges): its activation at our close fails."""
    token = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials", **secrets}, timeout=10)
    token.raise_for_status()
    return httpx.request("DELETE", f"{url}/v1/vouchers/{code}", json={"comment": "sold in Bern"}, timeout=10,
                         headers={"Authorization": f"Bearer {token.json()['access_token']}"})


JTL = CrashKit(
    name="jtl",
    descriptor_module="pos_app.providers.jtl.descriptor",
    register=False,
    command=lambda port: [sys.executable, "-c", "import sys; from tests.crashkit import serve_jtl; "
                          "serve_jtl(int(sys.argv[1]))", str(port)],
    secrets={"client_id": JTL_CLIENT, "client_secret": "demo-jtl-secret-till-1"},
    other_shop=JTL_OTHER_SHOP,
    voucher=JTL_VOUCHER,
    small_voucher="a1b2c3d4e5f600000002",  # 3.50 left
    fixed_value="a1b2c3d4e5f600000004",  # inactive, CHF 50.00
    fixed_amount=5000,
    free_value=JTL_GONE,  # JTL sells fixed amounts only: the "20" typed for it is its own amount
    reversal="refund",  # reserved at tender, charged at close: a closed sale's payment is refunded
    captures=True,
    gate=False,
    ledger=_jtl_ledger,
    create_elsewhere=_jtl_elsewhere,
    void_sends=False,
    reads_first=True,
    auth_paths=("/oauth/token",),
    api_root="/v1",
    top_up_value="a1b2c3d4e5f600000001",  # active, CHF 100.00
)

# -- CSQ eVSB: digital vouchers (value lines only, no voucher payments) -------------------
CSQ_TERMINAL = "173101"  # demo-till's terminal, CHF 1000.00 on its prepaid account


def serve_csq(port: int) -> None:
    """The CSQ simulator on its demo data over HTTP until killed (:data:`CSQ`'s command),
    transaction info answering at once (no 900 "not indexed yet" for 5 s after a
    purchase): the restart's settle clock runs ahead, the simulator's index does not.
    A request held by ``apply_delay_s`` is still 900 while held (it has arrived)."""
    from pos_app.providers import simkit
    from pos_app.providers.csq import simulator as csq

    app, _sim = csq.build_app(indexing_delay_s=0)
    simkit.run(app, "127.0.0.1", port, name="CSQ simulator (crash tests)")


def _csq_ledger(state: dict[str, Any]) -> Ledger:
    """Our terminal's purchases that sold a voucher (10) and reverts that refunded one
    (20), by operator; a refused purchase (971, 990...) sold nothing and is not there."""
    purchases = [p for p in state["purchases"] if p["terminal"] == CSQ_TERMINAL and p["resultcode"] == "10"]
    by_key = {f"{p['terminal']}/{p['local_reference']}/{p['date']}": p for p in state["purchases"]}
    reverts = [r for r in state["reverts"] if r["terminal"] == CSQ_TERMINAL and r["resultcode"] == "20"]
    return Ledger([], [p["operator"] for p in purchases],
                  [by_key[r["original"]]["operator"] for r in reverts],
                  creations=[(p["operator"], p["local_reference"]) for p in purchases])


def _csq_elsewhere(url: str, code: str, secrets: dict[str, str]) -> httpx.Response:
    raise AssertionError("CSQ sells any number of a product: no other shop can take one away")


CSQ = CrashKit(
    name="csq",
    descriptor_module="pos_app.providers.csq.descriptor",
    register=False,
    command=lambda port: [sys.executable, "-c", "import sys; from tests.crashkit import serve_csq; "
                          "serve_csq(int(sys.argv[1]))", str(port)],
    secrets={"username": "demo-till", "password": "demo-csq-password"},
    other_shop={"username": "other-shop", "password": "other-csq-password"},
    voucher="",  # CSQ takes no payments
    small_voucher="",
    fixed_value="4101",  # City Gift Card, the operator a sold line's purchase names
    fixed_amount=2000,
    free_value="",
    reversal="undo",
    captures=False,
    gate=False,
    ledger=_csq_ledger,
    create_elsewhere=_csq_elsewhere,
    tenders=False,
    settings=(("terminal_id", CSQ_TERMINAL),
              ("products", ({"operator_id": 4101, "name": "City Gift Card", "currency": "CHF",
                             "amounts": ["20.00", "50.00"]},
                            {"operator_id": 9991, "name": "DummyPin", "currency": "CHF",
                             "min": "1.00", "max": "1000.00"}))),
    digital=("4101", "20", ()),
    refused_digital=("9991", "10", (("account", "4711001"),)),  # 001: CSQ answers 971, nothing sold
)

# -- Celbux: voucher payments (pay, reverse) and vouchers issued by SMS (createVoucher) -------
CELBUX_VOUCHER = "168-50000-00050"  # R50.00, for the crash scenarios (the demo's have 250.00 and 3.50)
CELBUX_SMALL = "168-11111-22222"  # R3.50
CELBUX_PHONE = "27821234567"


def celbux_crash_data() -> Any:
    """The demo data plus a voucher of exactly 50.00 in the demo community."""
    from pos_app.providers.celbux import simulator as celbux

    raw = tomllib.loads(resources.files("pos_app.providers.celbux").joinpath("demo_vouchers.toml")
                        .read_text(encoding="utf-8"))
    raw["vouchers"].append({"number": CELBUX_VOUCHER, "community": "demo-za", "owner": "27648302057",
                            "type": "168Cash", "balance": 5000})
    return celbux.parse_data(raw)


def serve_celbux(port: int) -> None:
    """The Celbux simulator on :func:`celbux_crash_data` over HTTP until killed."""
    from pos_app.providers import simkit
    from pos_app.providers.celbux import simulator as celbux

    app, _sim = celbux.build_app(data=celbux_crash_data())
    simkit.run(app, "127.0.0.1", port, name="Celbux simulator (crash tests)")


def _celbux_ledger(state: dict[str, Any]) -> Ledger:
    """Store1's transactions: each pay a taking (given back when reversed), each
    createVoucher a voucher by SMS issued under our Reference, each reverse of one undone."""
    ours = [t for t in state["transactions"] if t["store_id"] == "Store1"]
    by_tid = {t["tid"]: t for t in ours}
    takings = [Taking(t["reference"], t["voucher_no"], t["amount"], 0 if t["reversed_by"] else t["amount"], "-",
                      {"tid": t["tid"], "reference": t["reference"]}) for t in ours if t["type"] == "pay"]
    issues = [t for t in ours if t["type"] == "createVoucher"]
    undone = [t for t in ours if t["type"] == "reverse" and by_tid.get(t["original"] or "", {}).get("type")
              == "createVoucher"]
    return Ledger(takings, ["sms"] * len(issues), ["sms"] * len(undone), stages=False,
                  creations=[("sms", t["reference"]) for t in issues])


def _celbux_elsewhere(url: str, code: str, secrets: dict[str, str]) -> httpx.Response:
    raise AssertionError("Celbux issues vouchers to customers: no gift voucher another shop could take")


CELBUX = CrashKit(
    name="celbux",
    descriptor_module="pos_app.providers.celbux.descriptor",
    register=False,
    command=lambda port: [sys.executable, "-c", "import sys; from tests.crashkit import serve_celbux; "
                          "serve_celbux(int(sys.argv[1]))", str(port)],
    secrets={"token": "demo-celbux-token-till"},
    other_shop={},
    voucher=CELBUX_VOUCHER,
    small_voucher=CELBUX_SMALL,
    fixed_value="sms",  # the voucher by SMS, the offer code its line keeps
    fixed_amount=10000,
    free_value="",
    reversal="void",  # a pay is final: the void of a closed sale reverses it
    captures=False,
    gate=False,
    ledger=_celbux_ledger,
    create_elsewhere=_celbux_elsewhere,
    settings=(("community", "demo-za"), ("store_id", "Store1")),
    digital=("sms", "100", (("phone", CELBUX_PHONE),)),
    gift_values=False,
    currency="ZAR",
    write_paths=("/pay", "/reverse", "/createVoucher"),
)

KITS: dict[str, CrashKit] = {kit.name: kit for kit in (EGUMA, FAKEPAY, JTL)}
"""The providers that take voucher payments (the soak runs their ``mixed`` scenario)."""
ALL_KITS: dict[str, CrashKit] = {**KITS, CSQ.name: CSQ, CELBUX.name: CELBUX}
"""Every provider the crash tests cover."""


def kit_of(provider: str | CrashKit) -> CrashKit:
    return provider if isinstance(provider, CrashKit) else ALL_KITS[provider]


# ---------------------------------------------------------------------------
# The simulator process and the child's requests
# ---------------------------------------------------------------------------
def hold_posts(kit: CrashKit, url: str) -> None:
    """From now on the provider applies POSTs only after the child's timeout: the
    answer is lost, the request applied later (:func:`release_posts` for a gate)."""
    if kit.gate:
        httpx.post(f"{url}/_sim/gate", json={"open": False}, timeout=10).raise_for_status()
    else:
        httpx.post(f"{url}/_sim/faults", json={"apply_delay_s": LATE_S}, timeout=10).raise_for_status()


def release_posts(kit: CrashKit, url: str) -> None:
    """The provider goes on with what it holds (a gate opens; a delay runs out by itself)."""
    if kit.gate:
        httpx.post(f"{url}/_sim/gate", json={"open": True}, timeout=10).raise_for_status()


def slow_answers(url: str) -> None:
    """Every answer from now on comes SLOW_S after the work (in time for the child)."""
    httpx.post(f"{url}/_sim/faults", json={"latency_s": SLOW_S}, timeout=10).raise_for_status()


def on_next_write(kit: CrashKit, http: httpx.AsyncClient, fault: Callable[[], None]) -> None:
    """Arm ``fault`` just before the next request of ``http`` that writes the provider's
    ledger (not a read, not a credentials fetch)."""
    hooks = http.event_hooks["request"]

    async def hook(request: httpx.Request) -> None:
        if kit.writes(request):
            hooks.remove(hook)
            fault()

    hooks.append(hook)


class SimServer:
    """A provider's simulator as its own process, controlled over /_sim/."""

    def __init__(self, provider: str | CrashKit = "eguma") -> None:
        self.kit = kit_of(provider)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(self.kit.command(self.port), cwd=PROJECT_ROOT,
                                     env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.state()
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"the {self.kit.name} simulator did not start")

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sim/state", timeout=10)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def ledger(self, state: dict[str, Any] | None = None) -> Ledger:
        return self.kit.ledger(state if state is not None else self.state())

    def reset(self) -> None:
        """Back to the seed data; a request a failed test left held is applied first."""
        self.release()
        self.wait_applied()
        httpx.post(f"{self.url}/_sim/reset", timeout=10).raise_for_status()
        self.faults(clear=True)

    def faults(self, **faults: Any) -> None:
        httpx.post(f"{self.url}/_sim/faults", json=faults, timeout=10).raise_for_status()

    def release(self) -> None:
        release_posts(self.kit, self.url)

    def pending(self) -> int:
        """POSTs the simulator holds and has not applied yet."""
        return int(self.state()["pending_posts"])

    def wait_applied(self, timeout_s: float = 60.0) -> None:
        """Until the simulator holds no POST it has yet to apply (apply_delay_s, the gate)."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() > deadline:
                raise AssertionError("the simulator still holds a request")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# The till of the child and of the restart
# ---------------------------------------------------------------------------
def make_till(config_path: Path, url: str, provider: str | CrashKit = "eguma",
              timeout_s: float = CHILD_TIMEOUT_S) -> Till:
    """A till on the provider's simulator at ``url``, its client built by the
    provider's descriptor as the till builds it. The provider must be in the
    registry (FakePay: the test's fixture, or the child itself)."""
    kit = kit_of(provider)
    desc = registry.descriptor(kit.name)
    config = load_config(config_path)
    http = httpx.AsyncClient()
    settings = desc.settings_model(base_url=url + kit.api_root, timeout_s=timeout_s, **dict(kit.settings))
    client = desc.make_client(ClientSpec(settings, dict(kit.secrets), http, config.outlet.currency))
    if kit.settings:  # slot_for's default settings (base_url only) are invalid for CSQ (terminal_id required)
        slot = ProviderSlot(kit.name, desc.display_name, client, desc, settings, http=http)
    else:
        slot = slot_for(config, kit.name, client, http=http)
    return open_till(config, providers={kit.name: slot})


def run_child(config: Path, url: str, scenario: str, crash_at: str | None,
              kill_after: float | None = None, late: str | None = None, *,
              slow: str | None = None, provider: str | CrashKit = "eguma",
              timeout_s: float | None = None, check: bool = True) -> int:
    """Run a scenario in its own process; SIGKILL it at a crash point or after a delay.
    Its exit code: -9 when killed.

    ``slow``/``late``: the operation kind whose step the simulator answers slowly
    (in time) or applies late (after the child's timeout); see crash_child.step.
    ``check``: a scenario that stopped with an error (exit neither 0 nor -9) is an
    AssertionError with its traceback (the soak's slow runs may stop that way).
    """
    kit = kit_of(provider)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for name in ("POS_CRASH_AT", LATE_ENV, SLOW_ENV, TIMEOUT_ENV):
        env.pop(name, None)
    if late:
        env[LATE_ENV] = late
        timeout_s = LATE_TIMEOUT_S if timeout_s is None else timeout_s
    if slow:
        env[SLOW_ENV] = slow
    if timeout_s is not None:
        env[TIMEOUT_ENV] = str(timeout_s)
    env["POS_CRASH_DELAY"] = str(CRASH_DELAY_S)  # after_send: time for the simulator to read the request
    if crash_at:
        env["POS_CRASH_AT"] = crash_at
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_child", str(config), url, scenario, kit.name],
                             env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        if kill_after is not None:
            try:
                child.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                child.kill()
        _out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if check and child.returncode not in (0, -9):  # a scenario that broke is a test failure, with its reason
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise AssertionError(f"the child ({kit.name} {scenario}) failed (exit {child.returncode}):\n{tail}")
    return child.returncode


async def recover_only(config: Path, url: str, provider: str | CrashKit = "eguma") -> list[OpRecord]:
    """A restart that only reconciles, at the real time: what each operation became."""
    till = make_till(config, url, provider)
    try:
        await till.recovery.run()
        return till.journal.ops()
    finally:
        await close_providers(till.providers)
        till.journal.close()


def past_the_settle_window(till: Till, hours: float = 2.0) -> Till:
    """Run the till's settle clock ahead, as if the settle window had passed.

    Only where the simulator holds no request it has not applied yet (no
    ``apply_delay_s`` or gate, or its pending count is 0): then what it will
    ever apply, it has applied, and waiting out the window would show nothing new.
    """
    till.session.utcnow = lambda: datetime.now(UTC) + timedelta(hours=hours)
    return till


REVERSALS = ("undo", "void", "refund")


async def recover_and_finish(config: Path, url: str, provider: str | CrashKit = "eguma", *,
                             past_window: bool = True) -> Till:
    """What the restarted till does: reconcile, then finish what the cashier would finish.

    ``past_window``: the settle window of every open operation has passed (the
    simulator applied at once what it received), so lost answers can be decided.
    """
    till = make_till(config, url, provider)
    if past_window:
        past_the_settle_window(till)
    try:
        await till.recovery.run()
        # a cancel of the open order that was under way is pressed again (F9)
        if any(op.order_id == till.order_id and op.operation == "undo" for op in till.journal.ops()):
            await till.cancel_order()
        if till.order.is_settled:
            await till.finish()
        try:
            plan = till.storno.plan()
        except CheckoutError:
            plan = None
        # a void of a sale that was started (some reversal done) is continued, as F9 would
        if plan is not None and any(op.order_id == plan.order.id and op.operation in REVERSALS
                                    for op in till.journal.ops()):
            await till.storno.run()
    finally:
        await close_providers(till.providers)
    return till


# ---------------------------------------------------------------------------
# The provider's ledger against the journal
# ---------------------------------------------------------------------------
FINAL_TENDERS = ("authorized", "captured", "voided")


def consistency(journal_path: Path, ledger: Ledger) -> list[str]:
    """The provider's ledger (:class:`Ledger`) against the journal. Empty when they agree.

    * every operation is final (not sent, not unknown), every voucher payment too;
    * the money still taken at the provider is, per code, amount and stage (held or
      charged), the voucher payments the journal keeps (not voided, not given back),
      matched by our reference, with the provider's ids the tender keeps;
    * no money taken twice, none taken without an order of ours; a charge carries
      the number of its (closed) order;
    * a voided sale gave back every voucher payment and undid every value line; a
      cancelled order too; a closed order has its number;
    * a value line is live at the provider exactly when the journal says it was sold
      (created, on a closed order, not voided) and not undone.
    """
    problems: list[str] = []
    with sqlite3.connect(journal_path) as db:
        db.row_factory = sqlite3.Row
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("integrity_check failed")
        open_ops = db.execute("SELECT id, operation, code, state FROM provider_ops WHERE state IN (?, ?)",
                              tuple(OpState.OPEN)).fetchall()
        if open_ops:
            problems.append(f"operations not final: {[tuple(r) for r in open_ops]}")
        ops = db.execute("SELECT * FROM provider_ops ORDER BY id").fetchall()
        orders = {r["id"]: r for r in db.execute("SELECT * FROM orders")}
        tenders = db.execute("SELECT * FROM tenders WHERE kind='voucher'").fetchall()
        lines = db.execute("SELECT * FROM lines WHERE kind IN ('gift_voucher', 'digital')").fetchall()
        top_up_lines = db.execute("SELECT * FROM lines WHERE kind='top_up'").fetchall()

    def number(order_id: int) -> str | None:
        order = orders[order_id]
        return None if order["number"] is None else f"{order['till']}-{order['number']:04d}"  # format_number

    done = ("ok", "done")
    authorize_ref = {op["tender_id"]: op["reference"] for op in ops if op["operation"] == "authorize"}
    if ledger.hold_key is not None:
        ledger = _with_references(ledger, ops)
    given_back = {op["tender_id"] for op in ops if op["operation"] in ("void", "refund") and op["state"] in done}
    undo_done = {op["line_id"] for op in ops if op["operation"] == "undo" and op["state"] in done}

    # -- money ------------------------------------------------------------------------
    expected: dict[str, tuple[str, int, str]] = {}  # our reference -> (code, amount, stage)
    tender_of: dict[str, sqlite3.Row] = {}
    for t in tenders:
        if t["state"] not in FINAL_TENDERS:
            problems.append(f"voucher payment {t['id']} ({t['code']}) not final: {t['state']}")
        ref = authorize_ref.get(t["id"])
        if ref is None:
            problems.append(f"voucher payment {t['id']} ({t['code']}) has no authorize operation")
            continue
        if t["voided_at"] is None and t["state"] in ("authorized", "captured") and t["id"] not in given_back:
            expected[ref] = (t["code"], t["amount_minor"], t["state"] if ledger.stages else "-")
    by_id = {t["id"]: t for t in tenders}
    for op in ops:  # every hold a payment made (a lapsed one taken again at close: two)
        if op["operation"] == "authorize" and op["tender_id"] in by_id:
            tender_of[op["reference"]] = by_id[op["tender_id"]]

    def dropped(taking: Taking) -> bool:
        """A hold of a payment the till dropped that lapses by itself (never charged)."""
        t = tender_of.get(taking.reference or "")
        return (ledger.holds_lapse and taking.stage == "authorized" and t is not None
                and (t["voided_at"] is not None or t["state"] == "voided" or t["id"] in given_back))

    references = Counter(t.reference for t in ledger.takings)
    twice = sorted(str(ref) for ref, n in references.items() if n > 1)
    if twice:
        problems.append(f"money taken twice under one reference: {twice}")
    for taking in ledger.takings:
        if taking.reference not in tender_of:
            problems.append(f"money taken without an order: {taking.code} {taking.amount} ({taking.reference})")
            continue
        t = tender_of[taking.reference]
        kept = json.loads(t["refs"] or "{}")
        differ = {k: (v, kept[k]) for k, v in taking.refs.items() if k in kept and kept[k] != v}
        if differ:
            problems.append(f"voucher payment {t['id']}: the provider's ids differ (provider, journal): {differ}")
        if taking.order_number is not None:
            order = orders[t["order_id"]]
            if order["status"] != "closed" or number(t["order_id"]) != taking.order_number:
                problems.append(f"a charge for order {taking.order_number}, but the payment's order is "
                                f"{number(t['order_id'])} ({order['status']})")

    def stage(taking: Taking) -> str:
        return taking.stage if ledger.stages else "-"

    taken = [t for t in ledger.taken if not dropped(t)]
    provider_money = Counter((t.code, t.still, stage(t)) for t in taken)
    journal_money = Counter(expected.values())
    if provider_money != journal_money:
        problems.append(f"voucher money differs: provider {dict(provider_money)} journal {dict(journal_money)}")
    else:
        by_ref = {t.reference: (t.code, t.still, stage(t)) for t in taken}
        if by_ref != expected:
            problems.append(f"voucher money under other references: provider {by_ref} journal {expected}")

    # -- orders: a voided sale gave everything back, a cancelled order holds nothing ----
    for order in orders.values():
        if order["status"] == "closed" and order["number"] is None:
            problems.append(f"order {order['id']} closed without a number")
        if order["voided_at"] is None and order["status"] != "cancelled":
            continue
        what = "voided sale" if order["voided_at"] else "cancelled order"
        for t in tenders:
            if t["order_id"] == order["id"] and t["voided_at"] is None and t["id"] not in given_back:
                problems.append(f"{what} {number(order['id'])}: voucher payment {t['id']} ({t['code']}) "
                                "not given back")
        for line in lines:
            if line["order_id"] == order["id"] and line["activated_at"] and line["undone_at"] is None:
                problems.append(f"{what} {number(order['id'])}: value line {line['code']} not undone")

    # -- value lines ------------------------------------------------------------------
    sold: list[str] = []
    for line in lines:
        undone = line["undone_at"] is not None
        if undone != (line["id"] in undo_done):
            problems.append(f"value line {line['code']}: undone_at {line['undone_at']} but undo operations "
                            f"{'done' if line['id'] in undo_done else 'none done'}")
        if line["activated_at"] is None or undone:
            continue
        if line["voided_at"] is None and orders[line["order_id"]]["status"] == "closed":
            sold.append(line["code"])
        else:
            problems.append(f"value line {line['code']} created and not undone, but "
                            f"{'voided' if line['voided_at'] else orders[line['order_id']]['status']}")
    if len(sold) != len(set(sold)):
        problems.append(f"a value line sold twice: {sorted(sold)}")
    if ledger.live != set(sold):
        problems.append(f"value lines differ: live at the provider {sorted(ledger.live)} journal {sorted(sold)}")

    # -- value lines created exactly once each, under the reference of their create --------
    if ledger.creations is not None:
        bought = Counter(reference for _code, reference in ledger.creations)
        created_lines = {line["id"]: line for line in lines if line["activated_at"] is not None}
        creates: dict[int, list[str]] = {}
        for op in ops:
            if op["operation"] == "create" and op["line_id"] in created_lines:
                creates.setdefault(op["line_id"], []).append(op["reference"])
        for line_id, line in created_lines.items():
            times = sum(bought[reference] for reference in creates.get(line_id, []))
            if times != 1:
                problems.append(f"value line {line['code']} (line {line_id}) created {times} times at the provider")
        ours = {reference for references in creates.values() for reference in references}
        stray = sorted(f"{code} ({reference})" for code, reference in ledger.creations if reference not in ours)
        if stray:
            problems.append(f"created at the provider without a created value line: {stray}")

    # -- top-ups: credited once, with the number of its closed order ------------------
    credited: Counter[tuple[str, int, str | None]] = Counter()
    for line in top_up_lines:
        if line["activated_at"] is None or line["undone_at"] is not None:
            continue
        order = orders[line["order_id"]]
        if order["status"] != "closed" or line["voided_at"] is not None or order["voided_at"] is not None:
            problems.append(f"top-up of {line['code']} credited, but its order is "
                            f"{'voided' if line['voided_at'] or order['voided_at'] else order['status']}")
        credited[(line["code"], line["unit_minor"] * line["quantity"], number(line["order_id"]))] += 1
    if ledger.top_ups is not None and Counter(ledger.top_ups) != credited:
        problems.append(f"top-ups differ: provider {sorted(ledger.top_ups)} journal {sorted(credited.elements())}")
    return problems


def _with_references(ledger: Ledger, ops: list[sqlite3.Row]) -> Ledger:
    """The ledger's takings with the reference of the authorize that made each, found
    in the journal by the hold's id (``ledger.hold_key``), or, for a hold whose answer
    was lost (decided "done" by the provider's state, without its id), the first such
    authorize on the same code for the same amount. None when the journal has none."""
    key = ledger.hold_key
    authorizes = [(op, json.loads(op["refs"] or "{}")) for op in ops if op["operation"] == "authorize"]
    used: set[str] = set()
    found = []
    for taking in ledger.takings:
        reference = taking.reference
        if reference is None:
            ours = taking.refs.get(key or "")
            reference = next((op["reference"] for op, refs in authorizes
                              if op["reference"] not in used and refs.get(key) == ours), None)
        if reference is None:
            reference = next((op["reference"] for op, refs in authorizes
                              if op["reference"] not in used and op["state"] == "done" and not refs.get(key)
                              and op["code"] == taking.code and op["amount_minor"] == taking.amount), None)
        if reference is not None:
            used.add(reference)
        found.append(dataclasses.replace(taking, reference=reference))
    return dataclasses.replace(ledger, takings=found)
