"""The JTL-Voucher Cloud simulator over HTTP: OAuth, connect, reservations, charges,
refunds, recharge, activation, 422 codes, faults, data file, persistence."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app.providers.jtl import simulator
from pos_app.providers.jtl.simulator import (
    JtlSimulator,
    ServerThread,
    SimulatorDataError,
    build_app,
    in_process_transport,
    load_data,
    to_cents,
    to_text,
)

TILL = {"client_id": "c0ffee00000000000001", "client_secret": "demo-jtl-secret-till-1"}
READER = {"client_id": "c0ffee00000000000002", "client_secret": "demo-jtl-secret-reader"}
NORMAL, LITTLE, USED_UP, FOR_SALE, EURO, EXPIRED = (f"a1b2c3d4e5f60000000{n}" for n in range(1, 7))
START = 1_796_000_000.0  # 2026-11-30T00:53:20Z, before every demo valid_until but the expired one


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def env(clock: Clock) -> AsyncIterator[tuple[httpx.AsyncClient, JtlSimulator]]:
    app, sim = build_app(clock=clock)
    transport = in_process_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jtl.sim") as http:
        yield http, sim


async def token_for(http: httpx.AsyncClient, creds: dict[str, str] = TILL, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "client_credentials", **creds, "client_type": "pos-app"}
    if scope is not None:
        form["scope"] = scope
    response = await http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def api(env: tuple[httpx.AsyncClient, JtlSimulator]) -> tuple[httpx.AsyncClient, JtlSimulator, dict[str, str]]:
    http, sim = env
    return http, sim, await token_for(http)


Api = tuple[httpx.AsyncClient, JtlSimulator, dict[str, str]]


async def reserve(api: Api, voucher_id: str, amount: str, currency: str = "CHF") -> httpx.Response:
    http, _sim, auth = api
    secrets = (await http.get(f"/v1/vouchers/{voucher_id}/complete", headers=auth)).json()
    body: dict[str, Any] = {"amount": amount, "currency": currency, "code": secrets["code"]}
    if secrets["pin"] is not None:
        body["pin"] = secrets["pin"]
    return await http.post("/v1/reservations", json=body, headers=auth)


async def charge(api: Api, reservation_id: str, order: str = "ORDER-1") -> httpx.Response:
    http, _sim, auth = api
    return await http.post(f"/v1/reservations/{reservation_id}/charge", json={"order_number": order}, headers=auth)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# -- OAuth --------------------------------------------------------------------------------
async def test_token_is_a_standard_bearer_token_with_the_groups_scopes(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials", **TILL})
    body = response.json()
    assert response.status_code == 200
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["scope"] == "read read-lists read-secrets use recharge"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials", **{**TILL, "client_secret": "wrong"}}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", **TILL}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", **TILL, "scope": "read manage"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", **TILL, "client_type": "x" * 33}, 400, "invalid_request"),
    ],
)
async def test_token_errors_are_rfc6749(
    env: tuple[httpx.AsyncClient, JtlSimulator], form: dict[str, str], status: int, error: str
) -> None:
    http, sim = env
    response = await http.post("/oauth/token", data=form)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert sim.state.tokens == {}


async def test_token_must_be_form_encoded(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    response = await http.post("/oauth/token", json={"grant_type": "client_credentials", **TILL})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_api_needs_a_valid_bearer_token(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = await http.get(f"/v1/vouchers/{NORMAL}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "code": "UNAUTHENTICATED", "message": "Unauthenticated."}
        assert response.headers["www-authenticate"] == "Bearer"


async def test_token_expires_after_expires_in(api: Api, clock: Clock) -> None:
    http, _sim, auth = api
    clock.advance(3599)
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).status_code == 200
    clock.advance(1)
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).status_code == 401
    fresh = await token_for(http)
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=fresh)).status_code == 200


async def test_expired_tokens_over_admin_route(api: Api) -> None:
    http, _sim, auth = api
    assert (await http.post("/_sim/tokens/expire")).json() == {"expired": 1}
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).status_code == 401


async def test_a_call_outside_the_tokens_scopes_is_403_forbidden(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, sim = env
    narrow = await token_for(http, scope="read")
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=narrow)).status_code == 200
    forbidden = await http.get(f"/v1/vouchers/{NORMAL}/complete", headers=narrow)
    assert (forbidden.status_code, forbidden.json()) == (403, "Forbidden")
    assert forbidden.headers["content-type"] == "application/json"
    reader = await token_for(http, READER)
    blocked = await http.post("/v1/reservations", json={"amount": "1.00", "currency": "CHF",
                                                          "code": "JTL-GIFT-050-B"}, headers=reader)
    assert blocked.status_code == 403
    assert sim.state.reservations == {}
    recharge = await http.post("/v1/vouchers/recharge", headers=reader,
                               json={"id": NORMAL, "amount": "1.00", "currency": "CHF", "order_number": "X"})
    assert recharge.status_code == 403 and sim.voucher(NORMAL).remaining == 10000


async def test_scopes_changed_in_the_admin_ui_apply_to_new_tokens(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    assert (await http.post("/_sim/scopes", json={"client_id": TILL["client_id"], "scopes": ["read"]})).status_code == 200
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials", **TILL, "scope": "use"})
    assert response.json()["error"] == "invalid_scope"


# -- connect ---------------------------------------------------------------------------------
async def test_connect_exchanges_the_pin_once_for_the_client(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    response = await http.post("/v1/clients/connect", json={"pin": "123456"})
    client = response.json()
    assert response.status_code == 200
    assert (client["id"], client["secret"]) == (TILL["client_id"], TILL["client_secret"])
    assert set(client) == {"id", "client_group_id", "name", "secret", "scopes", "type",
                           "created_at", "updated_at", "connected_at"}
    again = await http.post("/v1/clients/connect", json={"pin": "123456"})
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "CLIENT.CONNECT.PIN.VALID_PIN"
    # the credentials work against the token endpoint
    await token_for(http, {"client_id": client["id"], "client_secret": client["secret"]})


async def test_a_pin_lasts_30_minutes(env: tuple[httpx.AsyncClient, JtlSimulator], clock: Clock) -> None:
    http, _sim = env
    issued = await http.post("/_sim/pins", json={"client_id": READER["client_id"], "pin": "654321"})
    assert issued.json() == {"pin": "654321"}
    clock.advance(30 * 60)
    for pin in ("123456", "654321", "000000"):
        response = await http.post("/v1/clients/connect", json={"pin": pin})
        assert response.status_code == 422
        assert response.json()["code"] == "CLIENT.CONNECT.UNPROCESSABLE_ENTITY"
    fresh = await http.post("/_sim/pins", json={"client_id": READER["client_id"]})
    connected = await http.post("/v1/clients/connect", json={"pin": fresh.json()["pin"]})
    assert connected.json()["id"] == READER["client_id"]


# -- vouchers ----------------------------------------------------------------------------------
async def test_get_voucher_hides_code_and_pin_complete_shows_them(api: Api) -> None:
    http, _sim, auth = api
    voucher = (await http.get(f"/v1/vouchers/{LITTLE}", headers=auth)).json()
    assert "code" not in voucher and "pin" not in voucher
    assert (voucher["status"], voucher["remaining_amount"], voucher["amount"], voucher["currency"]) == (
        "active", "3.50", "50.00", "CHF")
    assert voucher["valid_until"] == "2028-06-30T23:59:59+00:00"
    complete = (await http.get(f"/v1/vouchers/{NORMAL}/complete", headers=auth)).json()
    assert (complete["code"], complete["pin"]) == ("JTL-GIFT-100-A", "4711")
    missing = await http.get("/v1/vouchers/ffffffffffffffffffff", headers=auth)
    assert missing.json() == {"status": 404, "code": "VOUCHER.NOT_FOUND",
                              "message": "The requested Voucher was not found."}


async def test_voucher_list_is_paginated(api: Api) -> None:
    http, _sim, auth = api
    page = (await http.get("/v1/vouchers", params={"per_page": 4, "page": 2}, headers=auth)).json()
    assert [v["id"] for v in page["data"]] == [EURO, EXPIRED]
    assert page["meta"]["total"] == 6 and page["meta"]["last_page"] == 2
    assert page["links"]["next"] is None and "page=1" in page["links"]["prev"]
    assert all("deletable" in v and "remaining_amount" in v for v in page["data"])


# -- reservations --------------------------------------------------------------------------------
async def test_reservation_locks_and_lasts_30_minutes(api: Api, clock: Clock) -> None:
    http, sim, auth = api
    response = await reserve(api, NORMAL, "40.00")
    reservation = response.json()
    assert response.status_code == 201
    assert (reservation["voucher_id"], reservation["amount"]) == (NORMAL, "40.00")
    assert reservation["valid_until"] == "2026-11-30T01:23:20+00:00"  # START + 30 min
    voucher = (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).json()
    assert (voucher["locked"], voucher["locked_until"], voucher["remaining_amount"]) == (
        True, reservation["valid_until"], "100.00")
    clock.advance(30 * 60)
    assert (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).json()["locked"] is False
    assert code_of(await charge(api, reservation["id"])) == (422, "RESERVATION.EXPIRED")
    assert sim.voucher(NORMAL).remaining == 10000 and sim.state.charges == {}


async def test_a_second_reservation_replaces_the_first(api: Api) -> None:
    _http, sim, _auth = api
    first = (await reserve(api, NORMAL, "10.00")).json()
    second = (await reserve(api, NORMAL, "25.00")).json()
    assert code_of(await charge(api, first["id"])) == (422, "RESERVATION.REPLACED")
    charged = await charge(api, second["id"])
    assert charged.status_code == 201 and charged.json()["amount"] == "25.00"
    assert sim.voucher(NORMAL).remaining == 7500


async def test_reservation_refusals(api: Api) -> None:
    http, sim, auth = api
    assert code_of(await reserve(api, LITTLE, "3.51")) == (422, "RESERVATION.INSUFFICIENT_BALANCE")
    assert code_of(await reserve(api, USED_UP, "0.01")) == (422, "RESERVATION.INSUFFICIENT_BALANCE")
    assert code_of(await reserve(api, FOR_SALE, "1.00")) == (422, "VOUCHER.INACTIVE")
    assert code_of(await reserve(api, EXPIRED, "1.00")) == (422, "VOUCHER.EXPIRED")
    assert code_of(await reserve(api, EURO, "1.00", "CHF")) == (422, "CURRENCY.MISMATCH")
    assert (await reserve(api, EURO, "1.00", "EUR")).status_code == 201
    unknown = await http.post("/v1/reservations", json={"amount": "1.00", "currency": "CHF", "code": "NOPE"},
                              headers=auth)
    assert code_of(unknown) == (404, "VOUCHER.NOT_FOUND")
    wrong_pin = await http.post("/v1/reservations", headers=auth,
                                json={"amount": "1.00", "currency": "CHF", "code": "JTL-GIFT-100-A", "pin": "0000"})
    assert wrong_pin.json()["errors"][0]["code"] == "RESERVATION.CREATE.PIN.VALID_PIN"
    assert [r.voucher_id for r in sim.state.reservations.values()] == [EURO]


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({}, ["RESERVATION.CREATE.AMOUNT.REQUIRED", "RESERVATION.CREATE.CURRENCY.REQUIRED",
              "RESERVATION.CREATE.CODE.REQUIRED"]),
        ({"amount": 10.53, "currency": "CHF", "code": "JTL-GIFT-050-B"}, ["RESERVATION.CREATE.AMOUNT.REGEX"]),
        ({"amount": "10.5", "currency": "CHF", "code": "JTL-GIFT-050-B"}, ["RESERVATION.CREATE.AMOUNT.REGEX"]),
        ({"amount": "123456.00", "currency": "CHF", "code": "JTL-GIFT-050-B"}, ["RESERVATION.CREATE.AMOUNT.REGEX"]),
        ({"amount": "0.00", "currency": "CHF", "code": "JTL-GIFT-050-B"}, ["RESERVATION.CREATE.AMOUNT.MIN:0.01"]),
        ({"amount": "1.00", "currency": "chf", "code": "JTL-GIFT-050-B"},
         ["RESERVATION.CREATE.CURRENCY.VALID_CURRENCY"]),
    ],
)
async def test_invalid_reservation_is_422_with_codes(api: Api, body: dict[str, Any], codes: list[str]) -> None:
    http, sim, auth = api
    response = await http.post("/v1/reservations", json=body, headers=auth)
    payload = response.json()
    assert (response.status_code, payload["code"], payload["message"]) == (
        422, "RESERVATION.CREATE.UNPROCESSABLE_ENTITY", "The given data was invalid.")
    assert [e["code"] for e in payload["errors"]] == codes
    assert all({"code", "property", "rule", "message"} == set(e) for e in payload["errors"])
    assert sim.state.reservations == {}


async def test_body_that_is_not_json_is_400(api: Api) -> None:
    http, _sim, auth = api
    response = await http.post("/v1/reservations", content=b"amount=1", headers=auth)
    assert code_of(response) == (400, "BAD_REQUEST")


# -- charges ---------------------------------------------------------------------------------------
async def test_charge_is_201_with_the_order_number_and_once_only(api: Api) -> None:
    http, sim, auth = api
    reservation = (await reserve(api, NORMAL, "12.34")).json()
    missing = await http.post(f"/v1/reservations/{reservation['id']}/charge", json={}, headers=auth)
    assert missing.json()["errors"][0]["code"] == "RESERVATION.CHARGE.ORDER_NUMBER.REQUIRED"
    response = await charge(api, reservation["id"], "ORDER-62642")
    body = response.json()
    assert response.status_code == 201
    assert (body["type"], body["amount"], body["order_number"], body["voucher_id"]) == (
        "charge", "12.34", "ORDER-62642", NORMAL)
    assert body["client_id"] == TILL["client_id"]
    assert code_of(await charge(api, reservation["id"], "ORDER-62642")) == (422, "RESERVATION.ALREADY_CHARGED")
    assert sim.voucher(NORMAL).remaining == 10000 - 1234
    voucher = (await http.get(f"/v1/vouchers/{NORMAL}", headers=auth)).json()
    assert (voucher["remaining_amount"], voucher["locked"]) == ("87.66", False)
    assert code_of(await charge(api, "nope")) == (404, "RESERVATION.NOT_FOUND")


async def test_charge_after_deactivation_is_refused(api: Api) -> None:
    http, sim, auth = api
    reservation = (await reserve(api, NORMAL, "5.00")).json()
    await http.patch(f"/v1/vouchers/{NORMAL}/status", json={"status": "inactive"}, headers=auth)
    assert (await charge(api, reservation["id"])).status_code == 422
    assert sim.voucher(NORMAL).remaining == 10000


async def test_a_lost_charge_is_found_by_its_order_number(api: Api) -> None:
    http, sim, auth = api
    other = (await reserve(api, NORMAL, "1.00")).json()
    await charge(api, other["id"], "ORDER-1")
    reservation = (await reserve(api, NORMAL, "2.00")).json()
    sim.drop_next_posts(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await charge(api, reservation["id"], "ORDER-2")
    found = await http.get(f"/v1/vouchers/{NORMAL}/charges", params={"filter[order_number]": "ORDER-2"},
                           headers=auth)
    page = found.json()
    assert [(c["type"], c["amount"], c["order_number"]) for c in page["data"]] == [("charge", "2.00", "ORDER-2")]
    assert page["meta"]["total"] == 1
    none = await http.get(f"/v1/vouchers/{NORMAL}/charges", params={"filter[order_number]": "ORDER-3"},
                          headers=auth)
    assert none.json()["data"] == []
    single = await http.get(f"/v1/vouchers/{NORMAL}/charges/{page['data'][0]['id']}", headers=auth)
    assert single.json()["order_number"] == "ORDER-2"
    assert code_of(await http.get(f"/v1/vouchers/{NORMAL}/charges/nope", headers=auth)) == (404, "CHARGE.NOT_FOUND")


async def test_charge_lookup_needs_read_lists(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, _sim = env
    auth = await token_for(http, scope="read use")
    response = await http.get(f"/v1/vouchers/{NORMAL}/charges", headers=auth)
    assert response.status_code == 403


# -- refunds ---------------------------------------------------------------------------------------
async def test_partial_refunds_are_capped_at_the_charge(api: Api) -> None:
    http, sim, auth = api
    charged = (await charge(api, (await reserve(api, NORMAL, "30.00")).json()["id"], "ORDER-9")).json()
    url = f"/v1/charges/{charged['id']}/refund"
    first = await http.post(url, json={"amount": "10.00", "currency": "CHF"}, headers=auth)
    assert first.status_code == 201
    assert (first.json()["type"], first.json()["amount"], first.json()["order_number"]) == ("refund", "10.00", "ORDER-9")
    too_much = await http.post(url, json={"amount": "20.01", "currency": "CHF"}, headers=auth)
    assert code_of(too_much) == (422, "CHARGE.REFUND.AMOUNT_EXCEEDED")
    assert code_of(await http.post(url, json={"amount": "1.00", "currency": "EUR"}, headers=auth)) == (
        422, "CURRENCY.MISMATCH")
    zero = await http.post(url, json={"amount": "0.00", "currency": "CHF"}, headers=auth)
    assert zero.json()["errors"][0]["code"] == "CHARGE.REFUND.AMOUNT.MIN:0.01"
    rest = await http.post(url, json={"amount": "20.00", "currency": "CHF"}, headers=auth)
    assert rest.status_code == 201
    assert code_of(await http.post(url, json={"amount": "0.01", "currency": "CHF"}, headers=auth)) == (
        422, "CHARGE.REFUND.AMOUNT_EXCEEDED")
    assert sim.voucher(NORMAL).remaining == 10000
    refund_url = f"/v1/charges/{first.json()['id']}/refund"
    assert code_of(await http.post(refund_url, json={"amount": "1.00", "currency": "CHF"}, headers=auth)) == (
        422, "CHARGE.REFUND.NOT_REFUNDABLE")
    assert code_of(await http.post("/v1/charges/nope/refund", json={"amount": "1.00", "currency": "CHF"},
                                   headers=auth)) == (404, "CHARGE.NOT_FOUND")
    lookup = await http.get(f"/v1/vouchers/{NORMAL}/charges", params={"filter[order_number]": "ORDER-9"},
                            headers=auth)
    assert [c["type"] for c in lookup.json()["data"]] == ["charge", "refund", "refund"]


# -- recharge --------------------------------------------------------------------------------------
async def test_recharge_by_id_or_code(api: Api) -> None:
    http, sim, auth = api
    by_id = await http.post("/v1/vouchers/recharge", headers=auth,
                            json={"id": LITTLE, "amount": "20.00", "currency": "CHF", "order_number": "ORDER-5"})
    assert by_id.status_code == 201
    assert (by_id.json()["type"], by_id.json()["amount"], by_id.json()["order_number"]) == (
        "recharge", "20.00", "ORDER-5")
    by_code = await http.post("/v1/vouchers/recharge", headers=auth,
                              json={"code": "JTL-GIFT-050-B", "amount": "1.50", "currency": "CHF",
                                    "order_number": "ORDER-6"})
    assert by_code.status_code == 201
    assert (await http.get(f"/v1/vouchers/{LITTLE}", headers=auth)).json()["remaining_amount"] == "25.00"
    assert sim.voucher(LITTLE).remaining == 2500


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"id": FOR_SALE, "amount": "5.00", "currency": "CHF", "order_number": "O"}, 422, "VOUCHER.INACTIVE"),
        ({"id": EXPIRED, "amount": "5.00", "currency": "CHF", "order_number": "O"}, 422, "VOUCHER.EXPIRED"),
        ({"id": EURO, "amount": "5.00", "currency": "CHF", "order_number": "O"}, 422, "CURRENCY.MISMATCH"),
        ({"id": "nope", "amount": "5.00", "currency": "CHF", "order_number": "O"}, 404, "VOUCHER.NOT_FOUND"),
        ({"amount": "5.00", "currency": "CHF", "order_number": "O"}, 422, "VOUCHER.RECHARGE.UNPROCESSABLE_ENTITY"),
        ({"id": LITTLE, "amount": "5.00", "currency": "CHF"}, 422, "VOUCHER.RECHARGE.UNPROCESSABLE_ENTITY"),
        ({"id": LITTLE, "amount": "99999.99", "currency": "CHF", "order_number": "O"}, 422,
         "VOUCHER.RECHARGE.UNPROCESSABLE_ENTITY"),
    ],
)
async def test_recharge_refusals(api: Api, body: dict[str, Any], status: int, code: str) -> None:
    http, sim, auth = api
    before = {v.id: v.remaining for v in sim.state.vouchers.values()}
    response = await http.post("/v1/vouchers/recharge", json=body, headers=auth)
    assert code_of(response) == (status, code)
    assert {v.id: v.remaining for v in sim.state.vouchers.values()} == before


# -- activation --------------------------------------------------------------------------------------
async def test_activation_sets_valid_until_from_the_validity_fields(api: Api) -> None:
    http, sim, auth = api
    assert (await http.get(f"/v1/vouchers/{FOR_SALE}", headers=auth)).json()["valid_until"] is None
    response = await http.patch(f"/v1/vouchers/{FOR_SALE}/status", json={"status": "active", "comment": "sold"},
                                headers=auth)
    voucher = response.json()
    assert response.status_code == 200
    assert (voucher["status"], voucher["valid_until"]) == ("active", "2029-11-30T00:53:20+00:00")  # START + 3 years
    assert (await reserve(api, FOR_SALE, "50.00")).status_code == 201
    back = await http.patch(f"/v1/vouchers/{FOR_SALE}/status", json={"status": "inactive"}, headers=auth)
    assert (back.json()["status"], back.json()["valid_until"], back.json()["locked"]) == ("inactive", None, False)
    bad = await http.patch(f"/v1/vouchers/{FOR_SALE}/status", json={"status": "sold"}, headers=auth)
    assert bad.json()["errors"][0]["code"] == "VOUCHER.STATUS.STATUS.IN:active,inactive"
    assert sim.voucher(FOR_SALE).status == "inactive"
    missing = await http.patch("/v1/vouchers/nope/status", json={"status": "active"}, headers=auth)
    assert code_of(missing) == (404, "VOUCHER.NOT_FOUND")


async def test_activation_needs_scope_use(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, sim = env
    auth = await token_for(http, scope="read")
    response = await http.patch(f"/v1/vouchers/{FOR_SALE}/status", json={"status": "active"}, headers=auth)
    assert response.status_code == 403 and sim.voucher(FOR_SALE).status == "inactive"


# -- faults and the request log ------------------------------------------------------------------------
async def test_injected_failure_applies_nothing(api: Api) -> None:
    http, sim, auth = api
    reservation = (await reserve(api, NORMAL, "5.00")).json()
    await http.post("/_sim/faults", json={"fail_next": {"count": 1, "status": 503, "body": "busy"}})
    assert (await charge(api, reservation["id"])).status_code == 503
    assert sim.state.charges == {}
    assert (await charge(api, reservation["id"])).status_code == 201


async def test_late_application_still_charges(api: Api) -> None:
    http, sim, auth = api
    reservation = (await reserve(api, NORMAL, "5.00")).json()
    sim.set_apply_delay(0.2)
    with pytest.raises(httpx.ReadTimeout):
        await http.post(f"/v1/reservations/{reservation['id']}/charge", json={"order_number": "LATE"},
                        headers=auth, timeout=0.05)
    assert sim.state.charges == {}
    await sim.wait_applied()
    assert [c.order_number for c in sim.state.charges.values()] == ["LATE"]


async def test_request_log_holds_no_secret(api: Api) -> None:
    http, sim, auth = api
    await http.get(f"/v1/vouchers/{NORMAL}/complete", headers=auth)
    state = (await http.get("/_sim/state")).json()
    assert [(r["method"], r["path"], r["status"]) for r in state["requests"]] == [
        ("POST", "/oauth/token", 200), ("GET", f"/v1/vouchers/{NORMAL}/complete", 200)]
    text = json.dumps(state)
    assert TILL["client_secret"] not in text and auth["Authorization"].split()[1] not in text


async def test_reset_restores_the_seed(api: Api, clock: Clock) -> None:
    http, sim, _auth = api
    await charge(api, (await reserve(api, NORMAL, "5.00")).json()["id"])
    await http.post("/v1/clients/connect", json={"pin": "123456"})
    await http.post("/_sim/reset")
    state = (await http.get("/_sim/state")).json()
    assert state["vouchers"][NORMAL]["remaining_amount"] == "100.00"
    assert state["charges"] == [] and state["reservations"] == [] and state["tokens"] == 0
    assert (await http.post("/v1/clients/connect", json={"pin": "123456"})).status_code == 200


# -- persistence (the demo) ------------------------------------------------------------------------------
async def test_persist_keeps_vouchers_reservations_and_charges(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "jtl.json"
    app, sim = build_app(clock=clock)
    sim.persist(path)
    async with httpx.AsyncClient(transport=in_process_transport(app), base_url="http://jtl.sim") as http:
        api = (http, sim, await token_for(http))
        await charge(api, (await reserve(api, NORMAL, "7.00")).json()["id"], "ORDER-P")
        held = (await reserve(api, LITTLE, "1.00")).json()
    _app2, again = build_app(clock=clock)
    again.persist(path)
    assert again.voucher(NORMAL).remaining == 9300
    assert again.voucher(LITTLE).reservation_id == held["id"]
    assert [c.order_number for c in again.state.charges.values()] == ["ORDER-P"]
    assert again.state.tokens == {}


# -- data -------------------------------------------------------------------------------------------------
def test_amount_strings_round_trip() -> None:
    assert to_text(1053) == "10.53" and to_text(5) == "0.05" and to_text(9999999) == "99999.99"
    assert to_cents("10.53") == 1053
    assert [to_cents(t) for t in ("10.5", "1,00", "-1.00", "100000.00", 10.53, "1.005")] == [None] * 6


def test_demo_data_has_the_documented_vouchers() -> None:
    data = load_data()
    vouchers = {v["id"]: v for v in data.vouchers}
    assert (vouchers[NORMAL]["remaining"], vouchers[LITTLE]["remaining"], vouchers[USED_UP]["remaining"]) == (
        10000, 350, 0)
    assert vouchers[FOR_SALE]["status"] == "inactive" and vouchers[FOR_SALE]["valid_until"] is None
    assert vouchers[EURO]["currency"] == "EUR"
    assert vouchers[EXPIRED]["valid_until"] < START < vouchers[NORMAL]["valid_until"]
    assert data.pins == [("123456", TILL["client_id"], 1800.0)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[vouchers]]\nid = "a"\ncode = "b"\namount = 10\n', "amount"),
        ('[[vouchers]]\nid = "a"\ncode = "b"\namount = "1.00"\nstatus = "lost"\n', "status"),
        ('[[vouchers]]\nid = "a"\ncode = "b"\namount = "1.00"\nvalid_until = "soon"\n', "RFC 3339"),
        ('[[clients]]\nid = "a"\nsecret = "b"\nscopes = ["all"]\n', "scopes"),
        ('[[pins]]\npin = "1"\nclient_id = "x"\n', "client_id"),
        ("[account\n", "data.toml"),
    ],
)
def test_bad_data_file_is_refused_clearly(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "data.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimulatorDataError, match=error):
        load_data(path)


# -- over real HTTP ------------------------------------------------------------------------------------------
async def test_over_http_a_dropped_activation_is_applied() -> None:
    app, sim = build_app()
    with ServerThread(app) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            auth = await token_for(http)
            await http.post("/_sim/faults", json={"drop_next_posts": 1})
            with pytest.raises(httpx.RemoteProtocolError):
                await http.patch(f"/v1/vouchers/{FOR_SALE}/status", json={"status": "active"}, headers=auth)
            voucher = (await http.get(f"/v1/vouchers/{FOR_SALE}", headers=auth)).json()
            assert voucher["status"] == "active" and voucher["valid_until"] is not None
            state = (await http.get("/_sim/state")).json()
            assert [(r["method"], r["delivered"]) for r in state["requests"]][1] == ("PATCH", False)
    assert sim.voucher(FOR_SALE).status == "active"


# -- managing vouchers (manage, update) ------------------------------------------------------------------------
async def test_create_update_delete_a_voucher(env: tuple[httpx.AsyncClient, JtlSimulator]) -> None:
    http, sim = env
    sim.set_scopes(TILL["client_id"], ["read", "read-secrets", "use", "manage", "update"])
    auth = await token_for(http)
    created = await http.post("/v1/vouchers", headers=auth, json={
        "id": "new0000000000000000a", "amount": "15.00", "currency": "CHF", "batch": "b1",
        "validity_value": 6, "validity_interval": "months"})
    body = created.json()
    assert created.status_code == 201
    assert (body["status"], body["remaining_amount"], body["valid_until"], body["batch"]) == (
        "inactive", "15.00", None, "b1")
    assert body["code"] and body["pin"] is None
    duplicate = await http.post("/v1/vouchers", headers=auth, json={"id": "new0000000000000000a",
                                                                     "amount": "1.00", "currency": "XY"})
    assert [e["code"] for e in duplicate.json()["errors"]] == [
        "VOUCHER.CREATE.CURRENCY.VALID_CURRENCY", "VOUCHER.CREATE.ID.UNIQUE"]
    long_batch = await http.patch("/v1/vouchers/new0000000000000000a", headers=auth, json={"batch": "x" * 31})
    assert long_batch.json()["errors"][0]["code"] == "VOUCHER.UPDATE.BATCH.MAX:30"
    updated = await http.patch("/v1/vouchers/new0000000000000000a", headers=auth, json={"sku": "S-15"})
    assert (updated.json()["sku"], updated.json()["batch"]) == ("S-15", "b1")
    assert (await http.delete("/v1/vouchers/new0000000000000000a", headers=auth)).status_code == 204
    assert "new0000000000000000a" not in sim.state.vouchers
    await charge((http, sim, auth), (await reserve((http, sim, auth), LITTLE, "1.00")).json()["id"])
    refused = await http.delete(f"/v1/vouchers/{LITTLE}", headers=auth)
    assert code_of(refused) == (422, "VOUCHER.DELETE.NOT_DELETABLE") and LITTLE in sim.state.vouchers


async def test_the_till_client_may_not_create_vouchers(api: Api) -> None:
    http, sim, auth = api
    response = await http.post("/v1/vouchers", headers=auth, json={"amount": "1.00", "currency": "CHF"})
    assert response.status_code == 403 and len(sim.state.vouchers) == 6


async def test_serve_answers_over_http_until_cancelled() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = asyncio.create_task(simulator.serve("127.0.0.1", port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    response = await http.post("/v1/clients/connect", json={"pin": "123456"})
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert response.json()["id"] == TILL["client_id"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
