"""One kit per provider: what the contract suite needs to drive a provider's
client against its simulator, in-process and over real HTTP, and to read
its ledger. A new provider adds a kit here and is tested by the whole suite."""

from __future__ import annotations

import importlib
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
    * ``authorizations``/``available``: the ledger.
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
               timeout_s: float = 0.5, currency: str = "CHF") -> VoucherProvider:
        """The provider's client, built the way the till builds it (its descriptor)."""
        desc = self.descriptor
        settings = desc.settings_model(base_url=base_url, timeout_s=timeout_s, settle_s=timeout_s * 20)
        return desc.make_client(ClientSpec(settings, secrets, http, currency))

    def section(self, timeout_s: float, settle_s: float) -> str:
        """The ``[providers.<name>]`` section of a till on this provider's in-process simulator."""
        return (f'\n[providers.{self.name}]\nbase_url = "sim://{self.name}"\n'
                f"timeout_s = {timeout_s}\nsettle_s = {settle_s}\n")

    def money(self, minor: int) -> Money:
        return Money(minor, "CHF")


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
)

KITS = [EGUMA, FAKEPAY]
