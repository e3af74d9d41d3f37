"""The E-GUMA simulator itself: wire format, admin endpoints, data file, invariants."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_app.providers.eguma import simulator
from pos_app.providers.eguma.simulator import (
    EgumaSimulator,
    ServerThread,
    SimulatorDataError,
    build_app,
    in_process_transport,
    load_data,
)

KEY = {"apikey": "demo-outlet-key"}
BALANCE = "/v1/vouchers/{}/balance.json"
REDEEM = "/v1/vouchers/{}/redeem.json"
CANCEL = "/v1/vouchers/{}/cancel_redemption.json"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerThread, EgumaSimulator]]:
    app, sim = build_app()
    with ServerThread(app) as running:
        yield running, sim


@pytest.fixture
async def http(server: tuple[ServerThread, EgumaSimulator]) -> AsyncIterator[httpx.AsyncClient]:
    running, sim = server
    sim.reset()
    async with httpx.AsyncClient(base_url=running.url) as client:
        yield client


# -- wire format (as recorded from the real API) ------------------------------------
async def test_balance_returns_canonical_code_and_all_fields(http: httpx.AsyncClient) -> None:
    response = await http.get(BALANCE.format("2qh3-QTDM-28N6"), params=KEY)
    assert response.status_code == 200
    assert response.json() == {
        "code": "2QH3QTDM28N6",
        "is_redeemable": True,
        "balance_in_cents": 200,
        "total_amount_in_cents": 5000,
        "currency": "CHF",
        "product_id": "gift-50",
        "message": "",
    }


async def test_cancel_echoes_the_code_as_sent(http: httpx.AsyncClient) -> None:
    redeemed = await http.post(REDEEM.format("2QH3QTDM28N6"), params=KEY, json={"amount_in_cents": 200})
    redeem = redeemed.json()
    assert redeem["code"] == "2QH3QTDM28N6" and redeem["balance_in_cents"] == 0
    cancel = await http.post(
        CANCEL.format("2QH3-QTDM-28N6"),
        params=KEY,
        json={"redeem_token": redeem["redeem_token"], "amount_in_cents": 200},
    )
    assert cancel.json() == {"code": "2QH3-QTDM-28N6", "balance_in_cents": 200}


async def test_missing_or_wrong_key_is_plain_text_401(http: httpx.AsyncClient) -> None:
    for params in ({}, {"apikey": "nope"}):
        response = await http.get(BALANCE.format("L4FU5LQTKJR3"), params=params)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "Ungültiger API-Key."


async def test_each_outlet_has_its_own_key(
    http: httpx.AsyncClient, server: tuple[ServerThread, EgumaSimulator]
) -> None:
    bern = {"apikey": "demo-outlet-key-bern"}
    response = await http.post(REDEEM.format("L4FU5LQTKJR3"), params=bern, json={"amount_in_cents": 100})
    assert response.status_code == 200
    [row] = server[1].state.redemptions.values()
    assert row.outlet == "Demo Shop Bern"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "Ungültige Anfrage: JSON erwartet."),
        (b"{}", "Der Parameter amount_in_cents fehlt oder ist ungültig."),
        (b'{"amount_in_cents": -5}', "Der Parameter amount_in_cents fehlt oder ist ungültig."),
        (b'{"amount_in_cents": true}', "Der Parameter amount_in_cents fehlt oder ist ungültig."),
    ],
)
async def test_bad_redeem_requests_are_400_plain_text(
    http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    json_type = {"content-type": "application/json"}
    response = await http.post(REDEEM.format("L4FU5LQTKJR3"), params=KEY, content=body, headers=json_type)
    assert (response.status_code, response.text) == (400, message)


async def test_unknown_voucher_on_redeem_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(REDEEM.format("NOPENOPENOPE"), params=KEY, json={"amount_in_cents": 1})
    assert (response.status_code, response.text) == (400, "Der Gutschein ist nicht vorhanden.")


async def test_refused_status_has_the_recorded_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/depot_vouchers/DEPOSOLD0100/activate_status.json", params=KEY)
    assert response.json() == {
        "can_be_activated": False,
        "amount_in_cents": 0,
        "message": "Der Gutschein wurde bereits aktiviert.",
    }


async def test_request_log_has_no_query_string(
    http: httpx.AsyncClient, server: tuple[ServerThread, EgumaSimulator]
) -> None:
    await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY)
    [record] = server[1].state.requests
    assert (record.method, record.path, record.status, record.delivered) == (
        "GET",
        "/v1/vouchers/L4FU5LQTKJR3/balance.json",
        200,
        True,
    )
    assert "demo-outlet-key" not in str(server[1].snapshot())


# -- admin endpoints (control of a simulator in another thread/process) ------------------
async def test_faults_over_http(http: httpx.AsyncClient) -> None:
    spec = {"fail_next": {"count": 2, "status": 503, "body": "busy"}}
    faults = await http.post("/_sim/faults", json=spec)
    assert faults.json()["fail_count"] == 2
    for _ in range(2):
        response = await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY)
        assert (response.status_code, response.text) == (503, "busy")
    assert (await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY)).status_code == 200


async def test_drop_over_http_applies_then_hangs_up(http: httpx.AsyncClient) -> None:
    await http.post("/_sim/faults", json={"drop_next_posts": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(REDEEM.format("L4FU5LQTKJR3"), params=KEY, json={"amount_in_cents": 700})
    state = (await http.get("/_sim/state")).json()
    assert [r["amount_in_cents"] for r in state["redemptions"]] == [700]
    assert state["vouchers"]["L4FU5LQTKJR3"]["balance_in_cents"] == 4300
    assert state["requests"][-1]["delivered"] is False
    # the next POST is answered normally
    ok = await http.post(REDEEM.format("L4FU5LQTKJR3"), params=KEY, json={"amount_in_cents": 300})
    assert ok.json()["balance_in_cents"] == 4000


async def test_latency_over_http(http: httpx.AsyncClient) -> None:
    await http.post("/_sim/faults", json={"latency_s": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY, timeout=0.1)
    await http.post("/_sim/faults", json={"clear": True})
    assert (await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY, timeout=1)).status_code == 200


async def test_reset_and_short_codes_over_http(http: httpx.AsyncClient) -> None:
    await http.post(REDEEM.format("L4FU5LQTKJR3"), params=KEY, json={"amount_in_cents": 5000})
    issued = await http.post("/_sim/short_codes", json={"code": "B200-CHF0-FULL", "short": "17"})
    assert issued.json() == {"short": "17"}
    balance = (await http.get(BALANCE.format("17"), params=KEY)).json()
    assert (balance["code"], balance["balance_in_cents"]) == ("B200CHF0FULL", 20000)
    expired = await http.post("/_sim/short_codes", json={"code": "B200CHF0FULL", "valid_for_s": 0})
    gone = (await http.get(BALANCE.format(expired.json()["short"]), params=KEY)).json()
    assert (gone["is_redeemable"], gone["message"]) == (False, "Der Kurzcode ist abgelaufen.")
    assert (await http.post("/_sim/short_codes", json={"code": "NOPE"})).status_code == 400

    await http.post("/_sim/reset")
    state = (await http.get("/_sim/state")).json()
    assert state["vouchers"]["L4FU5LQTKJR3"]["balance_in_cents"] == 5000
    assert state["redemptions"] == [] and state["requests"] == []
    assert "17" not in state["short_codes"] and "42" in state["short_codes"]


# -- in-process transport -----------------------------------------------------------------
async def test_in_process_drop_and_timeout_look_like_a_network() -> None:
    app, sim = build_app()
    transport = in_process_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://eguma.sim") as http:
        sim.drop_next_posts(1)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(REDEEM.format("L4FU5LQTKJR3"), params=KEY, json={"amount_in_cents": 100})
        assert sim.voucher("L4FU5LQTKJR3").balance_in_cents == 4900
        sim.set_latency(0.3)
        with pytest.raises(httpx.ReadTimeout):
            await http.get(BALANCE.format("L4FU5LQTKJR3"), params=KEY, timeout=0.05)


# -- data file ------------------------------------------------------------------------------
def test_demo_data_has_the_documented_vouchers() -> None:
    data = load_data()
    vouchers = {v.code: v for v in data.vouchers}
    assert data.outlets["demo-outlet-key"] == "Demo Shop Zürich"
    paid = vouchers["L4FU5LQTKJR3"]
    assert (paid.balance_in_cents, paid.total_amount_in_cents) == (5000, 10000)
    assert vouchers["2QH3QTDM28N6"].balance_in_cents == 200
    assert vouchers["EADSHD24AKS5"].depot and vouchers["EADSHD24AKS5"].amount_in_cents == 5000
    assert vouchers["FREEAMNT0001"].free_amount
    assert data.short_codes == [("42", "L4FU5LQTKJR3", 300.0)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[vouchers]]\ncode = "SHORT"\n', "12 letters/digits"),
        ('[[vouchers]]\ncode = "AAAABBBBCCCC"\nstatus = "lost"\n', "status"),
        ('[[vouchers]]\ncode = "AAAABBBBCCCC"\nbalance_in_cents = "5"\n', "integer"),
        ('[[short_codes]]\nshort = "42"\ncode = "AAAABBBBCCCC"\n', "known code"),
        ("[account\n", "data.toml"),
    ],
)
def test_bad_data_file_is_refused_clearly(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "data.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimulatorDataError, match=error):
        load_data(path)


# -- invariants --------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["redeem", "cancel"]), st.integers(1, 3000)), max_size=25))
def test_balance_always_equals_start_minus_open_redemptions(ops: list[tuple[str, int]]) -> None:
    sim = EgumaSimulator(load_data())
    code, start = "L4FU5LQTKJR3", 5000
    tokens: list[str] = []
    for op, amount in ops:
        if op == "redeem":
            status, body = sim.redeem(code, {"amount_in_cents": amount}, "test")
            if status == 200:
                assert isinstance(body, dict)
                tokens.append(body["redeem_token"])
        elif tokens:
            token = tokens[amount % len(tokens)]
            sim.cancel_redemption(code, {"redeem_token": token, "amount_in_cents": amount}, "test")
    open_total = sum(r.open_in_cents for r in sim.state.redemptions.values())
    balance = sim.voucher(code).balance_in_cents
    assert balance == start - open_total
    assert 0 <= balance <= start
    assert all(0 <= r.cancelled_in_cents <= r.amount_in_cents for r in sim.state.redemptions.values())


# -- serving --------------------------------------------------------------------------------------
async def test_serve_answers_over_http_until_cancelled() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = asyncio.create_task(simulator.serve("127.0.0.1", port))
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    url = f"http://127.0.0.1:{port}{BALANCE.format('42')}"
                    response = await http.get(url, params=KEY)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert response.json()["code"] == "L4FU5LQTKJR3"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
