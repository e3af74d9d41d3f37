"""The JTL-Voucher Cloud client against the real simulator, in-process: OAuth (cached,
refreshed, scopes), reservations, charges, refunds, activation, top-up, the states
that settle a lost answer (and JtlSettling's judgements of them), no secret anywhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from pos_app.domain.money import Money, MoneyError
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    BadResponse,
    BadResponseUnknownOutcome,
    Captured,
    HoldLapsed,
    NotFoundError,
    OpContext,
    Operation,
    OpKind,
    ProviderError,
    RefusedError,
    TenderRef,
    UnknownOutcome,
    UnsupportedOperation,
    ValueKind,
    ValueResult,
    Verdict,
)
from pos_app.providers.jtl import client as client_module
from pos_app.providers.jtl.client import JtlClient, token_url_for
from pos_app.providers.jtl.settling import JtlSettling, normalize_code
from pos_app.providers.jtl.simulator import JtlSimulator, build_app, in_process_transport

TILL = ("c0ffee00000000000001", "demo-jtl-secret-till-1")
READER = ("c0ffee00000000000002", "demo-jtl-secret-reader")
NORMAL, LITTLE, USED_UP, FOR_SALE, EURO, EXPIRED = (f"a1b2c3d4e5f60000000{n}" for n in range(1, 7))
NORMAL_CODE, NORMAL_PIN = "JTL-GIFT-100-A", "4711"
START = 1_796_000_000.0  # 2026-11-30T00:53:20Z, before every demo valid_until but the expired one
BASE = "http://jtl.sim/v1"
SETTLING = JtlSettling()


def chf(text: str) -> Money:
    return Money.parse_plain(text, "CHF")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Spy(httpx.AsyncBaseTransport):
    """The simulator's transport, with every request and answer kept (bodies too, to
    check the token form and that no secret leaks) and an optional answer of its own."""

    inner: httpx.AsyncBaseTransport
    seen: list[tuple[httpx.Request, bytes]] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    hook: Callable[[httpx.Request], httpx.Response | None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.seen.append((request, body))
        own = self.hook(request) if self.hook else None
        response = own if own is not None else await self.inner.handle_async_request(request)
        content = await response.aread()
        self.answers.append(content)
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r, _ in self.seen]

    def tokens(self) -> list[str]:
        return [p for p in self.paths() if p == "POST /oauth/token"]


@dataclass
class Env:
    client: JtlClient
    sim: JtlSimulator
    spy: Spy
    clock: Clock
    http: httpx.AsyncClient

    def ctx(self, order: str | None = "2026-000123", ref: str = "shop-1-000001") -> OpContext:
        return OpContext(ref, order, self.clock.at())

    def new_client(self, creds: tuple[str, str] = TILL) -> JtlClient:
        return JtlClient(self.http, *creds, BASE, "CHF", 5.0, clock=self.clock)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock()
    app, sim = build_app(clock=clock)
    spy = Spy(in_process_transport(app))
    async with httpx.AsyncClient(transport=spy) as http:
        yield Env(JtlClient(http, *TILL, BASE, "CHF", 5.0, clock=clock), sim, spy, clock, http)


async def held(env: Env, voucher: str = NORMAL, amount: str = "30.00") -> TenderRef:
    auth = await env.client.authorize(voucher, chf(amount), env.ctx())
    return TenderRef(auth.code, auth.amount, dict(auth.refs))


async def charged(env: Env, voucher: str = NORMAL, amount: str = "30.00", order: str = "2026-000123") -> TenderRef:
    tender = await held(env, voucher, amount)
    captured = await env.client.capture(tender, env.ctx(order))
    return TenderRef(tender.code, tender.amount, {**tender.refs, **captured.refs})


def op(kind: OpKind, code: str = NORMAL, amount: str | None = "30.00", *, refs: dict[str, str] | None = None,
       request: dict[str, Any] | None = None, before: dict[str, Any] | None = None) -> Operation:
    return Operation(kind, code, None if amount is None else chf(amount), "shop-1-000001", refs or {},
                     request or {}, before)


# -- OAuth -------------------------------------------------------------------------------------
def test_token_url_is_at_the_hosts_root() -> None:
    assert token_url_for("https://h/v1") == "https://h/oauth/token"
    assert token_url_for("http://jtl.sim/v1/") == "http://jtl.sim/oauth/token"
    assert token_url_for("https://vouchers-sbx.api.jtl-software.com:8443/v1") == \
        "https://vouchers-sbx.api.jtl-software.com:8443/oauth/token"


async def test_one_token_form_encoded_with_the_tills_scopes_reused_across_calls(env: Env) -> None:
    for _ in range(4):
        assert (await env.client.balance(NORMAL)).balance == chf("100.00")
    await env.client.authorize(NORMAL, chf("5.00"), env.ctx())
    assert len(env.spy.tokens()) == 1
    request, body = env.spy.seen[0]
    assert str(request.url) == "http://jtl.sim/oauth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form == {"grant_type": "client_credentials", "client_id": TILL[0], "client_secret": TILL[1],
                    "scope": "read read-lists read-secrets use recharge", "client_type": "pos_app"}
    api = [r for r, _ in env.spy.seen[1:]]
    assert all(r.headers["authorization"] == f"Bearer {next(iter(env.sim.state.tokens))}" for r in api)


async def test_token_url_setting_and_client_type_cut_to_32(env: Env) -> None:
    client = JtlClient(env.http, *TILL, "http://elsewhere.example/v1", "CHF", token_url="http://jtl.sim/oauth/token",
                       client_type="x" * 40, clock=env.clock)
    env.spy.hook = lambda r: httpx.Response(404, json={"status": 404, "code": "VOUCHER.NOT_FOUND",
                                                       "message": "nope"}) if r.url.host == "elsewhere.example" else None
    with pytest.raises(NotFoundError):
        await client.balance(NORMAL)
    form = parse_qs(env.spy.seen[0][1].decode())
    assert form["client_type"] == ["x" * 32]


async def test_concurrent_calls_share_one_token_request(env: Env) -> None:
    results = await asyncio.gather(*(env.client.balance(v) for v in (NORMAL, LITTLE, USED_UP, FOR_SALE) * 2))
    assert [b.balance for b in results[:4]] == [chf("100.00"), chf("3.50"), chf("0.00"), chf("50.00")]
    assert len(env.spy.tokens()) == 1


async def test_token_renewed_shortly_before_it_expires(env: Env) -> None:
    await env.client.balance(NORMAL)
    env.clock.advance(3600 - 61)
    await env.client.balance(NORMAL)
    assert len(env.spy.tokens()) == 1
    env.clock.advance(2)  # within the last minute: a new token before the old one fails
    await env.client.balance(NORMAL)
    assert len(env.spy.tokens()) == 2
    assert [r.status for r in env.sim.state.requests].count(401) == 0


async def test_a_401_fetches_one_new_token_and_sends_the_request_again(env: Env) -> None:
    await env.client.balance(NORMAL)
    assert env.sim.expire_tokens() == 1
    tender = await held(env)  # GET complete: 401, new token, GET again, then the POST
    assert [(r.method, r.path, r.status) for r in env.sim.state.requests[2:]] == [
        ("GET", f"/v1/vouchers/{NORMAL}/complete", 401), ("POST", "/oauth/token", 200),
        ("GET", f"/v1/vouchers/{NORMAL}/complete", 200), ("POST", "/v1/reservations", 201)]
    assert tender.refs["reservation_id"] in env.sim.state.reservations
    env.sim.expire_tokens()  # a POST answered 401 was not processed: sent again once
    await env.client.capture(tender, env.ctx())
    assert [(r.method, r.status) for r in env.sim.state.requests[-3:]] == [("POST", 401), ("POST", 200), ("POST", 201)]
    assert len(env.sim.state.charges) == 1


async def test_a_second_401_is_an_authentication_error_naming_the_commands(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await env.client.balance(NORMAL)
    monkeypatch.setattr(env.sim, "authenticate", lambda header: None)  # JTL revoked the client
    with pytest.raises(AuthenticationError) as caught:
        await env.client.authorize(NORMAL, chf("5.00"), env.ctx())
    assert "pos keys set --provider jtl" in caught.value.hint
    assert "pos providers connect jtl --pin" in caught.value.hint
    assert [(r.method, r.path, r.status) for r in env.sim.state.requests[2:]] == [
        ("GET", f"/v1/vouchers/{NORMAL}/complete", 401), ("POST", "/oauth/token", 200),
        ("GET", f"/v1/vouchers/{NORMAL}/complete", 401)]
    assert env.sim.state.reservations == {}


async def test_wrong_secret_is_invalid_client(env: Env) -> None:
    client = env.new_client((TILL[0], "wrong-secret-123456"))
    with pytest.raises(AuthenticationError) as caught:
        await client.balance(NORMAL)
    assert "client id or secret" in caught.value.message
    assert "wrong-secret" not in repr(caught.value) + caught.value.message + caught.value.hint
    assert env.spy.paths() == ["POST /oauth/token"]


async def test_a_403_names_the_scope_the_client_group_lacks(env: Env) -> None:
    reader = env.new_client(READER)  # its group has "read" only: the token falls back to it
    assert (await reader.balance(NORMAL)).balance == chf("100.00")
    with pytest.raises(AuthenticationError) as caught:
        await reader.authorize(NORMAL, chf("5.00"), env.ctx())
    assert "read-secrets" in caught.value.message
    assert "JTL Admin UI" in caught.value.hint and "read-secrets" in caught.value.hint
    assert env.sim.state.reservations == {}
    env.sim.set_scopes(TILL[0], ["read", "read-lists", "read-secrets", "use"])  # no recharge any more
    with pytest.raises(AuthenticationError) as caught:
        await env.new_client().create_value(NORMAL, chf("10.00"), env.ctx(), ValueKind.TOP_UP)
    assert "«recharge»" in caught.value.message
    assert not any(c.type == "recharge" for c in env.sim.state.charges.values())


# -- balance and tenders ----------------------------------------------------------------------
async def test_balance(env: Env) -> None:
    b = await env.client.balance(" A1B2C3D4E5F600000001\r\n")
    assert (b.code, b.redeemable, b.balance, b.total, b.currency, b.message, b.product_id) == (
        NORMAL, True, chf("100.00"), chf("100.00"), "CHF", "", "GIFT-100")
    little = await env.client.balance(LITTLE)
    assert (little.balance, little.total) == (chf("3.50"), chf("50.00"))
    expired = await env.client.balance(EXPIRED)
    assert not expired.redeemable and "expired" in expired.message and expired.balance == chf("20.00")
    inactive = await env.client.balance(FOR_SALE)
    assert not inactive.redeemable and "not active" in inactive.message
    with pytest.raises(NotFoundError):
        await env.client.balance("ffffffffffffffffffff")


async def test_another_currency_is_refused_before_any_money_call(env: Env) -> None:
    with pytest.raises(RefusedError) as caught:
        await env.client.balance(EURO)
    assert caught.value.message == "This voucher is in EUR; this till takes CHF."
    assert caught.value.operation == "balance"
    with pytest.raises(RefusedError):
        await env.client.authorize(EURO, chf("10.00"), env.ctx())
    assert env.sim.state.reservations == {}
    assert not [p for p in env.spy.paths() if p.startswith("POST /v1")]


async def test_unreadable_amounts_are_bad_responses(env: Env) -> None:
    def odd(request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.path == f"/v1/vouchers/{NORMAL}":
            return httpx.Response(200, json={"id": NORMAL, "status": "active", "currency": "CHF",
                                             "amount": "100.0", "remaining_amount": "100.00"})
        if request.url.path == "/v1/reservations":
            return httpx.Response(201, json={"id": "r1", "amount": 30.0, "valid_until": None})
        return None

    env.spy.hook = odd
    with pytest.raises(BadResponse) as caught:
        await env.client.balance(NORMAL)
    assert not isinstance(caught.value, UnknownOutcome)
    with pytest.raises(BadResponseUnknownOutcome):
        await env.client.authorize(NORMAL, chf("30.00"), env.ctx())
    with pytest.raises(MoneyError):
        await env.client.authorize(NORMAL, chf("100000.00"), env.ctx())


async def test_authorize_reserves_and_locks_the_voucher(env: Env) -> None:
    auth = await env.client.authorize(NORMAL, chf("30.00"), env.ctx())
    assert isinstance(auth, Authorization)
    assert (auth.code, auth.amount, auth.new_balance) == (NORMAL, chf("30.00"), chf("70.00"))
    assert set(auth.refs) == {"reservation_id", "valid_until", "reserved_until"}
    reservation = env.sim.state.reservations[auth.refs["reservation_id"]]
    assert reservation.amount == 3000
    assert auth.refs["valid_until"] == "2029-12-31T23:59:59+00:00"
    assert datetime.fromisoformat(auth.refs["reserved_until"]) == env.clock.at() + timedelta(minutes=30)
    state = env.sim.snapshot()
    assert state["vouchers"][NORMAL]["locked"] is True
    assert env.sim.voucher(NORMAL).remaining == 10000  # a hold does not lower the balance
    reserve = next(body for r, body in env.spy.seen if r.url.path == "/v1/reservations")
    assert b'"code":"JTL-GIFT-100-A"' in reserve.replace(b" ", b"") and b'"pin":"4711"' in reserve.replace(b" ", b"")


async def test_authorize_refusals(env: Env) -> None:
    with pytest.raises(RefusedError) as caught:
        await env.client.authorize(LITTLE, chf("5.00"), env.ctx())
    assert "3.50" in caught.value.message
    with pytest.raises(RefusedError):
        await env.client.authorize(EXPIRED, chf("5.00"), env.ctx())
    with pytest.raises(RefusedError):
        await env.client.authorize(FOR_SALE, chf("5.00"), env.ctx())
    assert env.sim.state.reservations == {}


async def test_capture_charges_with_the_order_number(env: Env) -> None:
    tender = await held(env)
    captured = await env.client.capture(tender, env.ctx("2026-000777"))
    assert isinstance(captured, Captured)
    assert captured.amount == chf("30.00")
    charge = env.sim.state.charges[captured.refs["charge_id"]]
    assert (charge.type, charge.amount, charge.order_number) == ("charge", 3000, "2026-000777")
    assert captured.refs["order_number"] == "2026-000777"
    assert env.sim.voucher(NORMAL).remaining == 7000
    assert SETTLING.contradiction(op(OpKind.CAPTURE), None, captured) is None


async def test_capture_after_30_minutes_is_hold_lapsed(env: Env) -> None:
    tender = await held(env)
    env.clock.advance(30 * 60 + 1)
    with pytest.raises(HoldLapsed) as caught:
        await env.client.capture(tender, env.ctx())
    assert caught.value.provider_message == "The Reservation has expired."
    assert env.sim.state.charges == {} and env.sim.voucher(NORMAL).remaining == 10000


async def test_a_second_hold_replaces_the_first(env: Env) -> None:
    first = await held(env, amount="10.00")
    second = await held(env, amount="20.00")
    with pytest.raises(HoldLapsed):
        await env.client.capture(first, env.ctx())
    captured = await env.client.capture(second, env.ctx())
    assert captured.amount == chf("20.00")
    assert env.sim.voucher(NORMAL).remaining == 8000


async def test_capture_without_a_hold_sends_nothing(env: Env) -> None:
    with pytest.raises(HoldLapsed):
        await env.client.capture(TenderRef(NORMAL, chf("5.00"), {}), env.ctx())
    assert env.spy.seen == []


async def test_void_sends_nothing_and_says_when_the_hold_lapses(env: Env) -> None:
    tender = await held(env)
    count = len(env.spy.seen)
    result = await env.client.void(tender, tender.amount, env.ctx())
    assert len(env.spy.seen) == count
    assert (result.amount, result.new_balance) == (chf("30.00"), None)
    assert result.lapses_at == env.clock.at() + timedelta(minutes=30)
    bare = await env.client.void(TenderRef(NORMAL, chf("5.00"), {"reservation_id": "x"}), chf("5.00"), env.ctx())
    assert bare.lapses_at == env.clock.at() + timedelta(minutes=30)
    with pytest.raises(MoneyError):
        await env.client.void(tender, chf("10.00"), env.ctx())  # a hold is dropped whole
    state = await env.client.state_of(op(OpKind.VOID))
    assert state == {} and len(env.spy.seen) == count
    assert SETTLING.judge(op(OpKind.VOID), None, state).verdict is Verdict.APPLIED


async def test_refund_partial_then_more_than_is_left(env: Env) -> None:
    tender = await charged(env)
    result = await env.client.refund(tender, chf("12.50"), env.ctx())
    assert result.amount == chf("12.50") and result.new_balance is None
    refund = env.sim.state.charges[result.refs["refund_id"]]
    assert (refund.type, refund.amount) == ("refund", 1250)
    assert env.sim.voucher(NORMAL).remaining == 10000 - 3000 + 1250
    with pytest.raises(RefusedError) as caught:
        await env.client.refund(tender, chf("17.51"), env.ctx())
    assert caught.value.message == "JTL refused the refund."
    assert "exceeds" in caught.value.provider_message
    assert env.sim.voucher(NORMAL).remaining == 8250


# -- value lines ------------------------------------------------------------------------------
async def test_gift_voucher_activation_and_deactivation(env: Env) -> None:
    check = await env.client.check_value(FOR_SALE)
    assert (check.can_create, check.free_amount, check.amount) == (True, False, chf("50.00"))
    assert not (await env.client.check_value(NORMAL)).can_create
    created = await env.client.create_value(FOR_SALE, None, env.ctx())
    assert isinstance(created, ValueResult) and created.amount == chf("50.00")
    assert created.refs["valid_until"].startswith("2029-11-30")  # 3 years from activation
    assert env.sim.voucher(FOR_SALE).status == "active"
    undo = await env.client.check_undo(FOR_SALE)
    assert (undo.can_undo, undo.amount) == (True, chf("50.00"))
    assert not (await env.client.check_undo(LITTLE)).can_undo  # used: cannot be taken back
    undone = await env.client.undo_value(FOR_SALE, env.ctx(), "order cancelled")
    assert undone.amount == chf("50.00")
    assert (env.sim.voucher(FOR_SALE).status, env.sim.voucher(FOR_SALE).valid_until) == ("inactive", None)


async def test_top_up(env: Env) -> None:
    check = await env.client.check_value(NORMAL, ValueKind.TOP_UP)
    assert (check.can_create, check.free_amount, check.amount) == (True, True, None)
    assert not (await env.client.check_value(EXPIRED, ValueKind.TOP_UP)).can_create
    assert not (await env.client.check_value(FOR_SALE, ValueKind.TOP_UP)).can_create
    result = await env.client.create_value(NORMAL, chf("25.00"), env.ctx("2026-000900"), ValueKind.TOP_UP)
    recharge = env.sim.state.charges[result.refs["recharge_id"]]
    assert (recharge.type, recharge.amount, recharge.order_number) == ("recharge", 2500, "2026-000900")
    assert result.amount == chf("25.00") and env.sim.voucher(NORMAL).remaining == 12500
    undo = await env.client.check_undo(NORMAL, ValueKind.TOP_UP)
    assert (undo.can_undo, undo.amount) == (True, chf("125.00"))
    with pytest.raises(UnsupportedOperation):
        await env.client.undo_value(NORMAL, env.ctx(), None, ValueKind.TOP_UP)


# -- states and judgements --------------------------------------------------------------------
async def test_authorize_state_and_judgement(env: Env) -> None:
    authorize = op(OpKind.AUTHORIZE)
    before = await env.client.state_of(authorize)
    assert before == {"status": "active", "remaining": 10000, "locked": False, "locked_until": None}
    assert SETTLING.judge(authorize, before, before).verdict is Verdict.UNCHANGED
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.authorize(NORMAL, chf("30.00"), env.ctx())
    now = await env.client.state_of(authorize)
    assert now["locked"] is True and now["locked_until"] is not None
    applied = SETTLING.judge(authorize, before, now)
    assert (applied.verdict, applied.refs, applied.balance) == (Verdict.APPLIED, {}, 7000)  # what the charge leaves
    assert SETTLING.judge(authorize, now, now).verdict is Verdict.UNCHANGED  # the same hold: someone else's
    assert SETTLING.balance_snapshot(await env.client.balance(NORMAL)) is None


async def test_a_charge_whose_answer_was_dropped_is_found_by_its_order_number(env: Env) -> None:
    tender = await held(env)
    capture = op(OpKind.CAPTURE, refs=dict(tender.refs), request={"order_number": "2026-000123"})
    before = await env.client.state_of(capture)
    assert before == {"remaining": 10000, "charges": []}
    assert SETTLING.judge(capture, None, before).verdict is Verdict.UNCHANGED
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.capture(tender, env.ctx("2026-000123"))
    now = await env.client.state_of(capture)
    (charge_id,) = env.sim.state.charges
    assert now == {"remaining": 7000, "charges": [
        {"id": charge_id, "type": "charge", "amount": 3000, "order_number": "2026-000123"}]}
    judgement = SETTLING.judge(capture, before, now)
    assert judgement.verdict is Verdict.APPLIED
    assert judgement.refs == {"charge_id": charge_id, "order_number": "2026-000123"}
    other = SETTLING.judge(op(OpKind.CAPTURE, amount="20.00"), before, now)
    assert other.verdict is Verdict.OTHER and "30.00" in other.reason
    # Charging it again says "already charged": an unknown outcome to settle, never a refusal.
    with pytest.raises(UnknownOutcome):
        await env.client.capture(tender, env.ctx("2026-000123"))
    assert len(env.sim.state.charges) == 1


async def test_refund_state_every_page(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "PER_PAGE", 1)
    tender = await charged(env)
    refund = op(OpKind.REFUND, amount="5.00", refs=dict(tender.refs), request={})
    await env.client.refund(tender, chf("2.00"), env.ctx())
    before = await env.client.state_of(refund)
    assert [row["type"] for row in before["charges"]] == ["charge", "refund"]
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.refund(tender, chf("5.00"), env.ctx())
    now = await env.client.state_of(refund)
    assert [row["type"] for row in now["charges"]] == ["charge", "refund", "refund"]
    pages = [r for r, _ in env.spy.seen if r.url.path.endswith("/charges")]
    assert len(pages) == 2 + 3
    assert now["remaining"] == 10000 - 3000 + 200 + 500
    judgement = SETTLING.judge(refund, before, now)
    assert judgement.verdict is Verdict.APPLIED and judgement.refs["refund_id"] == now["charges"][2]["id"]
    assert SETTLING.judge(refund, now, now).verdict is Verdict.UNCHANGED
    monkeypatch.setattr(client_module, "MAX_PAGES", 2)  # more pages than it reads: never a partial list
    with pytest.raises(BadResponse):
        await env.client.state_of(refund)


async def test_activation_and_deactivation_states(env: Env) -> None:
    create = op(OpKind.CREATE, FOR_SALE, "50.00", request={"value": "gift_voucher", "order_number": "2026-000123"})
    before = await env.client.state_of(create)
    assert before == {"status": "inactive", "amount": 5000, "remaining": 5000, "valid_until": None}
    assert SETTLING.judge(create, None, before).verdict is Verdict.UNCHANGED
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.create_value(FOR_SALE, None, env.ctx())
    now = await env.client.state_of(create)
    assert now["status"] == "active" and now["valid_until"] is not None
    assert SETTLING.judge(create, before, now).verdict is Verdict.APPLIED
    assert SETTLING.judge(op(OpKind.CREATE, FOR_SALE, "20.00"), before, now).verdict is Verdict.OTHER
    undo = op(OpKind.UNDO, FOR_SALE, "50.00", request={"value": "gift_voucher"})
    active = await env.client.state_of(undo)
    assert active == {"status": "active", "amount": 5000, "remaining": 5000}
    assert SETTLING.judge(undo, active, active).verdict is Verdict.UNCHANGED
    await env.client.undo_value(FOR_SALE, env.ctx())
    assert SETTLING.judge(undo, active, await env.client.state_of(undo)).verdict is Verdict.APPLIED


async def test_top_up_state(env: Env) -> None:
    top_up = op(OpKind.CREATE, NORMAL, "25.00", request={"value": "top_up", "order_number": "2026-000900"})
    before = await env.client.state_of(top_up)
    assert SETTLING.judge(top_up, None, before).verdict is Verdict.UNCHANGED
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.create_value(NORMAL, chf("25.00"), env.ctx("2026-000900"), ValueKind.TOP_UP)
    now = await env.client.state_of(top_up)
    (recharge_id,) = env.sim.state.charges
    judgement = SETTLING.judge(top_up, before, now)
    assert (judgement.verdict, judgement.refs, judgement.balance) == (
        Verdict.APPLIED, {"recharge_id": recharge_id}, 12500)


def test_contradictions() -> None:
    capture = op(OpKind.CAPTURE)
    assert SETTLING.contradiction(capture, None, Captured({}, chf("30.00"))) is not None
    assert "20.00" in (SETTLING.contradiction(capture, None, Captured({"charge_id": "c"}, chf("20.00"))) or "")
    assert SETTLING.contradiction(op(OpKind.CREATE), None, ValueResult(NORMAL, chf("31.00"))) is not None
    assert SETTLING.contradiction(op(OpKind.CREATE), None, ValueResult(NORMAL, chf("30.00"))) is None
    negative = Authorization(NORMAL, chf("30.00"), {}, chf("-1.00"))
    assert SETTLING.contradiction(op(OpKind.AUTHORIZE), None, negative) is not None
    assert normalize_code(" A1B2\tC3D4E5F600000001\x02\r\n") == NORMAL


# -- secrets ----------------------------------------------------------------------------------
async def test_no_secret_in_any_message_repr_or_log(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
    await env.client.balance(NORMAL)
    token = next(iter(env.sim.state.tokens))
    keys = f"secret {TILL[1]} token {token}"
    echo = f"code {NORMAL_CODE} pin {NORMAL_PIN} {keys}"  # a reservation's answer may echo what it was sent

    def echoing(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/reservations":
            return httpx.Response(422, json={"status": 422, "code": "X.Y", "message": echo,
                                             "errors": [{"code": "X", "message": echo}]})
        if request.url.path == f"/v1/vouchers/{LITTLE}":
            return httpx.Response(422, json={"status": 422, "code": "X.Y", "message": keys})
        if request.url.path == f"/v1/vouchers/{USED_UP}":
            return httpx.Response(500, text=keys)
        return None

    env.spy.hook = echoing
    for call in (lambda: env.client.authorize(NORMAL, chf("5.00"), env.ctx()),
                 lambda: env.client.balance(LITTLE), lambda: env.client.balance(USED_UP),
                 lambda: env.new_client((TILL[0], "not-the-secret-42")).balance(NORMAL)):
        try:
            await call()
        except ProviderError as exc:
            errors.append(exc)
    assert len(errors) == 4
    env.spy.hook = None
    env.sim.drop_next_posts(1)
    try:
        await env.client.authorize(NORMAL, chf("5.00"), env.ctx())
    except ProviderError as exc:
        errors.append(exc)
    texts = [caplog.text, repr(env.client)]
    for exc in errors:
        texts += [str(exc), repr(exc), exc.hint, getattr(exc, "provider_message", "")]
        assert exc.__cause__ is None and exc.__context__ is None
    everything = "\n".join(texts)
    for secret in (TILL[1], "not-the-secret-42", token, NORMAL_CODE, f"pin {NORMAL_PIN}", *env.sim.state.tokens):
        assert secret not in everything
    assert "JTL refused the payment." in everything  # the refusal itself is still there
