"""The CSQ eVSB client against the real simulator, in-process: signed headers, the
401 with its clock hint, purchases by the account suffix and their meanings,
additional data (404s first: NotReady), idempotent replays, reverts,
transaction info and CsqSettling's judgements of it, the settings and policy,
and no secret anywhere."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from pos_app.domain.money import Money, MoneyError
from pos_app.providers.base import (
    AuthenticationError,
    NotReady,
    OpContext,
    Operation,
    OpKind,
    PermissionDenied,
    ProviderError,
    RefusedError,
    UnknownOutcome,
    ValueKind,
    ValueResult,
    Verdict,
)
from pos_app.providers.csq.client import CsqClient, CsqRefused, split_code
from pos_app.providers.csq.descriptor import DESCRIPTOR, CsqProduct, CsqSettings
from pos_app.providers.csq.settling import CsqSettling
from pos_app.providers.csq.simulator import CsqSimulator, build_app, in_process_transport

USER, PASSWORD = "demo-till", "demo-csq-password"
TERMINAL = "173101"
BASE = "http://csq.sim"
START = 1_796_200_000.0  # 2026-12-02, mid-morning UTC
SETTLING = CsqSettling()
PIN, AD_RANDOM, AD_ALWAYS, GIFT_CARD, RAFFLE = "9991", "9994", "9995", "4101", "4201"
OK, REJECTED, TIMEOUT, OTHER = "4711000", "4711001", "4711002", "4711009"


def chf(text: str) -> Money:
    return Money.parse_plain(text, "CHF")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now)


@dataclass
class Spy(httpx.AsyncBaseTransport):
    """The simulator's transport, every request and answer kept, with an optional
    answer of its own."""

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


@dataclass
class Env:
    client: CsqClient
    sim: CsqSimulator
    spy: Spy
    clock: Clock
    http: httpx.AsyncClient
    draws: list[float]

    def ctx(self, ref: str = "1") -> OpContext:
        return OpContext(ref, "2026-000123", self.clock.at())

    def new_client(self, password: str = PASSWORD, **kw: Any) -> CsqClient:
        return CsqClient(self.http, USER, password, BASE, TERMINAL, "CHF", 5.0, clock=self.clock, **kw)

    def day(self) -> str:
        return self.clock.at().strftime("%Y%m%d")


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock()
    draws: list[float] = []
    app, sim = build_app(clock=clock, draw=lambda: draws.pop(0) if draws else 0.9)
    spy = Spy(in_process_transport(app))
    async with httpx.AsyncClient(transport=spy) as http:
        yield Env(CsqClient(http, USER, PASSWORD, BASE, TERMINAL, "CHF", 5.0, clock=clock), sim, spy, clock,
                  http, draws)


def op(kind: OpKind, reference: str, amount: str | None = "20.00", *, refs: dict[str, str] | None = None,
       request: dict[str, Any] | None = None, code: str = PIN) -> Operation:
    return Operation(kind, code, None if amount is None else chf(amount), reference, refs or {}, request or {})


async def bought(env: Env, ref: str = "1", code: str = PIN, account: str = OK, amount: str = "20.00") -> ValueResult:
    return await env.client.create_value(code, chf(amount), env.ctx(ref), ValueKind.DIGITAL,
                                         details={"account": account})


# -- auth ----------------------------------------------------------------------------------
async def test_every_request_is_signed_with_the_salted_hash_of_the_clock(env: Env) -> None:
    await env.client.ping()
    env.clock.now += 7
    await bought(env)
    assert len(env.spy.seen) == 2
    for request, _body in env.spy.seen:
        salt = request.headers["st"]
        assert request.headers["u"] == USER
        assert request.headers["accept"] == "application/json"
        assert request.headers["sh"] == sha(sha(PASSWORD) + sha(salt))  # computed here, not by the client
    assert [int(r.headers["st"]) for r, _ in env.spy.seen] == [int(START), int(START) + 7]


async def test_401_names_the_credentials_and_the_clock(env: Env) -> None:
    wrong_password = env.new_client(password="wrong-password-123")
    late_clock = CsqClient(env.http, USER, PASSWORD, BASE, TERMINAL, "CHF", 5.0, clock=lambda: START - 31)
    for client in (wrong_password, late_clock):  # the salt of a clock 31 s behind CSQ's is stale
        with pytest.raises(AuthenticationError) as caught:
            await client.ping()
        assert "401" in caught.value.message and "clock" in caught.value.message
        assert "pos keys set --provider csq --field username" in caught.value.hint
        assert "--field password" in caught.value.hint and "30 seconds" in caught.value.hint


async def test_a_terminal_of_another_user_is_permission_denied(env: Env) -> None:
    client = CsqClient(env.http, USER, PASSWORD, BASE, "173201", "CHF", 5.0, clock=env.clock)
    with pytest.raises(PermissionDenied) as caught:
        await client.parameters(9991)
    assert "terminal_id" in caught.value.hint


async def test_check_key_pings_with_the_credentials(env: Env) -> None:
    assert DESCRIPTOR.check_key is not None
    await DESCRIPTOR.check_key(env.client)
    with pytest.raises(AuthenticationError):
        await DESCRIPTOR.check_key(env.new_client(password="not-the-password"))


# -- purchases --------------------------------------------------------------------------
async def test_a_sale_answers_the_voucher_code_and_the_references(env: Env) -> None:
    result = await bought(env, "1001")
    sale = env.sim.transaction(TERMINAL, "1001", env.day())
    assert sale is not None and sale.resultcode == "10" and sale.voucher_code
    assert result.amount == chf("20.00") and result.code == PIN
    refs = result.refs
    assert refs["voucher_code"] == sale.voucher_code == refs["supplier_token"]
    assert refs["supplier_reference"] == sale.supplierreference
    assert (refs["local_reference"], refs["local_date"], refs["amount_x100"]) == ("1001", env.day(), "2000")
    assert refs["account"] == OK and refs["has_additional_data"] == "0"
    assert refs["instructions"] == "Enter the PIN at checkout."  # DummyPin answers it inline
    assert env.sim.balance(TERMINAL) == 100000 - 2000
    _request, body = env.spy.seen[-1]
    assert _request.url.path == f"/pre-paid/vouchers/purchase/{TERMINAL}/9991/1001"
    assert b'"amountToSendX100":2000' in body and b'"localDateTime":"' + env.clock.at().isoformat(
        timespec="seconds").encode() in body


@pytest.mark.parametrize(("account", "code", "words"), [
    (REJECTED, "971", "the operator refused it"),
    (TIMEOUT, "990", "the operator did not answer in time"),
    (OTHER, "991", "CSQ had a system error"),
])
async def test_each_account_suffix_is_a_refusal_with_its_meaning(env: Env, account: str, code: str,
                                                                  words: str) -> None:
    with pytest.raises(CsqRefused) as caught:
        await bought(env, "7", account=account)
    error = caught.value
    assert isinstance(error, RefusedError) and error.result_code == code
    assert words in error.message and f"code {code}" in error.message
    assert error.provider_message and error.provider_message != error.message  # CSQ's own words
    assert env.sim.balance(TERMINAL) == 100000  # nothing bought


async def test_too_little_on_the_account_is_13_with_a_hint(env: Env) -> None:
    client = CsqClient(env.http, USER, PASSWORD, BASE, "173102", "CHF", 5.0, clock=env.clock)
    await client.create_value(GIFT_CARD, chf("20.00"), env.ctx("1"))
    with pytest.raises(CsqRefused) as caught:
        await client.create_value(GIFT_CARD, chf("20.00"), env.ctx("2"))
    assert caught.value.result_code == "13" and "credit" in caught.value.hint


async def test_a_replay_with_the_same_reference_answers_the_same_voucher_and_buys_once(env: Env) -> None:
    first = await bought(env, "55")
    again = await bought(env, "55")
    assert again.refs == first.refs
    assert len(env.sim.purchases()) == 1 and env.sim.balance(TERMINAL) == 100000 - 2000


async def test_a_duplicate_reference_for_another_sale_is_an_unknown_outcome(env: Env) -> None:
    await bought(env, "56")
    with pytest.raises(UnknownOutcome) as caught:
        await bought(env, "56", amount="30.00")
    assert "12" in caught.value.message


async def test_amounts_and_fields_are_checked_before_anything_is_sent(env: Env) -> None:
    products = (CsqProduct(operator_id=4101, name="City Gift Card", currency="CHF", amounts=("20.00", "50.00")),)
    client = env.new_client(products=products)
    with pytest.raises(MoneyError):
        await client.create_value(GIFT_CARD, chf("30.00"), env.ctx("3"))
    with pytest.raises(ValueError):
        await client.create_value(GIFT_CARD, chf("20.00"), env.ctx("3"), details={"pin": "1234"})
    with pytest.raises(ValueError):
        await client.create_value(GIFT_CARD, chf("20.00"), env.ctx("shop-1-000003"))
    with pytest.raises(ValueError):
        await client.create_value("gift", chf("20.00"), env.ctx("3"))
    assert env.spy.seen == []
    with pytest.raises(CsqRefused) as caught:  # CSQ checks the fields its parameters list
        await env.client.create_value(PIN, chf("20.00"), env.ctx("3"))
    assert "as invalid" in caught.value.message and "account is required" in caught.value.provider_message
    assert env.sim.purchases() == []
    assert split_code(" 4201/R-2027-01 ") == (4201, "R-2027-01")


async def test_dynamic_products_and_parameters_for_the_screen(env: Env) -> None:
    assert await env.client.products(9991) == []  # 404: no dynamic products
    raffle = await env.client.products(4201)
    assert [(p.id, p.amount, p.total) for p in raffle] == [
        ("R-2027-01", chf("5.00"), chf("5.00")), ("R-2027-02", chf("10.00"), chf("11.00"))]
    assert raffle[0].additional == {"drawDate": "2027-01-31"}
    assert await env.client.parameters(4103) == [("documentNumber", "Document number"),
                                                 ("documentType", "Document type (PASSPORT or ID_CARD)")]
    check = await env.client.check_value(f"{RAFFLE}/R-2027-02", ValueKind.DIGITAL)
    assert check.can_create and not check.free_amount and check.amount == chf("10.00")
    result = await env.client.create_value(f"{RAFFLE}/R-2027-02", None, env.ctx("9"))
    assert result.amount == chf("10.00") and env.sim.balance(TERMINAL) == 100000 - 1100
    unknown = await env.client.check_value("1234")
    assert not unknown.can_create and "1234" in unknown.message


async def test_check_value_by_the_shops_products(env: Env) -> None:
    products = (CsqProduct(operator_id=4101, name="Card", currency="CHF", amounts=("20.00",)),
                CsqProduct(operator_id=9991, name="Pin", currency="CHF", min="1.00", max="100.00"))
    client = env.new_client(products=products)
    single = await client.check_value(GIFT_CARD)
    assert single.can_create and single.amount == chf("20.00") and not single.free_amount
    ranged = await client.check_value(PIN)
    assert ranged.can_create and ranged.free_amount and ranged.amount is None
    other = await client.check_value(AD_ALWAYS)
    assert not other.can_create and "not one of this shop's products" in other.message
    result = await client.create_value(GIFT_CARD, None, env.ctx("4"))  # its only amount
    assert result.amount == chf("20.00")
    raffle = env.new_client(products=(CsqProduct(operator_id=4201, name="Raffle", currency="CHF", dynamic=True),))
    assert not (await raffle.check_value(RAFFLE)).can_create
    assert (await raffle.check_value(f"{RAFFLE}/R-2027-01")).amount == chf("5.00")


# -- additional data ----------------------------------------------------------------------
async def test_additional_data_is_not_ready_while_csq_answers_404_then_it_is(env: Env) -> None:
    result = await bought(env, "20", code=AD_ALWAYS)  # 9995: always, one 404 first
    assert result.refs["has_additional_data"] == "1"
    with pytest.raises(NotReady):
        await env.client.value_info(AD_ALWAYS, result.refs)
    info = await env.client.value_info(AD_ALWAYS, result.refs)
    assert info["instructions"] == "Redeem online with the code."
    assert info["redeem_code"] == result.refs["voucher_code"] and info["redeem_account"] == OK
    assert info["expiration"].startswith("2027-12-")
    assert info["extra:pdf"].endswith(".pdf")


async def test_random_additional_data_of_9994(env: Env) -> None:
    env.draws.extend([0.1, 0.9])
    with_data = await bought(env, "21", code=AD_RANDOM)
    without = await bought(env, "22", code=AD_RANDOM)
    assert (with_data.refs["has_additional_data"], without.refs["has_additional_data"]) == ("1", "0")
    for _ in range(2):
        with pytest.raises(NotReady):
            await env.client.value_info(AD_RANDOM, with_data.refs)
    assert (await env.client.value_info(AD_RANDOM, with_data.refs))["instructions"]
    count = len(env.spy.seen)
    assert await env.client.value_info(AD_RANDOM, without.refs) == {}
    assert len(env.spy.seen) == count  # nothing to fetch


# -- transaction info and settling -----------------------------------------------------------
async def test_transaction_info_900_is_pending_then_the_sale(env: Env) -> None:
    await bought(env, "30")
    purchase = op(OpKind.CREATE, "30", request={"local_date": env.day()})
    now = await env.client.state_of(purchase)
    assert now["resultcode"] == "900"
    assert SETTLING.judge(purchase, None, now).verdict is Verdict.PENDING
    env.clock.now += 6  # indexed
    now = await env.client.state_of(purchase)
    judgement = SETTLING.judge(purchase, None, now)
    assert judgement.verdict is Verdict.APPLIED
    sale = env.sim.transaction(TERMINAL, "30", env.day())
    assert sale is not None
    assert judgement.refs["supplier_reference"] == sale.supplierreference
    assert judgement.refs["voucher_code"] == sale.voucher_code
    assert (judgement.refs["local_reference"], judgement.refs["local_date"]) == ("30", env.day())


async def test_a_reference_never_received_is_not_applied(env: Env) -> None:
    purchase = op(OpKind.CREATE, "31")  # no journaled date: today and yesterday are asked
    now = await env.client.state_of(purchase)
    assert now["found"] is False
    judgement = SETTLING.judge(purchase, None, now)
    assert judgement.verdict is Verdict.NOT_APPLIED and "never" in judgement.reason
    paths = [r.url.path for r, _ in env.spy.seen]
    assert len(paths) == 2 and paths[0].endswith(f"/31/{env.day()}")


async def test_a_refused_sale_looked_up_is_not_applied_with_its_meaning(env: Env) -> None:
    with pytest.raises(CsqRefused):
        await bought(env, "32", account=REJECTED)
    env.clock.now += 6
    judgement = SETTLING.judge(op(OpKind.CREATE, "32"), None, await env.client.state_of(op(OpKind.CREATE, "32")))
    assert judgement.verdict is Verdict.NOT_APPLIED and "the operator refused it" in judgement.reason


async def test_the_read_before_the_send_asks_nothing(env: Env) -> None:
    probe = op(OpKind.CREATE, "")
    assert await env.client.state_of(probe) == {}
    assert SETTLING.judge(probe, None, {}).verdict is Verdict.UNCHANGED
    assert env.spy.seen == []


async def test_a_dropped_purchase_answer_is_settled_applied_and_a_replay_gives_the_voucher(env: Env) -> None:
    env.sim.drop_next_posts(1)
    with pytest.raises(UnknownOutcome):
        await bought(env, "40")
    assert len(env.sim.purchases()) == 1
    sent_at = env.clock.at().isoformat(timespec="seconds")
    env.clock.now += 6
    purchase = op(OpKind.CREATE, "40", request={"local_at": sent_at, "details": {"account": OK}})
    judgement = SETTLING.judge(purchase, None, await env.client.state_of(purchase))
    assert judgement.verdict is Verdict.APPLIED
    assert len(env.spy.seen) == 2  # the journaled date: one lookup
    again = await bought(env, "40")  # deduplicated: the same voucher, bought once
    assert again.refs == judgement.refs  # the lookup gave the line all a sale's answer gives
    assert len(env.sim.purchases()) == 1 and env.sim.balance(TERMINAL) == 100000 - 2000
    await env.client.undo_value(PIN, env.ctx("42"), None, ValueKind.DIGITAL, refs=judgement.refs)
    assert env.sim.balance(TERMINAL) == 100000


async def test_a_timeout_after_sending_is_an_unknown_outcome(env: Env) -> None:
    env.sim.set_apply_delay(0.3)
    client = CsqClient(env.http, USER, PASSWORD, BASE, TERMINAL, "CHF", 0.1, clock=env.clock)
    with pytest.raises(UnknownOutcome):
        await client.create_value(PIN, chf("20.00"), env.ctx("41"), details={"account": OK})


async def test_contradiction_and_no_balance(env: Env) -> None:
    purchase = op(OpKind.CREATE, "1")
    assert SETTLING.contradiction(purchase, None, ValueResult(PIN, chf("30.00"), {"voucher_code": "x"}))
    assert SETTLING.contradiction(purchase, None, ValueResult(PIN, chf("20.00"), {}))
    assert SETTLING.contradiction(purchase, None, ValueResult(PIN, chf("20.00"), {"voucher_code": "x"})) is None
    assert SETTLING.judge(purchase, None, {"found": True, "resultcode": "15"}).verdict is Verdict.PENDING


# -- reverts ------------------------------------------------------------------------------
async def test_a_revert_sends_the_originals_reference_and_date_and_is_20(env: Env) -> None:
    sale = await bought(env, "60")
    result = await env.client.undo_value(PIN, env.ctx("61"), "cancel", ValueKind.DIGITAL, refs=sale.refs)
    assert result.amount == chf("20.00") and result.refs["revert_local_reference"] == "61"
    assert env.sim.balance(TERMINAL) == 100000
    _request, body = env.spy.seen[-1]
    assert _request.url.path == f"/util/revert/{TERMINAL}/9991/61"
    assert b'"originalLocalReference":"60"' in body and f'"originalLocalDate":"{env.day()}"'.encode() in body
    env.clock.now += 6
    revert = op(OpKind.UNDO, "61", refs=dict(sale.refs), request={"local_date": env.day()})
    assert SETTLING.judge(revert, None, await env.client.state_of(revert)).verdict is Verdict.APPLIED
    with pytest.raises(UnknownOutcome):  # a second revert of the same sale: "12", looked up
        await env.client.undo_value(PIN, env.ctx("62"), None, ValueKind.DIGITAL, refs=sale.refs)
    env.clock.now += 6
    second = op(OpKind.UNDO, "62")
    assert SETTLING.judge(second, None, await env.client.state_of(second)).verdict is Verdict.NOT_APPLIED


async def test_a_refused_revert_says_why_and_one_without_refs_is_not_sent(env: Env) -> None:
    sale = await bought(env, "63")
    wrong = {**sale.refs, "account": "4711999"}
    with pytest.raises(CsqRefused) as caught:
        await env.client.undo_value(PIN, env.ctx("64"), None, ValueKind.DIGITAL, refs=wrong)
    assert caught.value.result_code == "971" and "did not revert" in caught.value.message
    count = len(env.spy.seen)
    with pytest.raises(ValueError):
        await env.client.undo_value(PIN, env.ctx("65"))
    assert len(env.spy.seen) == count
    assert (await env.client.check_undo(PIN, ValueKind.DIGITAL)).can_undo
    assert not (await env.client.check_undo("1234", ValueKind.DIGITAL)).can_undo


# -- settings and policy ---------------------------------------------------------------------
def test_settings_products_and_policy() -> None:
    settings = CsqSettings(terminal_id="173101", products=[
        {"operator_id": 4101, "name": "Card", "currency": "CHF", "amounts": ["20.00", "50.00"]},
        {"operator_id": 9991, "name": "Pin", "currency": "CHF", "min": "1.00", "max": "100"}])
    assert settings.products[0].allows(2000) and not settings.products[0].allows(3000)
    assert settings.products[1].allows(10000) and not settings.products[1].allows(10001)
    assert settings.settle_s > settings.timeout_s
    assert not DESCRIPTOR.owns(settings, "9991") and not DESCRIPTOR.owns(settings, "7610000000011")
    for bad, words in [({"amounts": ["20.00"], "min": "1", "max": "2"}, "not both"),
                       ({}, "amounts"), ({"amounts": ["20.001"]}, "two decimals"),
                       ({"min": "5"}, "both min and max"), ({"min": "5", "max": "1"}, "above max"),
                       ({"amounts": []}, "empty"), ({"amounts": ["-1"]}, "positive")]:
        with pytest.raises(ValidationError, match=words):
            CsqProduct(operator_id=1, name="X", currency="CHF", **bad)
    raffle = CsqProduct(operator_id=4201, name="Raffle", currency="CHF", dynamic=True)
    assert raffle.allows(1000)
    with pytest.raises(ValidationError, match="dynamic"):
        CsqProduct(operator_id=4201, name="Raffle", currency="CHF", dynamic=True, amounts=["5.00"])
    with pytest.raises(ValidationError, match="twice"):
        CsqSettings(terminal_id="1", products=[raffle, raffle])
    with pytest.raises(ValidationError):
        CsqSettings(products=[])  # terminal_id is required
    policy = DESCRIPTOR.policy
    assert policy.reference("shop", "1", 42) == "42"
    assert policy.reference("shop", "1", 1_234_567_890) == "234567890"
    assert policy.deduplicated == frozenset({OpKind.CREATE}) and policy.lookup_by_reference
    assert DESCRIPTOR.word(OpKind.CREATE) == "purchase" and DESCRIPTOR.done_word(OpKind.UNDO) == "reverted"


# -- secrets ------------------------------------------------------------------------------
async def test_the_password_and_its_hash_appear_nowhere(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env.spy.hook = lambda r: httpx.Response(
        200, json={"rc": -1, "items": [{"resultcode": "991", "resultmessage": f"bad {PASSWORD} {sha(PASSWORD)}"}]}) \
        if r.method == "POST" else None
    texts: list[str] = [repr(env.client)]
    with pytest.raises(CsqRefused) as caught:
        await bought(env, "70")
    error: ProviderError = caught.value
    assert "***" in error.provider_message  # CSQ's echo of them masked
    texts += [error.message, error.hint, error.provider_message, repr(error), str(error)]
    env.spy.hook = None
    for client in (env.new_client(password="x" + PASSWORD),):
        with pytest.raises(AuthenticationError) as auth:
            await client.ping()
        texts += [auth.value.message, auth.value.hint, repr(client)]
    texts += [record.getMessage() for record in caplog.records]
    joined = "\n".join(texts)
    assert "991" in joined
    for secret in (PASSWORD, sha(PASSWORD)):
        assert secret not in joined
    assert PASSWORD not in repr(vars(env.client))


def test_every_result_code_of_the_reference_has_the_tills_meaning() -> None:
    from pos_app.providers.csq.settling import meaning

    codes = ["10", "20", "11", "12", "13", "911", "14", "15", "16", "17", "18", "931", "971", "990", "991",
             "992", "998", "900"]  # csq.md, "Transport and auth"
    meanings = {code: meaning(code) for code in codes}
    fallback = meaning("4242")
    assert all(text and text != fallback and "4242" not in text for text in meanings.values()), meanings
    assert meanings["13"] == meanings["911"]  # both: balance or credit limit
    assert len(set(meanings.values())) == len(codes) - 1
