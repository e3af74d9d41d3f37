"""The shared simulator plumbing (pos_app.providers.simkit), and late application.

Part one builds a tiny provider on :class:`SimulatorBase` (what JTL, CSQ and
Celbux will do) and checks the generic parts: snapshot, reset, the admin
routes, faults, the request log and held POSTs.

Part two is the E-GUMA contract for a provider that keeps working after the
till gave up (``apply_delay_s``): the client times out (UnknownOutcome),
the state read right after is unchanged, and a moment later the request
has been applied with our reference. In-process (the client's timeout
cancels the request's coroutine), over uvicorn in a thread (the client
hangs up) and in a separate ``pos simulate eguma`` process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pos_app.domain.money import Money
from pos_app.providers.base import OpContext, TenderRef, UnknownOutcome
from pos_app.providers.eguma.client import EgumaClient
from pos_app.providers.eguma.simulator import EgumaSimulator, build_app
from pos_app.providers.simkit import (
    ASGIApp,
    Faults,
    JsonObject,
    RequestRecord,
    ServerThread,
    SimulatorBase,
    in_process_transport,
    json_body,
    reply_response,
    simulator_app,
    writes,
)

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 30.0  # generous bound for anything that polls (slow CI)


# ---------------------------------------------------------------------------
# A tiny provider built on simkit: a tally that POST /v1/add adds to
# ---------------------------------------------------------------------------
@dataclass
class TallyState:
    total: int = 0
    adds: list[int] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)


class TallySim(SimulatorBase[TallyState]):
    def _fresh_state(self) -> TallyState:
        return TallyState()

    def _ledger_snapshot(self) -> JsonObject:
        return {"total": self.state.total, "adds": list(self.state.adds)}

    def add(self, amount: int) -> tuple[int, JsonObject | str]:
        with self._lock:
            if amount <= 0:
                return 400, "amount must be positive"
            self.state.total += amount
            self.state.adds.append(amount)
            return 200, {"total": self.state.total}

    def total(self) -> int:
        with self._lock:
            return self.state.total


def tally_app() -> tuple[ASGIApp, TallySim]:
    sim = TallySim()

    async def add(request: Request) -> Response:
        body = await json_body(request) or {}
        return reply_response(sim.add(int(body.get("amount", 0))))

    async def total(request: Request) -> Response:
        return reply_response((200, {"total": sim.total()}))

    routes: list[BaseRoute] = [
        Route("/v1/add", add, methods=["POST"]),
        Route("/v1/total", total, methods=["GET"]),
    ]
    return simulator_app(sim, routes), sim


@pytest.fixture
async def tally() -> AsyncIterator[tuple[httpx.AsyncClient, TallySim]]:
    app, sim = tally_app()
    async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://tally.sim") as http:
        yield http, sim
        await sim.wait_applied()  # never leave a held POST behind on a closing loop


@pytest.fixture(scope="module")
def tally_server() -> Iterator[tuple[ServerThread, TallySim]]:
    app, sim = tally_app()
    with ServerThread(app) as running:
        yield running, sim


def test_writes_is_every_method_but_reads() -> None:
    assert [writes(m) for m in ("GET", "head", "OPTIONS")] == [False, False, False]
    assert [writes(m) for m in ("POST", "put", "PATCH", "DELETE")] == [True, True, True, True]


async def test_snapshot_reset_and_request_log_without_query(
    tally: tuple[httpx.AsyncClient, TallySim],
) -> None:
    http, sim = tally
    answer = await http.post("/v1/add", params={"key": "sk-secret-1"}, json={"amount": 5})
    assert answer.json() == {"total": 5}
    refused = await http.post("/v1/add", json={"amount": 0})
    assert (refused.status_code, refused.text) == (400, "amount must be positive")
    snapshot = sim.snapshot()
    assert snapshot["total"] == 5 and snapshot["adds"] == [5]
    assert [(r["method"], r["path"], r["status"], r["delivered"]) for r in snapshot["requests"]] == [
        ("POST", "/v1/add", 200, True),
        ("POST", "/v1/add", 400, True),
    ]
    assert snapshot["pending_posts"] == 0 and snapshot["faults"]["apply_delay_s"] == 0.0
    assert "sk-secret-1" not in str(snapshot)
    sim.set_apply_delay(2.0)
    sim.reset()
    assert sim.snapshot() == {
        "total": 0, "adds": [], "requests": [], "faults": asdict(Faults()), "pending_posts": 0,
    }


async def test_admin_routes_set_and_clear_every_fault(tally: tuple[httpx.AsyncClient, TallySim]) -> None:
    http, sim = tally
    spec = {
        "latency_s": 0.25,
        "apply_delay_s": 1.5,
        "fail_next": {"count": 2, "status": 502, "body": "gateway"},
        "drop_next_posts": 3,
    }
    faults = (await http.post("/_sim/faults", json=spec)).json()
    assert (faults["latency_s"], faults["apply_delay_s"]) == (0.25, 1.5)
    assert (faults["fail_count"], faults["fail_status"], faults["fail_body"]) == (2, 502, "gateway")
    assert faults["drop_posts"] == 3
    assert (await http.get("/_sim/state")).json()["faults"] == faults
    cleared = (await http.post("/_sim/faults", json={"clear": True})).json()
    assert cleared["apply_delay_s"] == 0.0 and cleared["drop_posts"] == 0
    bad = await http.post("/_sim/faults", json={"apply_delay_s": "soon"})
    assert bad.status_code == 400
    assert (await http.post("/_sim/faults", content=b"[1]")).status_code == 400
    assert sim.state.requests == []  # admin calls are not API requests


async def test_in_process_timeout_does_not_stop_a_held_post(
    tally: tuple[httpx.AsyncClient, TallySim],
) -> None:
    http, sim = tally
    sim.set_apply_delay(1.0)
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v1/add", json={"amount": 7}, timeout=0.1)
    # the read just after the timeout sees the old state; the POST is still held
    assert (await http.get("/v1/total")).json() == {"total": 0}
    assert sim.pending_posts() == 1
    await sim.wait_applied()
    assert sim.pending_posts() == 0
    assert (sim.total(), sim.state.adds) == (7, [7])
    post, get = sim.state.requests
    assert (post.method, post.status, post.delivered) == ("POST", 200, False)
    assert (get.method, get.status, get.delivered) == ("GET", 200, True)


async def test_a_patient_client_gets_the_late_answer(tally: tuple[httpx.AsyncClient, TallySim]) -> None:
    http, sim = tally
    sim.set_apply_delay(0.2)
    answer = await http.post("/v1/add", json={"amount": 3}, timeout=WAIT_S)
    assert answer.json() == {"total": 3}
    [record] = sim.state.requests
    assert (record.status, record.delivered) == (200, True)
    assert sim.pending_posts() == 0


async def test_reads_are_not_held_but_latency_still_applies(
    tally: tuple[httpx.AsyncClient, TallySim],
) -> None:
    http, sim = tally
    sim.set_apply_delay(WAIT_S)  # would fail the read below if GETs were held
    assert (await http.get("/v1/total", timeout=5.0)).json() == {"total": 0}
    sim.clear_faults()
    sim.set_latency(0.5)
    with pytest.raises(httpx.ReadTimeout):
        await http.get("/v1/total", timeout=0.05)
    assert [r.delivered for r in sim.state.requests] == [True, False]


async def test_an_injected_failure_is_not_held_and_applies_nothing(
    tally: tuple[httpx.AsyncClient, TallySim],
) -> None:
    http, sim = tally
    sim.set_apply_delay(WAIT_S)
    sim.fail_next(1, status=503, body="busy")
    answer = await http.post("/v1/add", json={"amount": 4}, timeout=5.0)
    assert (answer.status_code, answer.text) == (503, "busy")
    assert sim.pending_posts() == 0 and sim.total() == 0


async def test_held_then_dropped_is_applied_and_unanswered(
    tally: tuple[httpx.AsyncClient, TallySim],
) -> None:
    http, sim = tally
    sim.set_apply_delay(0.2)
    sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/v1/add", json={"amount": 9}, timeout=WAIT_S)
    assert sim.total() == 9
    [record] = sim.state.requests
    assert (record.status, record.delivered) == (200, False)
    assert sim.faults.drop_posts == 0


async def test_wait_applied_gives_up_after_its_timeout(tally: tuple[httpx.AsyncClient, TallySim]) -> None:
    http, sim = tally
    sim.set_apply_delay(1.0)
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v1/add", json={"amount": 1}, timeout=0.05)
    with pytest.raises(TimeoutError):
        await sim.wait_applied(timeout_s=0.01)
    await sim.wait_applied()
    assert sim.total() == 1


async def test_uvicorn_applies_a_held_post_after_the_client_hung_up(
    tally_server: tuple[ServerThread, TallySim],
) -> None:
    server, sim = tally_server
    sim.reset()
    sim.set_apply_delay(1.0)
    async with httpx.AsyncClient(base_url=server.url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/add", json={"amount": 11}, timeout=0.1)
        assert (await http.get("/v1/total")).json() == {"total": 0}
        assert (await http.get("/_sim/state")).json()["pending_posts"] == 1
        assert await poll_state(http, lambda s: s["pending_posts"] == 0)
        state = (await http.get("/_sim/state")).json()
    assert (state["total"], state["adds"]) == (11, [11])
    post = state["requests"][0]
    assert (post["method"], post["status"], post["delivered"]) == ("POST", 200, False)
    sim.reset()


async def test_one_connection_serves_many_requests(tally_server: tuple[ServerThread, TallySim]) -> None:
    server, sim = tally_server
    sim.reset()
    async with httpx.AsyncClient(base_url=server.url) as http:
        for amount in (1, 2, 3):
            await http.post("/v1/add", json={"amount": amount})
            await http.get("/v1/total")
    assert sim.total() == 6
    assert len(sim.state.requests) == 6
    assert len({r.client for r in sim.state.requests}) == 1
    sim.reset()


async def poll_state(http: httpx.AsyncClient, done: Any, timeout_s: float = WAIT_S) -> bool:
    """Poll ``/_sim/state`` until ``done(state)``; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done((await http.get("/_sim/state", timeout=5.0)).json()):
            return True
        await asyncio.sleep(0.02)
    return False


# ---------------------------------------------------------------------------
# E-GUMA: the provider applies the request after the till gave up
# ---------------------------------------------------------------------------
KEY = "demo-outlet-key"
CLIENT_TIMEOUT_S = 0.3
APPLY_DELAY_S = 1.0
PAID = "L4FU5LQTKJR3"  # 50.00 of 100.00
DEPOT_FIXED = "EADSHD24AKS5"  # depot, 50.00, not yet sold
DEPOT_SOLD = "DEPOSOLD0100"  # depot, sold, unused (100.00)


def ctx(reference: str = "test-1-000001") -> OpContext:
    return OpContext(reference, None, datetime.now())


def chf(cents: int) -> Money:
    return Money(cents, "CHF")


@dataclass
class Late:
    kind: str
    sim: EgumaSimulator
    eguma: EgumaClient  # times out after CLIENT_TIMEOUT_S

    def last_post(self) -> RequestRecord:
        return [r for r in self.sim.state.requests if r.method == "POST"][-1]


@pytest.fixture(scope="module")
def eguma_server() -> Iterator[tuple[ServerThread, EgumaSimulator]]:
    app, sim = build_app()
    with ServerThread(app) as running:
        yield running, sim


@pytest.fixture(params=["in_process", "uvicorn"])
async def late(request: pytest.FixtureRequest) -> AsyncIterator[Late]:
    if request.param == "in_process":
        app, sim = build_app()
        transport: httpx.AsyncBaseTransport | None = in_process_transport(app)
        base_url = "http://eguma.sim"
    else:
        server, sim = request.getfixturevalue("eguma_server")
        sim.reset()
        transport, base_url = None, server.url
    async with httpx.AsyncClient(transport=transport) as http:
        yield Late(request.param, sim, EgumaClient(http, KEY, base_url, "CHF", CLIENT_TIMEOUT_S))
        sim.clear_faults()
        await sim.wait_applied()


async def test_late_redeem_lands_after_the_timeout(late: Late) -> None:
    before = (await late.eguma.balance(PAID)).balance
    late.sim.set_apply_delay(APPLY_DELAY_S)
    with pytest.raises(UnknownOutcome):
        await late.eguma.authorize(PAID, chf(1200), ctx("order-7/tender-1"))
    assert (await late.eguma.balance(PAID)).balance == before == chf(5000)
    assert late.sim.pending_posts() == 1  # still held after that read: the read saw the old state
    assert late.sim.state.redemptions == {}

    await late.sim.wait_applied()
    assert (await late.eguma.balance(PAID)).balance == before - chf(1200)
    [row] = late.sim.state.redemptions.values()
    assert (row.code, row.amount_in_cents, row.reference, row.cancelled_in_cents) == (
        PAID, 1200, "order-7/tender-1", 0,
    )
    post = late.last_post()
    assert (post.path, post.status, post.delivered) == (f"/v1/vouchers/{PAID}/redeem.json", 200, False)


async def test_late_cancel_redemption_lands_after_the_timeout(late: Late) -> None:
    auth = await late.eguma.authorize(PAID, chf(2000), ctx("order-8/tender-1"))
    assert auth.new_balance == chf(3000)
    late.sim.set_apply_delay(APPLY_DELAY_S)
    with pytest.raises(UnknownOutcome):
        await late.eguma.void(TenderRef(auth.code, auth.amount, auth.refs), auth.amount, ctx())
    assert (await late.eguma.balance(PAID)).balance == chf(3000)
    assert late.sim.pending_posts() == 1
    assert late.sim.state.redemptions[auth.refs["redeem_token"]].cancelled_in_cents == 0

    await late.sim.wait_applied()
    assert (await late.eguma.balance(PAID)).balance == chf(5000)
    row = late.sim.state.redemptions[auth.refs["redeem_token"]]
    assert (row.amount_in_cents, row.cancelled_in_cents, row.reference) == (2000, 2000, "order-8/tender-1")
    post = late.last_post()
    assert (post.path, post.status, post.delivered) == (
        f"/v1/vouchers/{PAID}/cancel_redemption.json", 200, False,
    )


async def test_late_activation_lands_after_the_timeout(late: Late) -> None:
    late.sim.set_apply_delay(APPLY_DELAY_S)
    with pytest.raises(UnknownOutcome):
        await late.eguma.create_value(DEPOT_FIXED, None, ctx())
    status = await late.eguma.check_value(DEPOT_FIXED)
    assert status.can_create and status.amount == chf(5000)
    assert late.sim.pending_posts() == 1
    assert late.sim.state.activations == []

    await late.sim.wait_applied()
    assert not (await late.eguma.check_value(DEPOT_FIXED)).can_create
    assert (await late.eguma.balance(DEPOT_FIXED)).balance == chf(5000)
    [row] = late.sim.state.activations
    assert (row.code, row.amount_in_cents) == (DEPOT_FIXED, 5000)
    assert late.last_post().status == 200 and late.last_post().delivered is False


async def test_late_deactivation_lands_after_the_timeout(late: Late) -> None:
    late.sim.set_apply_delay(APPLY_DELAY_S)
    with pytest.raises(UnknownOutcome):
        await late.eguma.undo_value(DEPOT_SOLD, ctx(), "order 9 cancelled")
    status = await late.eguma.check_undo(DEPOT_SOLD)
    assert status.can_undo and status.amount == chf(10000)
    assert late.sim.pending_posts() == 1
    assert late.sim.state.deactivations == []

    await late.sim.wait_applied()
    assert not (await late.eguma.check_undo(DEPOT_SOLD)).can_undo
    assert (await late.eguma.balance(DEPOT_SOLD)).balance == chf(0)
    [row] = late.sim.state.deactivations
    assert (row.code, row.amount_in_cents, row.reason) == (DEPOT_SOLD, 10000, "order 9 cancelled")
    assert late.last_post().status == 200 and late.last_post().delivered is False


async def test_pending_count_over_http_goes_from_one_to_zero(
    eguma_server: tuple[ServerThread, EgumaSimulator],
) -> None:
    server, sim = eguma_server
    sim.reset()
    async with httpx.AsyncClient() as http:
        admin = await http.post(f"{server.url}/_sim/faults", json={"apply_delay_s": APPLY_DELAY_S})
        assert admin.json()["apply_delay_s"] == APPLY_DELAY_S
        eguma = EgumaClient(http, KEY, server.url, "CHF", CLIENT_TIMEOUT_S)
        with pytest.raises(UnknownOutcome):
            await eguma.authorize(PAID, chf(500), ctx("order-10/tender-1"))
        state = (await http.get(f"{server.url}/_sim/state")).json()
        assert state["pending_posts"] == 1
        assert state["vouchers"][PAID]["balance_in_cents"] == 5000
        async with httpx.AsyncClient(base_url=server.url) as admin_http:
            assert await poll_state(admin_http, lambda s: s["pending_posts"] == 0)
            state = (await admin_http.get("/_sim/state")).json()
    assert state["vouchers"][PAID]["balance_in_cents"] == 4500
    assert [(r["amount_in_cents"], r["reference"]) for r in state["redemptions"]] == [
        (500, "order-10/tender-1")
    ]
    sim.reset()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def simulate_process() -> Iterator[str]:
    """``pos simulate eguma`` in its own process; its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_app", "simulate", "eguma", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                httpx.get(f"{url}/_sim/state", timeout=1.0)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the simulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_late_redeem_in_a_separate_simulator_process(simulate_process: str) -> None:
    url = simulate_process
    async with httpx.AsyncClient() as http:
        await http.post(f"{url}/_sim/faults", json={"apply_delay_s": APPLY_DELAY_S})
        eguma = EgumaClient(http, KEY, url, "CHF", CLIENT_TIMEOUT_S)
        with pytest.raises(UnknownOutcome):
            await eguma.authorize(PAID, chf(2500), ctx("order-12/tender-1"))
        assert (await eguma.balance(PAID)).balance == chf(5000)
        assert (await http.get(f"{url}/_sim/state")).json()["pending_posts"] == 1
        async with httpx.AsyncClient(base_url=url) as admin:
            assert await poll_state(admin, lambda s: s["pending_posts"] == 0)
            state = (await admin.get("/_sim/state")).json()
        assert (await eguma.balance(PAID)).balance == chf(2500)
    assert [(r["amount_in_cents"], r["reference"]) for r in state["redemptions"]] == [
        (2500, "order-12/tender-1")
    ]
    [post] = [r for r in state["requests"] if r["method"] == "POST"]
    assert (post["status"], post["delivered"]) == (200, False)
