"""The Celbux client against the simulator, in-process (and a MockTransport where
the simulator cannot say it): string-only bodies with the bearer token and the
community, each Status code's typed error, pay/void/issue/undo, the lookup by
our Reference and CelbuxSettling's judgements of it (a lost answer, a duplicate
Reference), phone numbers, the settings and policy, and no token anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from pos_app.domain.money import Money
from pos_app.providers.base import (
    AuthenticationError,
    NotFoundError,
    OpContext,
    Operation,
    OpKind,
    PermissionDenied,
    ProviderError,
    RefusedError,
    TenderRef,
    UnknownOutcome,
    UnsupportedOperation,
    ValueKind,
    Verdict,
    error_text,
)
from pos_app.providers.celbux.client import CelbuxClient, CelbuxRefused, format_msisdn, normalize_msisdn
from pos_app.providers.celbux.descriptor import DESCRIPTOR, CelbuxSettings, normalize_code, require_zar
from pos_app.providers.celbux.settling import CelbuxSettling
from pos_app.providers.celbux.simulator import build_app, in_process_transport

TOKEN, VIEWER = "demo-celbux-token-till", "demo-celbux-token-viewer"
BASE, NS, STORE = "http://celbux.sim", "demo-za", "Store1"
VOUCHER, LITTLE, EMPTY, LOCKED, ELSEWHERE = ("168-78439-48310", "168-11111-22222", "168-33333-44444",
                                            "168-55555-66666", "168-77777-88888")
KNOWN, NEW = "27648302057", "27831112222"
SETTLING = CelbuxSettling()
AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def zar(text: str) -> Money:
    return Money.parse_plain(text, "ZAR")


@dataclass
class Spy(httpx.AsyncBaseTransport):
    """The simulator's transport, every request kept, with an optional answer of its own."""

    inner: httpx.AsyncBaseTransport
    seen: list[tuple[httpx.Request, dict[str, Any]]] = field(default_factory=list)
    hook: Callable[[httpx.Request], httpx.Response | None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(await request.aread() or b"{}")
        self.seen.append((request, body))
        own = self.hook(request) if self.hook else None
        return own if own is not None else await self.inner.handle_async_request(request)


@dataclass
class Env:
    client: CelbuxClient
    sim: Any
    spy: Spy
    http: httpx.AsyncClient

    def client_with(self, token: str = TOKEN, **kw: Any) -> CelbuxClient:
        return CelbuxClient(self.http, token, BASE, NS, STORE, **kw)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    app, sim = build_app(clock=lambda: AT.timestamp())
    spy = Spy(in_process_transport(app))
    async with httpx.AsyncClient(transport=spy) as http:
        yield Env(CelbuxClient(http, TOKEN, BASE, NS, STORE, timeout_s=2.0), sim, spy, http)


def ctx(ref: str) -> OpContext:
    return OpContext(ref, "2026-000123", AT)


def op(kind: OpKind, reference: str, amount: str | None = "20.00", *, code: str = VOUCHER,
       refs: dict[str, str] | None = None, request: dict[str, Any] | None = None) -> Operation:
    return Operation(kind, code, None if amount is None else zar(amount), reference, refs or {}, request or {})


def mock(answer: dict[str, Any], status: int = 200) -> CelbuxClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer)

    return CelbuxClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), TOKEN, BASE, NS, STORE)


def failed(status: str, error: str = "Transaction Failed") -> dict[str, str]:
    return {"State": "Failed", "Status": status, "Error": error}


# -- the wire ------------------------------------------------------------------------------
async def test_every_call_posts_strings_only_with_the_bearer_token_and_the_community(env: Env) -> None:
    await env.client.balance(VOUCHER)
    paid = await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000001"))
    await env.client.void(TenderRef(VOUCHER, zar("20.00"), paid.refs), zar("20.00"), ctx("o-t-000002"))
    issued = await env.client.create_value("celbux", zar("50.00"), ctx("o-t-000003"), details={"phone": KNOWN})
    await env.client.undo_value("celbux", ctx("o-t-000004"), None, refs=issued.refs)
    await env.client.state_of(op(OpKind.AUTHORIZE, "o-t-000001"))
    calls = [request.url.path for request, _ in env.spy.seen]
    assert calls == ["/viewVoucher", "/pay", "/reverse", "/createVoucher", "/reverse", "/payment"]
    for request, body in env.spy.seen:
        assert request.method == "POST"
        assert request.url.params["ns"] == NS
        assert request.headers["authorization"] == f"bearer {TOKEN}"
        assert body and all(isinstance(value, str) for value in body.values()), body
        json.loads(body.get("Metadata", "{}"))  # Metadata is JSON text
    pay = env.spy.seen[1][1]
    assert pay == {"VoucherNo": VOUCHER, "Amount": "2000", "Currency": "ZAR", "StoreID": STORE,
                   "Reference": "o-t-000001", "Metadata": '{"Order":"2026-000123"}'}
    assert env.spy.seen[3][1]["Username"] == KNOWN and env.spy.seen[3][1]["VoucherType"] == "168Cash"


# -- balance and pay -----------------------------------------------------------------------
async def test_balance_is_redeemable_with_money_on_it_and_not_locked(env: Env) -> None:
    seen = await env.client.balance(" 168-78439-48310\r\n")
    assert (seen.code, seen.redeemable, seen.balance, seen.product_id) == (VOUCHER, True, zar("250.00"), "168Cash")
    empty, locked = await env.client.balance(EMPTY), await env.client.balance(LOCKED)
    assert not empty.redeemable and empty.message
    assert not locked.redeemable and locked.balance == zar("100.00") and "locked" in locked.message


async def test_pay_then_void_gives_the_money_back(env: Env) -> None:
    await env.client.balance(VOUCHER)
    paid = await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000010"))
    assert paid.amount == zar("20.00") and paid.new_balance == zar("230.00")
    assert paid.refs["reference"] == "o-t-000010" and paid.refs["tid"].isdigit()
    assert env.sim.voucher(VOUCHER).balance == 23000
    back = await env.client.void(TenderRef(VOUCHER, paid.amount, paid.refs), paid.amount, ctx("o-t-000011"))
    assert back.amount == zar("20.00") and back.refs["reverse_reference"] == "o-t-000011"
    assert env.sim.voucher(VOUCHER).balance == 25000
    assert env.spy.seen[-1][1]["OldReference"] == "o-t-000010"
    without = await env.client.authorize(LITTLE, zar("1.00"), ctx("o-t-000012"))  # no balance read before
    assert without.new_balance is None


@pytest.mark.parametrize(("code", "amount", "error", "words"), [
    (LOCKED, "10.00", CelbuxRefused, "locked"),
    (LITTLE, "10.00", CelbuxRefused, "balance is too low"),
    (ELSEWHERE, "1.00", NotFoundError, "does not know this voucher"),
])
async def test_refusals_have_the_tills_meaning_and_celbux_words(env: Env, code: str, amount: str,
                                                                error: type[RefusedError], words: str) -> None:
    with pytest.raises(error) as caught:
        await env.client.authorize(code, zar(amount), ctx("o-t-000020"))
    assert words in caught.value.message and caught.value.provider_message.startswith("Transaction Failed")
    assert caught.value.hint
    assert env.sim.by_reference("o-t-000020") is None


async def test_each_status_code_is_its_typed_error() -> None:
    cases = {"-1": CelbuxRefused, "-3": NotFoundError, "-4": CelbuxRefused, "-6": CelbuxRefused,
             "-7": CelbuxRefused, "-5": PermissionDenied, "-2": UnknownOutcome}
    for status, kind in cases.items():
        with pytest.raises(kind) as caught:
            await mock(failed(status, "Transaction Failed - x")).authorize(VOUCHER, zar("1.00"), ctx("r1"))
        assert type(caught.value) is kind, status
        if isinstance(caught.value, CelbuxRefused):
            assert caught.value.status == status and caught.value.provider_message == "Transaction Failed - x"
    with pytest.raises(CelbuxRefused):  # a read's -2 is no unknown outcome: nothing was asked to move
        await mock(failed("-2")).balance(VOUCHER)
    with pytest.raises(AuthenticationError) as caught:
        await mock(failed("-5", "Unauthorised"), status=401).balance(VOUCHER)
    assert not isinstance(caught.value, PermissionDenied)
    assert "pos keys set --provider celbux --field token" in caught.value.hint
    with pytest.raises(UnknownOutcome):  # success without the envelope's sense: not readable
        await mock({"State": "Maybe"}).authorize(VOUCHER, zar("1.00"), ctx("r1"))


async def test_an_out_of_scope_token_is_permission_denied_with_the_scope_to_ask_for(env: Env) -> None:
    viewer = env.client_with(VIEWER)
    assert (await viewer.balance(VOUCHER)).redeemable
    with pytest.raises(PermissionDenied) as caught:
        await viewer.authorize(VOUCHER, zar("1.00"), ctx("o-t-000030"))
    assert "scope" in caught.value.hint and "pay" in caught.value.hint and NS in caught.value.hint
    with pytest.raises(AuthenticationError) as wrong:
        await env.client_with("not-the-token-at-all").balance(VOUCHER)
    assert "--field token" in wrong.value.hint


# -- issue and undo --------------------------------------------------------------------------
async def test_issue_to_a_new_phone_sends_an_sms_and_undo_takes_it_back(env: Env) -> None:
    funds = env.sim.balance(STORE)
    issued = await env.client.create_value("celbux", zar("50.00"), ctx("o-t-000040"), ValueKind.GIFT_VOUCHER,
                                           details={"phone": "083 111 2222"})
    number = issued.refs["voucher_no"]
    assert issued.amount == zar("50.00") and DESCRIPTOR.owns(CelbuxSettings(base_url=BASE, community=NS,
                                                                           store_id=STORE), number)
    assert set(issued.refs) >= {"voucher_no", "tid", "reference", "created"} and issued.refs["phone"] == NEW
    assert [sms.voucher_no for sms in env.sim.sms_to(NEW)] == [number]
    assert env.sim.balance(STORE) == funds - 5000
    assert SETTLING.contradiction(op(OpKind.CREATE, "o-t-000040", "50.00"), None, issued) is None
    undone = await env.client.undo_value("celbux", ctx("o-t-000041"), "storno", refs=issued.refs)
    assert undone.amount == zar("50.00") and env.sim.balance(STORE) == funds
    own = await env.client.create_value("celbux", zar("5.00"), ctx("o-t-000042"))  # no phone: the funder's
    assert "Username" not in env.spy.seen[-1][1] and own.refs["voucher_no"]
    with pytest.raises(UnsupportedOperation):
        await env.client.create_value(VOUCHER, zar("5.00"), ctx("o-t-000043"), ValueKind.TOP_UP)


async def test_a_bad_phone_number_is_refused_before_anything_is_sent(env: Env) -> None:
    with pytest.raises(ValueError, match="South African"):
        await env.client.create_value("celbux", zar("5.00"), ctx("o-t-000050"), details={"phone": "4479001234"})
    assert env.spy.seen == []
    with pytest.raises(CelbuxRefused) as caught:  # what Celbux itself says of one
        await mock(failed("-6", "Transaction Failed - Invalid MSISDN")).create_value(
            "celbux", zar("5.00"), ctx("r1"), details={"phone": KNOWN})
    assert "phone number" in caught.value.message and "+27" in (caught.value.hint or "")


# -- lost answers --------------------------------------------------------------------------
async def test_a_dropped_pay_answer_is_looked_up_and_judged_applied(env: Env) -> None:
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000060"))
    assert env.sim.voucher(VOUCHER).balance == 23000
    pay = op(OpKind.AUTHORIZE, "o-t-000060")
    state = await env.client.state_of(pay)
    assert state["found"] is True and state["type"] == "pay" and state["amount"] == 2000
    judgement = SETTLING.judge(pay, None, state)
    assert judgement.verdict is Verdict.APPLIED and judgement.refs["reference"] == "o-t-000060"
    assert judgement.refs["tid"] == state["tid"]
    # The refs the lookup gave are enough to reverse it.
    await env.client.void(TenderRef(VOUCHER, zar("20.00"), judgement.refs), zar("20.00"), ctx("o-t-000061"))
    assert env.sim.voucher(VOUCHER).balance == 25000
    void = op(OpKind.VOID, "o-t-000061", refs=judgement.refs)
    assert SETTLING.judge(void, None, await env.client.state_of(void)).verdict is Verdict.APPLIED
    paid_back = SETTLING.judge(pay, None, await env.client.state_of(pay))
    assert paid_back.verdict is Verdict.OTHER  # made, then reversed: a person decides


async def test_a_duplicate_reference_after_a_timeout_is_an_unknown_outcome_settled_by_lookup(env: Env) -> None:
    await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000070"))  # it arrived; the answer "timed out"
    with pytest.raises(UnknownOutcome) as caught:  # e.g. a proxy sent it again
        await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000070"))
    assert not isinstance(caught.value, RefusedError)
    assert env.sim.voucher(VOUCHER).balance == 23000  # once
    pay = op(OpKind.AUTHORIZE, "o-t-000070")
    assert SETTLING.judge(pay, None, await env.client.state_of(pay)).verdict is Verdict.APPLIED


async def test_not_found_waits_the_settle_window_and_other_shapes_are_judged(env: Env) -> None:
    pay = op(OpKind.AUTHORIZE, "o-t-000080")
    state = await env.client.state_of(pay)
    assert state == {"found": False, "reference": "o-t-000080"}
    assert SETTLING.judge(pay, None, state).verdict is Verdict.UNCHANGED  # never NOT_APPLIED: it may arrive late
    probe = op(OpKind.AUTHORIZE, "")
    count = len(env.spy.seen)
    assert await env.client.state_of(probe) == {} and len(env.spy.seen) == count  # nothing to look up
    assert SETTLING.judge(probe, None, {}).verdict is Verdict.UNCHANGED
    assert SETTLING.judge(pay, None, {"found": False, "reference": "o-t-000080", "in_progress": True}
                          ).verdict is Verdict.PENDING
    other = {"found": True, "reference": "o-t-000080", "type": "createVoucher", "amount": 2000, "reverse_id": "",
             "tid": "1"}
    assert SETTLING.judge(pay, None, other).verdict is Verdict.OTHER
    assert SETTLING.judge(pay, None, {**other, "type": "pay", "amount": 999}).verdict is Verdict.OTHER
    assert SETTLING.judge(pay, None, {**other, "reference": "someone-else"}).verdict is Verdict.UNCHANGED
    in_flight = mock(failed("-10"))
    assert (await in_flight.state_of(pay))["in_progress"] is True


async def test_a_lost_issue_answer_is_applied_with_its_voucher_number(env: Env) -> None:
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await env.client.create_value("celbux", zar("30.00"), ctx("o-t-000090"), details={"phone": KNOWN})
    issue = op(OpKind.CREATE, "o-t-000090", "30.00", code="celbux", request={"details": {"phone": KNOWN}})
    judgement = SETTLING.judge(issue, None, await env.client.state_of(issue))
    assert judgement.verdict is Verdict.APPLIED
    assert judgement.refs["voucher_no"].startswith("168-") and judgement.refs["phone"] == KNOWN
    await env.client.undo_value("celbux", ctx("o-t-000091"), None, refs=judgement.refs)
    assert env.sim.voucher(judgement.refs["voucher_no"]).balance == 0


# -- phone numbers, settings, policy ---------------------------------------------------------
@pytest.mark.parametrize("raw", ["082 123 4567", "0821234567", "+27 82 123 4567", "27821234567",
                                 "0027-82-123-4567", "(082) 123.4567"])
def test_phone_numbers_are_normalised(raw: str) -> None:
    assert normalize_msisdn(raw) == "27821234567"
    assert format_msisdn(raw) == "+27 82 123 4567"


@pytest.mark.parametrize("raw", ["", "082 123 456", "2782123456", "+44 7911 123456", "27021234567",
                                 "082 123 4567 8", "O82 123 4567", "٠٨٢١٢٣٤٥٦٧"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_msisdn(raw)


def test_settings_policy_and_codes() -> None:
    settings = CelbuxSettings(base_url=BASE, community=NS, store_id=STORE)
    assert settings.voucher_type == "168Cash" and settings.settle_s > settings.timeout_s
    assert DESCRIPTOR.owns(settings, " 168-78439-48310\n") and not DESCRIPTOR.owns(settings, "1687843948310")
    assert normalize_code("168 - 78439") == "168-78439"
    with pytest.raises(ValidationError):
        CelbuxSettings(base_url=BASE, community="", store_id=STORE)
    policy = DESCRIPTOR.policy
    assert policy.deduplicated == frozenset() and policy.lookup_by_reference and not policy.captures
    assert DESCRIPTOR.secret_fields == ("token",)
    assert DESCRIPTOR.word(OpKind.AUTHORIZE) == "payment" and DESCRIPTOR.word(OpKind.CREATE) == "voucher issue"
    assert require_zar("ZAR") == "ZAR"
    with pytest.raises(ValueError, match="ZAR"):
        require_zar("CHF")
    with pytest.raises(ValueError, match="ZAR"):
        CelbuxClient(httpx.AsyncClient(), TOKEN, BASE, NS, STORE, currency="CHF")


# -- the token -------------------------------------------------------------------------------
async def test_the_token_is_never_in_a_message_a_log_line_or_a_repr(env: Env,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"State": "Failed", "Status": "-1", "Error": f"bad token {TOKEN} in bearer {TOKEN}"}
    env.spy.hook = lambda request: httpx.Response(200, json=echo) if request.url.path == "/pay" else None
    errors: list[ProviderError] = []
    with pytest.raises(CelbuxRefused) as caught:
        await env.client.authorize(VOUCHER, zar("1.00"), ctx("o-t-000100"))
    errors.append(caught.value)
    env.spy.hook = lambda request: httpx.Response(500, text=f"crash {TOKEN}")
    with pytest.raises(ProviderError) as crashed:
        await env.client.authorize(VOUCHER, zar("1.00"), ctx("o-t-000101"))
    errors.append(crashed.value)
    env.spy.hook = None
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome) as lost:
        await env.client.authorize(VOUCHER, zar("1.00"), ctx("o-t-000102"))
    errors.append(lost.value)
    texts = [error_text(e, "Celbux") + repr(e) + (e.hint or "") + str(e.__cause__) + str(e.__context__)
             for e in errors]
    texts += [record.getMessage() for record in caplog.records] + [repr(env.client)]
    for text in texts:
        assert TOKEN not in text and TOKEN[:12] not in text, text


async def test_a_void_of_a_payment_reversed_elsewhere_is_looked_up_and_applied(env: Env) -> None:
    paid = await env.client.authorize(VOUCHER, zar("20.00"), ctx("o-t-000110"))
    await env.client.void(TenderRef(VOUCHER, paid.amount, paid.refs), paid.amount, ctx("o-t-000111"))  # "elsewhere"
    with pytest.raises(UnknownOutcome):  # -9: reversed already
        await env.client.void(TenderRef(VOUCHER, paid.amount, paid.refs), paid.amount, ctx("o-t-000112"))
    void = op(OpKind.VOID, "o-t-000112", refs=paid.refs)
    state = await env.client.state_of(void)
    assert state["found"] is False and state["original_reverse_id"]
    assert SETTLING.judge(void, None, state).verdict is Verdict.APPLIED
    assert env.sim.voucher(VOUCHER).balance == 25000  # given back once


async def test_an_issued_voucher_spent_from_cannot_be_reversed(env: Env) -> None:
    issued = await env.client.create_value("celbux", zar("10.00"), ctx("o-t-000120"), details={"phone": KNOWN})
    await env.client.authorize(issued.refs["voucher_no"], zar("1.00"), ctx("o-t-000121"))
    with pytest.raises(CelbuxRefused) as caught:
        await env.client.undo_value("celbux", ctx("o-t-000122"), None, refs=issued.refs)
    assert caught.value.status == "-4" and "reversal" in caught.value.message
