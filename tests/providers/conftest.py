"""Fixtures of the provider contract suite: a kit per provider, its simulator
in-process or behind a real HTTP server, and a till on its simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app.config import load_config
from pos_app.providers import registry
from pos_app.providers.base import VoucherProvider
from pos_app.providers.simkit import ServerThread
from pos_app.services.checkout import Till
from tests.fakepay.fixtures import fakepay  # noqa: F401 - a fixture, for tests that use FakePay alone
from tests.providers.kits import ACTIVE, KITS, Kit

CLIENT_TIMEOUT_S = 0.5


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tenders: a contract test about voucher payments (tenders); "
                            "skipped for a provider that only sells value lines (Kit.tenders False: CSQ)")


@pytest.fixture(params=KITS, ids=[k.name for k in KITS])
def kit(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Kit:
    """Each provider in turn; a test-only provider is registered for the test. A test
    marked ``tenders`` is skipped for a provider that takes no voucher payments."""
    found: Kit = request.param
    if not found.tenders and request.node.get_closest_marker("tenders"):
        pytest.skip(f"{found.display_name} takes no voucher payments (no tender: it only sells digital "
                    "vouchers as value lines); this test is about paying with a voucher")
    if found.register:
        monkeypatch.setitem(registry.PACKAGES, found.name, found.descriptor_module)
    monkeypatch.setitem(ACTIVE, "currency", found.currency)  # the suite's amounts (Celbux: ZAR)
    return found


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[ServerThread, Any]]]:
    """One uvicorn server per provider and test module, started when first asked for."""
    started: dict[str, tuple[ServerThread, Any]] = {}
    yield started
    for server, _sim in started.values():
        server.stop()


def served(servers: dict[str, tuple[ServerThread, Any]], kit: Kit) -> tuple[ServerThread, Any]:
    """The kit's simulator behind a real HTTP server, back to its seed data."""
    if kit.name not in servers:
        app, sim = kit.build()
        servers[kit.name] = (ServerThread(app).start(), sim)
    server, sim = servers[kit.name]
    sim.reset()
    return server, sim


@dataclass
class Env:
    """A provider's simulator and an HTTP client that reaches it."""

    kit: Kit
    kind: str  # in_process | http
    sim: Any
    http: httpx.AsyncClient
    base_url: str

    @property
    def secrets(self) -> dict[str, str]:
        return self.kit.secrets(self.sim)

    @property
    def secret(self) -> str:
        """The value that must never leak."""
        return self.secrets[self.kit.secret]

    def client(self, secrets: dict[str, str] | None = None, timeout_s: float = CLIENT_TIMEOUT_S
               ) -> VoucherProvider:
        return self.kit.client(self.http, self.base_url, secrets or self.secrets, timeout_s)


@pytest.fixture(params=["in_process", "http"])
async def env(request: pytest.FixtureRequest, kit: Kit,
              servers: dict[str, tuple[ServerThread, Any]]) -> AsyncIterator[Env]:
    if request.param == "in_process":
        app, sim = kit.build()
        transport: httpx.AsyncBaseTransport | None = kit.transport(app)
        base_url = f"http://{kit.name}.sim"
    else:
        server, sim = served(servers, kit)
        transport, base_url = None, server.url
    async with httpx.AsyncClient(transport=transport) as http:
        yield Env(kit, request.param, sim, http, base_url)
    await sim.wait_applied(30.0)  # nothing held lands in the next test's ledger
    sim.clear_faults()


@pytest.fixture
def provider_till(kit: Kit, write_config: Callable[..., Path],
                  till_factory: Callable[..., Till]) -> Callable[..., Till]:
    """A till whose only provider is the kit's in-process simulator (``sim://<name>``)."""

    def make(timeout_s: float = CLIENT_TIMEOUT_S, settle_s: float = 10.0) -> Till:
        return till_factory(load_config(write_config(kit.section(timeout_s, settle_s), currency=kit.currency)))

    return make
