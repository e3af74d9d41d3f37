"""The Celbux simulator: bearer tokens scoped to calls and communities, string-only
fields, every code, platform-unique References, createVoucher with its SMS log,
pay, reverse, the payment lookup, faults, persistence and the data file; in-process
and over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app.providers.celbux import simulator
from pos_app.providers.celbux.simulator import (
    CelbuxSimulator,
    ServerThread,
    SimulatorDataError,
    build_app,
    demo_secrets,
    in_process_transport,
    load_data,
)

NS, OTHER_NS, STORE = "demo-za", "demo-za-market", "Store1"
TOKEN, VIEWER = "demo-celbux-token-till", "demo-celbux-token-viewer"
NORMAL, LITTLE, USED_UP, LOCKED = "168-78439-48310", "168-11111-22222", "168-33333-44444", "168-55555-66666"
KNOWN, OTHER_USER, NEW_USER = "27648302057", "27821234567", "27831112222"
FUNDS = 1_000_000
START = 1_796_000_000.0  # 2026-11-30T00:53:20Z = 02:53 in South Africa


class Api:
    """A till's calls: every field a string, the token in the header, ns in the query."""

    def __init__(self, http: httpx.AsyncClient, sim: CelbuxSimulator) -> None:
        self.http, self.sim = http, sim

    async def post(self, call: str, body: dict[str, Any], *, token: str | None = TOKEN, ns: str = NS,
                   **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"bearer {token}"} if token else {}
        return await self.http.post(f"/{call}?ns={ns}", json=body, headers=headers, **kwargs)

    async def call(self, call: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = await self.post(call, body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def pay(self, ref: str, amount: str = "1000", voucher: str = NORMAL, **kwargs: Any) -> dict[str, Any]:
        return await self.call("pay", {"VoucherNo": voucher, "Amount": amount, "Currency": "ZAR",
                                       "StoreID": STORE, "Reference": ref, "Metadata": "{}"}, **kwargs)

    async def create(self, ref: str, amount: str = "2000", user: str | None = NEW_USER,
                     **kwargs: Any) -> dict[str, Any]:
        body = {"VoucherType": "168Cash", "Amount": amount, "Currency": "ZAR", "StoreID": STORE,
                "Reference": ref, "Metadata": '{"ActorUserIDs": "547828938941114"}'}
        if user is not None:
            body["Username"] = user
        return await self.call("createVoucher", body, **kwargs)

    async def reverse(self, ref: str, *, old: str | None = None, tid: str | None = None,
                      **kwargs: Any) -> dict[str, Any]:
        body = {"StoreID": STORE, "Reference": ref}
        if old is not None:
            body["OldReference"] = old
        if tid is not None:
            body["TID"] = tid
        return await self.call("reverse", body, **kwargs)

    async def lookup(self, *, old: str | None = None, tid: str | None = None) -> dict[str, Any]:
        body = {"StoreID": STORE}
        if old is not None:
            body["OldReference"] = old
        if tid is not None:
            body["TID"] = tid
        return await self.call("payment", body)

    async def view(self, voucher: str, **kwargs: Any) -> dict[str, Any]:
        return await self.call("viewVoucher", {"VoucherNo": voucher}, **kwargs)


def status(answer: dict[str, Any]) -> tuple[str, str]:
    return answer["State"], answer["Status"]


OK = ("Success", "1")


def failed(code: str) -> tuple[str, str]:
    return ("Failed", code)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    app, sim = build_app(clock=lambda: START)
    async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://celbux.sim") as http:
        yield Api(http, sim)


# -- auth and scope --------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "bearer nope-nope-nope", "Basic demo-celbux-token-till",
                                    "demo-celbux-token-till"])
async def test_no_or_an_unknown_token_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.http.post(f"/viewVoucher?ns={NS}", json={"VoucherNo": NORMAL}, headers=headers)
    assert response.status_code == 401
    assert status(response.json()) == failed("-5")


async def test_the_scheme_is_case_insensitive(api: Api) -> None:
    response = await api.http.post(f"/viewVoucher?ns={NS}", json={"VoucherNo": NORMAL},
                                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert status(response.json()) == OK


async def test_a_call_or_community_out_of_the_tokens_scope_is_minus_5_and_changes_nothing(api: Api) -> None:
    assert status(await api.view(NORMAL, token=VIEWER)) == OK
    answer = await api.pay("p1", token=VIEWER)
    assert status(answer) == failed("-5") and answer["Error"] == "Transaction Failed - Not Authorised"
    assert status(await api.create("c1", token=VIEWER)) == failed("-5")
    assert status(await api.call("payment", {"StoreID": STORE, "OldReference": "p1"}, token=VIEWER)) == failed("-5")
    assert status(await api.view("168-77777-88888", ns=OTHER_NS)) == failed("-5")
    assert api.sim.voucher(NORMAL).balance == 25000 and api.sim.transactions() == []
    assert status(await api.pay("p1")) == OK  # the reference stayed free


# -- the body ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"VoucherNo": NORMAL, "Amount": 1000, "Currency": "ZAR", "StoreID": STORE, "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "10.00", "Currency": "ZAR", "StoreID": STORE, "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "0", "Currency": "ZAR", "StoreID": STORE, "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "-5", "Currency": "ZAR", "StoreID": STORE, "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "EUR", "StoreID": STORE, "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": "Store9", "Reference": "x"},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": STORE},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": STORE, "Reference": ""},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": STORE, "Reference": "x",
         "Metadata": "{not json"},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": STORE, "Reference": "x",
         "Metadata": {"a": "b"}},
        {"VoucherNo": NORMAL, "Amount": "1000", "Currency": "ZAR", "StoreID": STORE, "Reference": 7},
    ],
)
async def test_an_invalid_pay_is_minus_1_and_debits_nothing(api: Api, body: dict[str, Any]) -> None:
    answer = await api.call("pay", body)
    assert status(answer) == failed("-1") and answer["Error"]
    assert api.sim.voucher(NORMAL).balance == 25000 and api.sim.transactions() == []


async def test_a_body_that_is_not_an_object_and_a_missing_ns(api: Api) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}
    for content in (b"not json", b"[]", b""):
        response = await api.http.post(f"/pay?ns={NS}", content=content, headers=headers)
        assert status(response.json()) == failed("-1")
    response = await api.http.post("/viewVoucher", json={"VoucherNo": NORMAL}, headers=headers)
    assert status(response.json()) == failed("-1")
    assert (await api.http.get(f"/pay?ns={NS}", headers=headers)).status_code == 405


# -- viewVoucher and pay ------------------------------------------------------------------------------------
async def test_view_voucher_answers_owner_type_title_balance_and_lock(api: Api) -> None:
    answer = await api.view(NORMAL)
    assert {k: answer[k] for k in ("Owner", "VoucherNo", "VoucherType", "Title", "Amount", "Locked")} == {
        "Owner": KNOWN, "VoucherNo": NORMAL, "VoucherType": "168Cash", "Title": "168 Cash",
        "Amount": "25000", "Locked": "false"}
    assert answer["TID"].isdigit() and status(answer) == OK
    assert ((await api.view(LOCKED))["Locked"], (await api.view(USED_UP))["Amount"]) == ("true", "0")
    assert (await api.view(LITTLE))["Title"] == "168 Gift Voucher"
    assert status(await api.view("168-00000-00000")) == failed("-3")
    assert status(await api.view("168-77777-88888")) == failed("-3")  # of another community
    assert all(isinstance(v, str) for v in answer.values())


async def test_pay_debits_the_voucher_and_credits_the_store(api: Api) -> None:
    answer = await api.pay("p1", amount="2500")
    assert status(answer) == OK
    assert (answer["Reference"], answer["Amount"], answer["Created"]) == ("p1", "2500", "2026/11/30 02:53")
    assert api.sim.voucher(NORMAL).balance == 22500 and api.sim.balance(STORE) == FUNDS + 2500
    assert (await api.view(NORMAL))["Amount"] == "22500"


@pytest.mark.parametrize(("voucher", "amount", "code"), [
    (LITTLE, "351", "-4"), (USED_UP, "1", "-4"), (LOCKED, "100", "-7"), ("168-00000-00000", "100", "-3"),
    ("not-a-voucher", "100", "-3")])
async def test_pay_refusals(api: Api, voucher: str, amount: str, code: str) -> None:
    assert status(await api.pay("p1", amount=amount, voucher=voucher)) == failed(code)
    assert api.sim.transactions() == [] and api.sim.balance(STORE) == FUNDS
    assert status(await api.pay("p2", amount="350", voucher=LITTLE)) == OK  # exactly the balance
    assert api.sim.voucher(LITTLE).balance == 0


async def test_a_reference_is_unique_across_all_calls(api: Api) -> None:
    assert status(await api.pay("r1")) == OK
    assert status(await api.pay("r1")) == failed("-2")  # a replay applies nothing
    assert status(await api.create("r1")) == failed("-2")
    assert status(await api.reverse("r1", old="r1")) == failed("-2")
    assert status(await api.create("r2")) == OK
    assert status(await api.pay("r2")) == failed("-2")
    assert api.sim.voucher(NORMAL).balance == 24000 and len(api.sim.transactions()) == 2
    assert api.sim.sms_to(NEW_USER)[0].kind == "new_user" and len(api.sim.sms_to(NEW_USER)) == 1


# -- createVoucher and the SMS log -----------------------------------------------------------------------------
async def test_create_voucher_for_a_new_user_creates_the_user_and_texts_the_credentials(api: Api) -> None:
    answer = await api.create("c1", amount="2000")
    assert status(answer) == OK and (answer["Amount"], answer["Created"]) == ("2000", "2026/11/30 02:53")
    number = answer["VoucherNo"]
    assert simulator.VOUCHER_NO.match(number)
    assert api.sim.voucher(number).balance == 2000 and api.sim.voucher(number).owner == NEW_USER
    assert api.sim.balance(STORE) == FUNDS - 2000
    user = api.sim.user(NEW_USER)
    assert user is not None and user.communities == [NS] and user.password
    [sms] = api.sim.sms_to(NEW_USER)
    assert (sms.kind, sms.voucher_no) == ("new_user", number)
    assert number in sms.text and "R20.00" in sms.text and user.password in sms.text and NEW_USER in sms.text
    view = await api.view(number)
    assert (view["Owner"], view["Amount"], view["Locked"]) == (NEW_USER, "2000", "false")
    second = await api.create("c2", amount="500")  # now a known user: balance, no credentials
    assert second["VoucherNo"] != number
    assert [s.kind for s in api.sim.sms_to(NEW_USER)] == ["new_user", "existing_user"]
    assert user.password not in api.sim.sms_to(NEW_USER)[1].text


async def test_create_voucher_for_known_users_and_for_the_funder(api: Api) -> None:
    number = (await api.create("c1", user=KNOWN, amount="1500"))["VoucherNo"]
    [sms] = api.sim.sms_to(KNOWN)
    assert sms.kind == "existing_user" and number in sms.text and "R15.00" in sms.text
    assert "password" not in sms.text
    assert status(await api.create("c2", user=OTHER_USER)) == OK  # joins demo-za, keeps its community
    user = api.sim.user(OTHER_USER)
    assert user is not None and user.communities == [OTHER_NS, NS]
    assert [s.kind for s in api.sim.sms_to(OTHER_USER)] == ["existing_user"]
    own = await api.create("c3", user=None, amount="700")
    assert (await api.view(own["VoucherNo"]))["Owner"] == "demo-shop-funder"
    assert len(api.sim.state.sms) == 2  # the funder's own voucher sends no SMS
    assert api.sim.balance(STORE) == FUNDS - 1500 - 2000 - 700


@pytest.mark.parametrize("msisdn", ["0831112222", "2783111222", "278311122223", "+27831112222", "44831112222"])
async def test_an_unknown_username_must_be_a_south_african_msisdn(api: Api, msisdn: str) -> None:
    assert status(await api.create("c1", user=msisdn)) == failed("-6")
    assert api.sim.transactions() == [] and api.sim.state.sms == [] and api.sim.user(msisdn) is None


async def test_create_voucher_refusals(api: Api) -> None:
    assert status(await api.create("c1", amount=str(FUNDS + 1))) == failed("-4")  # the funder is short
    body = {"VoucherType": "168Platinum", "Amount": "100", "Currency": "ZAR", "StoreID": STORE, "Reference": "c2"}
    assert status(await api.call("createVoucher", body)) == failed("-1")
    dollars = {**body, "VoucherType": "168Cash", "Currency": "USD"}
    assert status(await api.call("createVoucher", dollars)) == failed("-1")
    assert api.sim.transactions() == [] and api.sim.balance(STORE) == FUNDS


# -- reverse and the payment lookup ---------------------------------------------------------------------------
async def test_reverse_a_pay_by_old_reference_then_by_tid_once(api: Api) -> None:
    paid = await api.pay("p1", amount="5000")
    answer = await api.reverse("v1", old="p1")
    assert status(answer) == OK and (answer["Amount"], answer["OldTID"]) == ("5000", paid["TID"])
    assert api.sim.voucher(NORMAL).balance == 25000 and api.sim.balance(STORE) == FUNDS
    assert status(await api.reverse("v2", old="p1")) == failed("-9")
    assert status(await api.reverse("v3", tid=paid["TID"])) == failed("-9")
    assert status(await api.reverse("v4", tid=answer["TID"])) == failed("-1")  # a reverse is not reversible
    assert status(await api.reverse("v5", old="nothing")) == failed("-8")
    assert status(await api.reverse("v6")) == failed("-1")
    other = await api.pay("p2", amount="100")
    assert status(await api.reverse("v7", tid=other["TID"], old="p1")) == OK  # the TID wins
    assert api.sim.voucher(NORMAL).balance == 25000 and len(api.sim.transactions("reverse")) == 2


async def test_reversing_a_pay_credits_a_voucher_locked_since(api: Api) -> None:
    await api.pay("p1", amount="1000")
    api.sim.voucher(NORMAL).locked = True
    assert status(await api.reverse("v1", old="p1")) == OK
    assert api.sim.voucher(NORMAL).balance == 25000


async def test_reverse_create_voucher_unspent_and_partly_spent(api: Api) -> None:
    number = (await api.create("c1", amount="3000"))["VoucherNo"]
    assert status(await api.reverse("v1", old="c1")) == OK
    assert api.sim.voucher(number).balance == 0 and api.sim.balance(STORE) == FUNDS
    spent = (await api.create("c2", amount="3000"))["VoucherNo"]
    assert status(await api.pay("p1", amount="1", voucher=spent)) == OK
    answer = await api.reverse("v2", old="c2")
    assert status(answer) == failed("-4") and "spent" in answer["Error"]
    assert api.sim.voucher(spent).balance == 2999
    assert status(await api.reverse("v3", old="p1")) == OK  # the payment back first, then the issue
    assert status(await api.reverse("v2", old="c2")) == OK  # the refused reverse left its reference free
    assert api.sim.voucher(spent).balance == 0 and api.sim.balance(STORE) == FUNDS


async def test_payment_lookup_by_old_reference_and_tid(api: Api) -> None:
    paid = await api.pay("p1", amount="1234")
    found = await api.lookup(old="p1")
    assert status(found) == OK
    assert {k: found[k] for k in ("TID", "Reference", "Date", "Time", "Type", "Amount", "VoucherNo", "ReverseID")} == {
        "TID": paid["TID"], "Reference": "p1", "Date": "2026/11/30", "Time": "02:53:20", "Type": "pay",
        "Amount": "1234", "VoucherNo": NORMAL, "ReverseID": ""}
    assert await api.lookup(tid=paid["TID"]) == found
    reversed_ = await api.reverse("v1", tid=paid["TID"])
    assert (await api.lookup(old="p1"))["ReverseID"] == reversed_["TID"]
    rev = await api.lookup(old="v1")
    assert (rev["Type"], rev["OldTID"], rev["Amount"]) == ("reverse", paid["TID"], "1234")
    created = await api.create("c1")
    assert (await api.lookup(old="c1"))["VoucherNo"] == created["VoucherNo"]
    missing = await api.lookup(old="never-sent")
    assert status(missing) == failed("-8") and missing["Error"] == "Transaction Failed - Transaction Not Found"
    assert status(await api.lookup(tid="99999999999")) == failed("-8")
    assert status(await api.call("payment", {"StoreID": STORE})) == failed("-1")


# -- faults ---------------------------------------------------------------------------------------------------
async def test_a_dropped_pay_is_applied_once_and_found_by_lookup(api: Api) -> None:
    api.sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.pay("p1", amount="4000")
    assert api.sim.voucher(NORMAL).balance == 21000
    assert status(await api.pay("p1", amount="4000")) == failed("-2")  # a resend is a duplicate, not a 2nd debit
    found = await api.lookup(old="p1")
    assert status(found) == OK and found["Amount"] == "4000"
    assert api.sim.voucher(NORMAL).balance == 21000 and len(api.sim.transactions("pay")) == 1


async def test_dropped_create_voucher_and_reverse_are_applied_once(api: Api) -> None:
    api.sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.create("c1")
    found = await api.lookup(old="c1")
    assert found["Type"] == "createVoucher" and api.sim.voucher(found["VoucherNo"]).balance == 2000
    assert len(api.sim.sms_to(NEW_USER)) == 1
    api.sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.reverse("v1", old="c1")
    assert (await api.lookup(old="c1"))["ReverseID"] == (await api.lookup(old="v1"))["TID"]
    assert api.sim.balance(STORE) == FUNDS


async def test_an_injected_failure_applies_nothing(api: Api) -> None:
    await api.http.post("/_sim/faults", json={"fail_next": {"count": 3, "status": 503}})
    assert (await api.post("pay", {"VoucherNo": NORMAL})).status_code == 503
    assert (await api.post("createVoucher", {})).status_code == 503
    assert (await api.post("reverse", {})).status_code == 503
    assert api.sim.transactions() == [] and status(await api.lookup(old="p1")) == failed("-8")


async def test_a_late_pay_is_in_progress_then_applied(api: Api) -> None:
    api.sim.set_apply_delay(0.3)
    with pytest.raises(httpx.ReadTimeout):
        await api.pay("p1", amount="1000", timeout=0.05)
    api.sim.set_apply_delay(0.0)
    assert api.sim.transactions() == []
    assert status(await api.lookup(old="p1")) == failed("-10")
    await api.sim.wait_applied()
    assert status(await api.lookup(old="p1")) == OK
    assert api.sim.snapshot()["arrived"] == [] and api.sim.voucher(NORMAL).balance == 24000


async def test_latency_delays_the_answer_of_a_reverse_after_applying_it(api: Api) -> None:
    await api.pay("p1")
    api.sim.set_latency(0.2)
    with pytest.raises(httpx.ReadTimeout):
        await api.reverse("v1", old="p1", timeout=0.05)
    assert api.sim.voucher(NORMAL).balance == 25000


async def test_request_log_holds_no_secret_and_reset_restores_the_seed(api: Api) -> None:
    await api.pay("p1")
    await api.create("c1")
    state = (await api.http.get("/_sim/state")).json()
    text = json.dumps(state["requests"])
    assert TOKEN not in text and NS not in text and "p1" not in text
    assert [r["path"] for r in state["requests"]] == ["/pay", "/createVoucher"]
    assert TOKEN not in json.dumps(state["tokens"])
    assert state["vouchers"][NORMAL]["balance"] == 24000 and len(state["sms"]) == 1
    await api.http.post("/_sim/reset")
    state = (await api.http.get("/_sim/state")).json()
    assert state["transactions"] == [] and state["sms"] == [] and state["vouchers"][NORMAL]["balance"] == 25000
    assert NEW_USER not in state["users"] and state["balances"][STORE] == FUNDS


# -- persistence ---------------------------------------------------------------------------------------------------
async def test_persist_keeps_vouchers_users_transactions_and_sms(tmp_path: Path) -> None:
    path = tmp_path / "celbux.json"
    app, sim = build_app(clock=lambda: START)
    sim.persist(path)
    async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://c") as http:
        api = Api(http, sim)
        number = (await api.create("c1"))["VoucherNo"]
        paid = await api.pay("p1", amount="700")
    app, again = build_app(clock=lambda: START)
    again.persist(path)
    async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://c") as http:
        api = Api(http, again)
        assert again.voucher(number).balance == 2000 and again.voucher(NORMAL).balance == 24300
        assert again.user(NEW_USER) is not None and len(again.sms_to(NEW_USER)) == 1
        assert status(await api.pay("p1")) == failed("-2")  # References stay taken
        assert status(await api.reverse("v1", old="p1")) == OK and again.voucher(NORMAL).balance == 25000
        assert int((await api.pay("p2"))["TID"]) == int(paid["TID"]) + 2  # the TID sequence goes on
        assert (await api.create("c2"))["VoucherNo"] not in (number, NORMAL)
    path.write_text("{broken", encoding="utf-8")
    _app, fresh = build_app()
    fresh.persist(path)
    assert fresh.transactions() == [] and (tmp_path / "celbux.json.unreadable").exists()


# -- data -------------------------------------------------------------------------------------------------------
def test_demo_data_has_the_documented_community_store_tokens_and_vouchers() -> None:
    data = load_data()
    assert set(data.communities) == {NS, OTHER_NS} and data.stores[STORE].community == NS
    balances = {v["number"]: (v["balance"], v["locked"]) for v in data.vouchers}
    assert balances[NORMAL] == (25000, False) and balances[LITTLE] == (350, False)
    assert balances[USED_UP] == (0, False) and balances[LOCKED][1] is True
    assert all(simulator.VOUCHER_NO.match(n) for n in balances)
    assert [t.scopes for t in data.tokens] == [list(simulator.CALLS), ["viewVoucher"]]
    assert KNOWN in data.users
    _app, sim = build_app()
    assert demo_secrets(sim) == {"token": TOKEN}
    assert (simulator.API_ROOT, simulator.DEFAULT_PORT) == ("", 8768)


_BASE = ('[[communities]]\nns = "z"\nvoucher_types = [{type = "168Cash"}]\n'
         '[[tokens]]\ntoken = "tokentoken"\nscopes = ["pay"]\ncommunities = ["z"]\n'
         '[[users]]\nusername = "27000000000"\ncommunities = ["z"]\n')


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[platform\n", "data.toml"),
        ('[platform]\ncurrency = "USD"\n' + _BASE, "currency"),
        ("", "communities"),
        (_BASE.replace('scopes = ["pay"]', 'scopes = ["refund"]'), "scopes"),
        (_BASE.replace('communities = ["z"]\n[[users]]', 'communities = ["y"]\n[[users]]'), "communities"),
        (_BASE.replace('"tokentoken"', '"short"'), "token is required"),
        (_BASE + '[[vouchers]]\nnumber = "168-1-2"\ncommunity = "z"\nowner = "27000000000"\ntype = "168Cash"\n'
                 "balance = 1\n", "168-NNNNN-NNNNN"),
        (_BASE + '[[vouchers]]\nnumber = "168-11111-22222"\ncommunity = "z"\nowner = "27000000000"\n'
                 'type = "168Cash"\nbalance = "R1"\n', "balance"),
        (_BASE + '[[vouchers]]\nnumber = "168-11111-22222"\ncommunity = "z"\nowner = "nobody"\n'
                 'type = "168Cash"\nbalance = 1\n', "owner"),
        (_BASE + '[[vouchers]]\nnumber = "168-11111-22222"\ncommunity = "z"\nowner = "27000000000"\n'
                 'type = "168Gold"\nbalance = 1\n', "type"),
        (_BASE + '[[stores]]\nid = "S"\ncommunity = "q"\naccount = "f"\n', "community"),
        (_BASE + '[[stores]]\nid = "S"\ncommunity = "z"\naccount = "f"\nbalance = -1\n', "balance"),
    ],
)
def test_bad_data_file_is_refused_clearly(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "data.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimulatorDataError, match=error):
        load_data(path)


# -- over real HTTP -----------------------------------------------------------------------------------------------
async def test_over_http_dropped_pay_create_and_reverse_are_applied_once() -> None:
    app, sim = build_app(clock=lambda: START)
    with ServerThread(app) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            api = Api(http, sim)
            for call, send in (("pay", lambda: api.pay("p1", amount="2000")),
                               ("createVoucher", lambda: api.create("c1")),
                               ("reverse", lambda: api.reverse("v1", old="p1"))):
                await http.post("/_sim/faults", json={"drop_next_posts": 1})
                with pytest.raises(httpx.RemoteProtocolError):
                    await send()
                assert status(await send()) == failed("-2"), call
            assert (await api.lookup(old="p1"))["ReverseID"] == (await api.lookup(old="v1"))["TID"]
            state = (await http.get("/_sim/state")).json()
            assert state["vouchers"][NORMAL]["balance"] == 25000 and len(state["transactions"]) == 3
            assert state["balances"][STORE] == FUNDS - 2000 and len(state["sms"]) == 1
            assert [r["delivered"] for r in state["requests"][:6]] == [False, True] * 3
            unauth = await http.post(f"/pay?ns={NS}", json={})
            assert unauth.status_code == 401


async def test_serve_answers_over_http_until_cancelled() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = asyncio.create_task(simulator.serve("127.0.0.1", port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    response = await http.post(f"/viewVoucher?ns={NS}", json={"VoucherNo": NORMAL},
                                               headers={"Authorization": f"bearer {TOKEN}"})
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert response.json()["Amount"] == "25000"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
