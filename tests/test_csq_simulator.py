"""The CSQ eVSB simulator: salted-hash auth, purchases keyed on the account suffix,
idempotent references, additional data, transaction info, reverts, the terminal's
balance, faults, persistence and the data file; in-process and over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app.providers.csq import simulator
from pos_app.providers.csq.simulator import (
    CsqSimulator,
    ServerThread,
    SimulatorDataError,
    build_app,
    demo_secrets,
    in_process_transport,
    load_data,
    sign,
)

USER, PASSWORD = "demo-till", "demo-csq-password"
T1, T_SMALL, T_OTHER = "173101", "173102", "173201"  # demo-till's two terminals, another shop's
START = 1_796_000_000.0  # 2026-11-30T00:53:20Z
NOW = "2026-11-30T10:15:00+01:00"
DAY = "20261130"
NEXT_DAY = "2026-12-01T09:00:00+01:00"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth(clock: Clock, *, user: str = USER, password: str = PASSWORD, salt: int | None = None) -> dict[str, str]:
    st = str(int(clock.now) if salt is None else salt)
    return {"U": user, "ST": st, "SH": sign(password, st), "Accept": "application/json"}


class Api:
    """A till's calls: every request signed with a fresh salt from the simulator's clock."""

    def __init__(self, http: httpx.AsyncClient, sim: CsqSimulator, clock: Clock) -> None:
        self.http, self.sim, self.clock = http, sim, clock

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers=auth(self.clock))

    async def buy(self, ref: str | int, operator: str = "9991", terminal: str = T1, **body: Any) -> httpx.Response:
        payload: dict[str, Any] = {"amountToSendX100": 1000, "localDateTime": NOW, "account": "0791234000"}
        payload.update(body)
        payload = {k: v for k, v in payload.items() if v is not None}
        return await self.http.post(f"/pre-paid/vouchers/purchase/{terminal}/{operator}/{ref}",
                                    json=payload, headers=auth(self.clock))

    async def revert(self, ref: str | int, original: str | int, operator: str = "9991", terminal: str = T1,
                     **body: Any) -> httpx.Response:
        payload: dict[str, Any] = {"amountToSendX100": 1000, "localDateTime": NOW, "account": "0791234000",
                                   "originalLocalReference": str(original), "originalLocalDate": DAY}
        payload.update(body)
        return await self.http.post(f"/util/revert/{terminal}/{operator}/{ref}", json=payload,
                                    headers=auth(self.clock))

    async def info(self, ref: str | int, day: str = DAY, terminal: str = T1) -> dict[str, Any]:
        response = await self.get(f"/util/transaction/info/{terminal}/{ref}/{day}")
        assert response.status_code == 200
        return response.json()


def item(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert len(body["items"]) == 1, body
    return body["items"][0]


def result(response: httpx.Response) -> tuple[int, str]:
    return response.json()["rc"], item(response)["resultcode"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_api(clock: Clock, **kwargs: Any) -> Callable[[], AsyncIterator[Api]]:
    async def gen() -> AsyncIterator[Api]:
        app, sim = build_app(clock=clock, **kwargs)
        async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://csq.sim") as http:
            yield Api(http, sim, clock)

    return gen


@pytest.fixture
async def api(clock: Clock) -> AsyncIterator[Api]:
    async for value in make_api(clock, draw=lambda: 0.0)():
        yield value


# -- auth ----------------------------------------------------------------------------------------
async def test_ping_with_a_good_signature(api: Api) -> None:
    response = await api.get("/ping/hello")
    assert (response.status_code, response.json()) == (200, {"rc": 0, "echo": "hello"})


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"SH": "0" * 64}, 401),  # bad hash
        ({"U": "nobody"}, 401),  # unknown user
        ({"SH": sign(PASSWORD, str(int(START))).upper()}, 401),  # hex must be lowercase
        ({"ST": "", "SH": ""}, 401),
        ({"Accept": "json"}, 406),  # the literal json
        ({"Accept": "*/*"}, 406),
    ],
)
async def test_auth_refusals(api: Api, headers: dict[str, str], status: int) -> None:
    response = await api.http.get("/ping/x", headers={**auth(api.clock), **headers})
    assert response.status_code == status
    assert response.json()["rc"] == -1 and response.json()["items"] == []


@pytest.mark.parametrize(("offset", "status"), [(-30, 200), (-31, 401), (30, 200), (31, 401)])
async def test_the_salt_is_valid_30_seconds_either_way(api: Api, offset: int, status: int) -> None:
    response = await api.http.get("/ping/x", headers=auth(api.clock, salt=int(START) + offset))
    assert response.status_code == status


async def test_a_signature_of_another_password_is_refused_and_nothing_is_bought(api: Api) -> None:
    response = await api.http.post(f"/pre-paid/vouchers/purchase/{T1}/9991/1", headers=auth(api.clock, password="x"),
                                   json={"amountToSendX100": 1000, "localDateTime": NOW, "account": "1000"})
    assert response.status_code == 401 and api.sim.purchases() == []


async def test_a_terminal_of_another_user_is_403(api: Api) -> None:
    response = await api.buy(1, terminal=T_OTHER)
    assert response.status_code == 403 and response.json()["rc"] == -1
    other = auth(api.clock, user="other-shop", password="other-csq-password")
    assert (await api.http.get(f"/util/transaction/info/{T_OTHER}/1/{DAY}", headers=other)).status_code == 200
    assert (await api.http.get(f"/util/transaction/info/{T1}/1/{DAY}", headers=other)).status_code == 403
    assert api.sim.purchases() == [] and api.sim.balance(T_OTHER) == 50000


# -- purchases: the account suffix -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("account", "rc", "code"),
    [("0791234000", 0, "10"), ("0791234001", -1, "971"), ("0791234002", -1, "990"), ("0791234567", -1, "991")],
)
async def test_the_account_suffix_decides_the_outcome(api: Api, account: str, rc: int, code: str) -> None:
    response = await api.buy(7, account=account)
    assert response.status_code == 200 and result(response) == (rc, code)
    got = item(response)
    [row] = api.sim.purchases()
    assert (row.terminal, row.local_reference, row.date, row.operator, row.amount_x100, row.account,
            row.resultcode) == (T1, "7", DAY, "9991", 1000, account, code)
    if code == "10":
        assert got["voucherCode"] == got["suppliertoken"] == row.voucher_code and len(row.voucher_code) == 16
        assert got["supplierreference"] == row.supplierreference == "CSQ000000001"
        assert got["finalstatus"] is True and got["resultmessage"] == "Sale done"
        assert api.sim.balance(T1) == 100000 - 1000
    else:
        assert got["suppliertoken"] == "" and row.voucher_code is None
        assert api.sim.balance(T1) == 100000


async def test_dummy_pin_answers_its_redemption_data_inline(api: Api) -> None:
    got = item(await api.buy(1))
    assert got["hasAdditionalData"] is False
    assert got["redeemCode"] == got["voucherCode"] and got["redeemInstructions"] == "Enter the PIN at checkout."
    assert {"key": "barcode", "value": got["voucherCode"]} in got["additionalData"]


# -- idempotency ------------------------------------------------------------------------------------
async def test_a_replayed_reference_answers_the_original_and_buys_once(api: Api) -> None:
    first = await api.buy(42)
    api.clock.advance(20)
    again = await api.buy(42, localDateTime="2026-11-30T10:16:00")  # as the till sends it: no offset
    assert again.json() == first.json()
    assert len(api.sim.purchases()) == 1 and api.sim.balance(T1) == 99000
    refused = await api.buy(99, account="0791234001")
    assert (await api.buy(99, account="0791234001")).json() == refused.json()
    assert len(api.sim.purchases()) == 2


async def test_a_reference_reused_for_another_sale_the_same_day_is_a_duplicate(api: Api) -> None:
    await api.buy(42)
    duplicate = await api.buy(42, amountToSendX100=2000)
    assert result(duplicate) == (-1, "12")
    [row] = api.sim.purchases()
    assert row.amount_x100 == 1000 and api.sim.balance(T1) == 99000


async def test_the_same_reference_another_day_is_a_new_purchase(api: Api) -> None:
    one = item(await api.buy(42))
    two = item(await api.buy(42, localDateTime=NEXT_DAY))
    assert one["voucherCode"] != two["voucherCode"]
    assert sorted(p.date for p in api.sim.purchases()) == [DAY, "20261201"]
    assert api.sim.balance(T1) == 98000


# -- additional data ------------------------------------------------------------------------------------
async def test_random_operator_with_additional_data_404s_twice_first(api: Api) -> None:
    got = item(await api.buy(1, operator="9994"))
    assert got["hasAdditionalData"] is True  # draw() = 0.0 < 0.5
    path = f"/pre-paid/vouchers/additional-data/{T1}/9994/{got['suppliertoken']}"
    assert [(await api.get(path)).status_code for _ in range(3)] == [404, 404, 200]
    data = (await api.get(path)).json()["items"][0]
    assert (data["resultcode"], data["redeemCode"], data["expiration"]) == ("10", got["voucherCode"], "2027-11-30")
    assert data["redeemInstructions"] == "Show the barcode at the counter."


async def test_random_operator_without_additional_data(clock: Clock) -> None:
    async for api in make_api(clock, draw=lambda: 0.99)():
        got = item(await api.buy(1, operator="9994"))
        assert got["hasAdditionalData"] is False
        path = f"/pre-paid/vouchers/additional-data/{T1}/9994/{got['suppliertoken']}"
        assert (await api.get(path)).status_code == 200


async def test_the_seeded_draws_repeat_after_a_reset(clock: Clock) -> None:
    async for api in make_api(clock)():
        draws = [item(await api.buy(n, operator="9994"))["hasAdditionalData"] for n in range(1, 9)]
        api.sim.reset()
        again = [item(await api.buy(n, operator="9994"))["hasAdditionalData"] for n in range(1, 9)]
        assert draws == again and len(set(draws)) == 2


async def test_voucher_ad_false_always_has_additional_data_after_one_404(api: Api) -> None:
    got = item(await api.buy(1, operator="9995"))
    assert got["hasAdditionalData"] is True and got["voucherCode"]
    path = f"/pre-paid/vouchers/additional-data/{T1}/9995/{got['suppliertoken']}"
    assert [(await api.get(path)).status_code for _ in range(2)] == [404, 200]
    assert (await api.get(f"/pre-paid/vouchers/additional-data/{T1}/9995/nope")).status_code == 404


# -- products, parameters ----------------------------------------------------------------------------------
async def test_products_parameters_and_finished_products(api: Api) -> None:
    assert (await api.get(f"/pre-paid/vouchers/products/{T1}/4101")).status_code == 404
    products = (await api.get(f"/pre-paid/vouchers/products/{T1}/4201")).json()["items"]
    assert [(p["id"], p["totalAmountX100"]) for p in products] == [("R-2027-01", 500), ("R-2027-02", 1100)]
    params = (await api.get(f"/pre-paid/recharge/parameters/{T1}/4103")).json()
    assert (params["rc"], params["dynamic"]) == (0, False)
    assert [p["field"] for p in params["parameters"]] == ["documentNumber", "documentType"]
    assert set(params["parameters"][0]["labels"]) == {"en", "es"}
    assert (await api.get(f"/pre-paid/recharge/parameters/{T1}/4201")).json()["dynamic"] is True
    assert (await api.get(f"/pre-paid/recharge/parameters/{T1}/1234")).status_code == 404
    finished = (await api.get(f"/pre-paid/vouchers/finished-products/{T1}/4201")).json()["items"]
    assert finished[0]["id"] == "R-2026-12"
    assert (await api.get(f"/pre-paid/vouchers/finished-products/{T1}/9991")).status_code == 404


async def test_a_dynamic_product_debits_its_total_with_the_fee(api: Api) -> None:
    got = item(await api.buy(1, operator="4201", account=None, amountToSendX100=1000, dynamicProductId="R-2027-02"))
    assert (got["resultcode"], got["totalAmountX100"]) == ("10", 1100)
    assert api.sim.balance(T1) == 100000 - 1100


async def test_gift_cards_need_their_parameters(api: Api) -> None:
    sold = await api.buy(1, operator="4102", account=None, amountToSendX100=2500, receiverEmail="anna@example.ch")
    assert result(sold) == (0, "10") and item(sold)["hasAdditionalData"] is True
    passport = await api.buy(2, operator="4103", account=None, amountToSendX100=5000,
                             documentNumber="X1234567", documentType="PASSPORT")
    assert result(passport) == (0, "10") and len(item(passport)["voucherCode"]) == 16
    assert api.sim.transaction(T1, "2", DAY).fields == {"documentNumber": "X1234567", "documentType": "PASSPORT"}


# -- validation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "operator", "body", "message"),
    [
        ("1234567890", "9991", {}, "localReference"),
        ("12a", "9991", {}, "localReference"),
        ("1", "9991", {"destinationAmountX100": 1000}, "not both"),
        ("1", "9991", {"amountToSendX100": None}, "required"),
        ("1", "9991", {"amountToSendX100": "10.00"}, "whole number"),
        ("1", "9991", {"localDateTime": None}, "localDateTime"),
        ("1", "9991", {"localDateTime": "yesterday"}, "localDateTime"),
        ("1", "9991", {"account": None}, "account is required"),
        ("1", "4101", {"amountToSendX100": 3000}, "sells the amounts"),
        ("1", "4102", {"amountToSendX100": 500, "receiverEmail": "a@b.ch"}, "from 1000 to 20000"),
        ("1", "4102", {"amountToSendX100": 2000, "receiverEmail": "nobody"}, "e-mail"),
        ("1", "4103", {"amountToSendX100": 5000, "documentNumber": "X1", "documentType": "LICENCE"}, "documentType"),
        ("1", "4201", {"amountToSendX100": 500}, "dynamicProductId"),
        ("1", "4201", {"amountToSendX100": 900, "dynamicProductId": "R-2027-01"}, "amount of product"),
    ],
)
async def test_invalid_purchases_are_rc_minus_1_with_a_message_and_buy_nothing(
    api: Api, ref: str, operator: str, body: dict[str, Any], message: str
) -> None:
    response = await api.buy(ref, operator=operator, **body)
    assert response.status_code == 200
    assert response.json()["rc"] == -1 and response.json()["items"] == []
    assert message in response.json()["message"]
    assert api.sim.purchases() == [] and api.sim.balance(T1) == 100000
    assert (await api.buy(1)).json()["rc"] == 0  # the reference is still free


async def test_a_body_that_is_not_json_and_an_unknown_operator(api: Api) -> None:
    response = await api.http.post(f"/pre-paid/vouchers/purchase/{T1}/9991/1", content=b"{nope",
                                   headers=auth(api.clock))
    assert response.json() == {"rc": -1, "message": "The body must be a JSON object", "items": []}
    assert (await api.buy(1, operator="1234")).status_code == 404
    assert api.sim.purchases() == []


# -- transaction info -----------------------------------------------------------------------------------------
async def test_transaction_info_is_900_during_the_indexing_delay_then_the_original(api: Api) -> None:
    sold = (await api.buy(5)).json()
    refused = (await api.buy(6, account="0791234002")).json()
    for ref in (5, 6):
        early = await api.info(ref)
        assert (early["rc"], early["items"][0]["resultcode"], early["items"][0]["finalstatus"]) == (-1, "900", False)
    api.clock.advance(4.9)
    assert (await api.info(5))["items"][0]["resultcode"] == "900"
    api.clock.advance(0.1)
    info = await api.info(5)
    assert info["rc"] == 0
    assert info["items"][0] == {**sold["items"][0], "reverted": False}
    assert (await api.info(6))["items"][0]["resultcode"] == "990" and (await api.info(6))["rc"] == -1
    assert refused["items"][0]["resultcode"] == "990"


async def test_transaction_info_for_a_reference_never_received_is_not_found(api: Api) -> None:
    await api.buy(5)
    api.clock.advance(60)
    for ref, day in (("6", DAY), ("5", "20261201")):
        info = await api.info(ref, day)
        assert info["rc"] == -1 and info["items"][0]["resultcode"] == "404"
        assert info["items"][0]["resultmessage"] == "Transaction not found"


# -- reverts --------------------------------------------------------------------------------------------------
async def test_revert_refunds_a_sale_of_today_once(api: Api) -> None:
    await api.buy(10)
    assert api.sim.balance(T1) == 99000
    refund = await api.revert(11, 10)
    assert result(refund) == (0, "20") and item(refund)["supplierreference"] == "CSQ000000002"
    assert api.sim.balance(T1) == 100000
    assert (await api.revert(11, 10)).json() == refund.json()  # a replay of the revert
    assert result(await api.revert(12, 10)) == (-1, "12")  # a second revert of the sale
    assert api.sim.balance(T1) == 100000
    sale = api.sim.transaction(T1, "10", DAY)
    assert sale is not None and sale.reverted_by == f"{T1}/11/{DAY}"
    state = api.sim.snapshot()
    assert [(p["local_reference"], p["reverted"]) for p in state["purchases"]] == [("10", True)]
    assert [(r["local_reference"], r["resultcode"], r["original"]) for r in state["reverts"]] == [
        ("11", "20", f"{T1}/10/{DAY}"), ("12", "12", f"{T1}/10/{DAY}")]
    api.clock.advance(10)
    info = await api.info(10)
    assert info["items"][0]["resultcode"] == "10" and info["items"][0]["reverted"] is True
    assert (await api.info(11))["items"][0]["resultcode"] == "20"


async def test_revert_refusals(api: Api) -> None:
    await api.buy(10)
    await api.buy(20, account="0791234001")
    await api.buy(30, localDateTime=NEXT_DAY)
    assert result(await api.revert(1, 99)) == (-1, "404")  # unknown original
    assert result(await api.revert(2, 10, operator="9995")) == (-1, "404")  # another operator's reference
    assert result(await api.revert(3, 20, account="0791234001")) == (-1, "971")  # not a sale
    assert result(await api.revert(4, 10, amountToSendX100=500)) == (-1, "971")  # another amount
    assert result(await api.revert(5, 10, account="0790000000")) == (-1, "971")  # another account
    assert result(await api.revert(6, 30, originalLocalDate="2026-12-01")) == (-1, "971")  # not today
    assert api.sim.balance(T1) == 100000 - 2000
    assert all(not p.reverted_by for p in api.sim.purchases())
    invalid = await api.revert(7, 10, originalLocalDate="30.11.2026")
    assert invalid.json()["items"] == [] and "originalLocalDate" in invalid.json()["message"]
    assert result(await api.revert(8, 10)) == (0, "20")


# -- balance -------------------------------------------------------------------------------------------------
async def test_too_little_on_the_account_is_13_and_debits_nothing(api: Api) -> None:
    assert result(await api.buy(1, operator="4101", terminal=T_SMALL, account=None, amountToSendX100=2000)) == (0, "10")
    low = await api.buy(2, operator="4101", terminal=T_SMALL, account=None, amountToSendX100=2000)
    assert result(low) == (-1, "13") and item(low)["resultmessage"] == "Insufficient balance"
    assert api.sim.balance(T_SMALL) == 1000
    assert [p.resultcode for p in api.sim.purchases()] == ["10", "13"]
    assert (await api.http.get("/_sim/state")).json()["balances"][T_SMALL] == 1000


# -- faults -----------------------------------------------------------------------------------------------------
async def test_a_dropped_purchase_answer_is_applied_once(api: Api) -> None:
    api.sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.buy(50)
    assert len(api.sim.purchases()) == 1 and api.sim.balance(T1) == 99000
    assert (await api.info(50))["items"][0]["resultcode"] == "900"  # right after: not indexed yet
    again = await api.buy(50)
    assert result(again) == (0, "10") and item(again)["voucherCode"] == api.sim.purchases()[0].voucher_code
    assert len(api.sim.purchases()) == 1 and api.sim.balance(T1) == 99000


async def test_a_dropped_revert_answer_is_applied_once(api: Api) -> None:
    await api.buy(50)
    api.sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.revert(51, 50)
    assert api.sim.balance(T1) == 100000
    assert result(await api.revert(51, 50)) == (0, "20")
    assert api.sim.balance(T1) == 100000 and len(api.sim.reverts()) == 1


async def test_an_injected_failure_applies_nothing(api: Api) -> None:
    await api.http.post("/_sim/faults", json={"fail_next": {"count": 2, "status": 503}})
    assert (await api.buy(60)).status_code == 503
    assert (await api.revert(61, 60)).status_code == 503
    assert api.sim.purchases() == [] and api.sim.reverts() == []
    assert (await api.info(60))["items"][0]["resultcode"] == "404"


async def test_a_late_purchase_is_900_while_held_then_applied(clock: Clock) -> None:
    async for api in make_api(clock, indexing_delay_s=0.0)():
        api.sim.set_apply_delay(0.3)
        with pytest.raises(httpx.ReadTimeout):
            await api.http.post(f"/pre-paid/vouchers/purchase/{T1}/9991/70", headers=auth(clock), timeout=0.05,
                                json={"amountToSendX100": 1000, "localDateTime": NOW, "account": "0791234000"})
        assert api.sim.purchases() == []
        assert (await api.info(70))["items"][0]["resultcode"] == "900"
        await api.sim.wait_applied()
        assert (await api.info(70))["items"][0]["resultcode"] == "10"
        assert api.sim.snapshot()["arrived"] == [] and api.sim.balance(T1) == 99000
        api.sim.set_apply_delay(0.0)
        assert (await api.buy(70)).json()["items"][0]["voucherCode"] == api.sim.purchases()[0].voucher_code


async def test_latency_delays_the_answer_of_a_revert(api: Api) -> None:
    await api.buy(80)
    api.sim.set_latency(0.2)
    with pytest.raises(httpx.ReadTimeout):
        await api.http.post(f"/util/revert/{T1}/9991/81", headers=auth(api.clock), timeout=0.05, json={
            "amountToSendX100": 1000, "localDateTime": NOW, "account": "0791234000",
            "originalLocalReference": "80", "originalLocalDate": DAY})
    assert api.sim.balance(T1) == 100000  # applied before the latency


async def test_request_log_holds_no_secret_and_reset_restores_the_seed(api: Api) -> None:
    await api.buy(1)
    state = (await api.http.get("/_sim/state")).json()
    text = json.dumps(state["requests"])
    assert PASSWORD not in text and auth(api.clock)["SH"] not in text
    assert state["requests"][0]["path"] == f"/pre-paid/vouchers/purchase/{T1}/9991/1"
    await api.http.post("/_sim/reset")
    state = (await api.http.get("/_sim/state")).json()
    assert state["purchases"] == [] and state["balances"][T1] == 100000


async def test_settings_over_the_admin_route(api: Api) -> None:
    answer = await api.http.post("/_sim/settings", json={
        "indexing_delay_s": 0, "additional_data_404s": {"9995": 3}, "balances": {T1: 500}})
    assert answer.status_code == 200
    assert (answer.json()["indexing_delay_s"], answer.json()["additional_data_404s"]["9995"]) == (0.0, 3)
    assert result(await api.buy(1)) == (-1, "13")  # CHF 10 on an account of CHF 5
    assert (await api.info(1))["items"][0]["resultcode"] == "13"  # no indexing delay any more
    await api.http.post("/_sim/settings", json={"balances": {T1: 100000}})
    got = item(await api.buy(2, operator="9995"))
    path = f"/pre-paid/vouchers/additional-data/{T1}/9995/{got['suppliertoken']}"
    assert [(await api.get(path)).status_code for _ in range(4)] == [404, 404, 404, 200]
    for bad in ({"balances": {"999": 1}}, {"additional_data_404s": {"1": 1}}, {"indexing_delay_s": -1},
                {"balances": {T1: "lots"}}):
        assert (await api.http.post("/_sim/settings", json=bad)).status_code == 400
    assert load_data().operators["9995"].additional_data_404s == 1  # the seed data is not changed


# -- persistence -------------------------------------------------------------------------------------------------
async def test_persist_keeps_purchases_reverts_and_balances(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "csq.json"
    async for api in make_api(clock, draw=lambda: 0.0)():
        api.sim.persist(path)
        code = item(await api.buy(1))["voucherCode"]
        await api.buy(2, operator="9994")
        await api.revert(3, 1)
    async for again in make_api(clock)():
        again.sim.persist(path)
        assert again.sim.balance(T1) == 99000
        assert [(p.local_reference, p.reverted_by is not None) for p in again.sim.purchases()] == [
            ("1", True), ("2", False)]
        assert (await again.buy(1)).json()["items"][0]["voucherCode"] == code  # still idempotent
        assert result(await again.revert(4, 1)) == (-1, "12")
        assert item(await again.buy(5))["supplierreference"] == "CSQ000000004"  # the sequence goes on


# -- data -----------------------------------------------------------------------------------------------------
def test_demo_data_has_the_documented_operators_users_and_port() -> None:
    data = load_data()
    assert {"9991", "9994", "9995"} <= set(data.operators)
    assert data.operators["4101"].amounts_x100 == [2000, 5000, 10000]
    assert (data.operators["4102"].min_x100, data.operators["4102"].max_x100) == (1000, 20000)
    assert [o for o, op in data.operators.items() if op.products] == ["4201"]
    _app, sim = build_app()
    assert demo_secrets(sim) == {"username": USER, "password": PASSWORD}
    assert (simulator.API_ROOT, simulator.DEFAULT_PORT) == ("", 8767)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[account\n", "data.toml"),
        ('[[terminals]]\nid = "1"\n[[users]]\nusername = "u"\npassword = "p"\nterminals = ["2"]\n', "not among"),
        ('[[users]]\nusername = "u"\n', "password"),
        ("[account]\nindexing_delay_s = -1\n", "indexing_delay_s"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "1"\nparameters = ["colour"]\n',
         "parameters"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "1"\nadditional_data = "maybe"\n',
         "additional_data"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "1"\ntest_accounts = true\n', "account"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "1"\namounts_x100 = [20.5]\n',
         "amounts_x100"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "a/b"\n', "id is required"),
        ('[[users]]\nusername = "u"\npassword = "p"\n[[operators]]\nid = "1"\n'
         '[[operators.products]]\nid = "p"\n', "amountToSendX100"),
    ],
)
def test_bad_data_file_is_refused_clearly(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "data.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimulatorDataError, match=error):
        load_data(path)


# -- over real HTTP ---------------------------------------------------------------------------------------------
async def test_over_http_a_dropped_purchase_and_revert_are_applied_once(clock: Clock) -> None:
    app, sim = build_app(clock=clock)
    with ServerThread(app) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            api = Api(http, sim, clock)
            await http.post("/_sim/faults", json={"drop_next_posts": 1})
            with pytest.raises(httpx.RemoteProtocolError):
                await api.buy(90)
            assert result(await api.buy(90)) == (0, "10")
            await http.post("/_sim/faults", json={"drop_next_posts": 1})
            with pytest.raises(httpx.RemoteProtocolError):
                await api.revert(91, 90)
            assert result(await api.revert(91, 90)) == (0, "20")
            state = (await http.get("/_sim/state")).json()
            assert [p["reverted"] for p in state["purchases"]] == [True] and len(state["reverts"]) == 1
            assert state["balances"][T1] == 100000
            assert [(r["method"], r["delivered"]) for r in state["requests"]] == [
                ("POST", False), ("POST", True), ("POST", False), ("POST", True)]
            wrong = await http.get("/ping/x", headers={**auth(clock), "Accept": "json"})
            assert wrong.status_code == 406


async def test_serve_answers_over_http_until_cancelled() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = asyncio.create_task(simulator.serve("127.0.0.1", port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    response = await http.get("/ping/up", headers=auth(Clock(), salt=int(time.time())))
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert response.json() == {"rc": 0, "echo": "up"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
