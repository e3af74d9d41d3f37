"""The provider contract: what every provider (client + simulator) must do,
run for each kit (``kits.py``), in-process and over real HTTP.

Part 1 drives the client alone and reads the simulator's ledger; part 2 runs
the core's one runner and settling path (``services/journaled.py``) with a
real till on the provider's in-process simulator and reads the journal;
part 3 covers what only a capturing provider does (FakePay, JTL).

Timing: the client timeout is 0.5 s; a request "applied late" is held
``LATE_S`` seconds. Nothing asserts how long anything took: waits poll with
generous bounds, and a check that needs a request still held is only made
while the simulator says it holds it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pos_app.config import load_config
from pos_app.domain.money import Money
from pos_app.domain.order import TenderState
from pos_app.journal import OpState
from pos_app.providers.base import (
    AuthenticationError,
    Authorization,
    OpContext,
    Operation,
    OpKind,
    RefusedError,
    Snapshot,
    TenderRef,
    UnavailableError,
    UnknownOutcome,
    ValueKind,
    Verdict,
    VoidResult,
    VoucherProvider,
)
from pos_app.providers.simkit import ServerThread
from pos_app.services.checkout import Till
from tests.conftest import ESPRESSO, MERLOT
from tests.providers.conftest import Env, served
from tests.providers.kits import ACTIVE, CELBUX, CELBUX_PHONE, CSQ, EGUMA, FAKEPAY, JTL, Kit

LATE_S = 1.5  # how long a late request is held: well above the 0.5 s client timeout
TILL_TIMEOUT_S = 0.3
tenders = pytest.mark.tenders  # about voucher payments: skipped for a provider without them (CSQ)


def money(minor: int) -> Money:
    """Minor units in the currency of the provider under test (CHF; Celbux ZAR)."""
    return Money(minor, ACTIVE["currency"])


def ctx(reference: str, order_number: str | None = None) -> OpContext:
    return OpContext(reference, order_number, datetime.now())


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    """Not in the message, the repr, the traceback; no chained httpx error."""
    text = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in text
        assert secret not in getattr(exc, "provider_message", "")
        assert secret not in getattr(exc, "hint", "")
    assert exc.__cause__ is None and exc.__context__ is None


def assert_not_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for record in caplog.records:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message, (record.name, message)


async def state(client: VoucherProvider, kind: OpKind, code: str, amount: Money | None,
                reference: str = "", refs: dict[str, str] | None = None) -> Snapshot:
    """The provider's state for an operation (no reference: the read before the send)."""
    return await client.state_of(Operation(kind, code, amount, reference, refs or {}))


def judge(kit: Kit, op: Operation, before: Snapshot | None, now: Snapshot) -> Any:
    return kit.descriptor.settling.judge(op, before, now)


def on_next_write(http: httpx.AsyncClient, kit: Kit, fault: Callable[[], None]) -> None:
    """Arm ``fault`` (a simulator fault) just before the next request that writes the
    provider's ledger: JTL's authorize reads the voucher first (its code and pin) and a
    fresh JTL client fetches a token first; a fault armed at once would hit those."""
    hooks = http.event_hooks["request"]

    async def hook(request: httpx.Request) -> None:
        if kit.is_write(request):
            hooks.remove(hook)
            fault()

    hooks.append(hook)


# =====================================================================================
# Part 1: the client against its simulator
# =====================================================================================
@tenders
async def test_balance_shows_the_ledger(env: Env) -> None:
    kit = env.kit
    balance = await env.client().balance(kit.voucher)
    assert balance.redeemable
    assert balance.balance == money(kit.voucher_balance)
    assert balance.code == kit.voucher
    assert kit.available(env.sim, kit.voucher) == kit.voucher_balance


@tenders
async def test_authorize_then_void_moves_exactly_the_amount(env: Env) -> None:
    kit, client = env.kit, env.client()
    auth = await client.authorize(kit.voucher, money(1234), ctx("ct-auth-1"))
    assert isinstance(auth, Authorization)
    assert auth.amount == money(1234) and auth.refs
    assert auth.new_balance in (None, money(kit.voucher_balance - 1234))
    assert kit.authorizations(env.sim) == [kit.held(kit.voucher, 1234, "ct-auth-1")]
    assert kit.available(env.sim, kit.voucher) == kit.voucher_balance - 1234
    sent = len(env.sim.state.requests)
    voided = await client.void(TenderRef(auth.code, auth.amount, auth.refs), auth.amount, ctx("ct-void-1"))
    assert isinstance(voided, VoidResult) and voided.amount == money(1234)
    assert voided.new_balance in (None, money(kit.voucher_balance))
    if voided.lapses_at is not None:  # JTL: dropped on the till's side, nothing sent; the hold lapses by itself
        assert kit.lapse is not None and len(env.sim.state.requests) == sent
        assert kit.authorizations(env.sim) == [kit.held(kit.voucher, 1234, "ct-auth-1")]  # until then
        left = (voided.lapses_at - datetime.now(UTC)).total_seconds()
        assert 25 * 60 < left <= 30 * 60, voided.lapses_at
        try:
            kit.lapse(env.sim, left - 60)  # a minute before: still held
            assert kit.available(env.sim, kit.voucher) == kit.voucher_balance - 1234
            kit.lapse(env.sim, left + 1)  # lapsed: never charged
            assert kit.authorizations(env.sim) == []
            assert kit.available(env.sim, kit.voucher) == kit.voucher_balance
            assert (await client.balance(kit.voucher)).balance == money(kit.voucher_balance)
        finally:
            kit.lapse(env.sim, 0)
        return
    assert kit.authorizations(env.sim) == [] or kit.authorizations(env.sim) == [(kit.voucher, 0, "ct-auth-1")]
    assert kit.available(env.sim, kit.voucher) == kit.voucher_balance


async def test_value_line_is_created_once_and_undone(env: Env) -> None:
    kit, client = env.kit, env.client()
    if not kit.tenders:
        pytest.skip(f"{kit.display_name} sells the same product again and again and reverts a purchase by "
                    "its refs: test_digital_voucher_is_bought_once_per_reference_and_reverted")
    if not kit.gift_values:
        pytest.skip(f"{kit.display_name} issues its vouchers to a customer (by SMS), not by a code the till "
                    "sells: part 5")
    check = await client.check_value(kit.value_code)
    assert check.can_create and not check.free_amount and check.amount == money(kit.value_amount)
    created = await client.create_value(kit.value_code, None, ctx("ct-create-1"))
    assert created.amount == money(kit.value_amount)
    assert [(c, a) for c, a, _ref in kit.creations(env.sim)] == [(kit.value_code, kit.value_amount)]
    assert not (await client.check_value(kit.value_code)).can_create
    undo = await client.check_undo(kit.value_code)
    assert undo.can_undo and undo.amount == money(kit.value_amount)
    undone = await client.undo_value(kit.value_code, ctx("ct-undo-1"), "contract test")
    assert undone.amount == money(kit.value_amount)
    assert kit.undos(env.sim) == [kit.value_code]
    assert not (await client.check_undo(kit.value_code)).can_undo


# -- error mapping ------------------------------------------------------------------------
@tenders
async def test_wrong_secret_is_an_authentication_error(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    kit = env.kit
    client = env.client(kit.wrong_secrets(env.sim))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
        await client.balance(kit.voucher)
    assert f"pos keys set --provider {kit.name}" in info.value.hint
    assert_no_secret(info.value, kit.leaky)
    assert_not_logged(caplog, kit.leaky)
    assert env.sim.state.requests[-1].status == 401
    assert kit.authorizations(env.sim) == []


@tenders
async def test_a_refusal_carries_the_providers_message(env: Env) -> None:
    kit = env.kit
    with pytest.raises(RefusedError) as info:
        await env.client().authorize(kit.voucher, money(kit.voucher_balance + 1), ctx("ct-refused"))
    assert info.value.provider_message == kit.refusal
    if not kit.refusal:  # JTL: refused by the client on the remaining amount it read, before any write
        assert money(kit.voucher_balance).shown() in info.value.message
        assert [r.method for r in env.sim.state.requests if r.method == "POST" and not
                any(r.path.endswith(p) for p in kit.auth_paths)] == []
    assert not info.value.outcome_unknown
    assert kit.authorizations(env.sim) == []
    assert kit.available(env.sim, kit.voucher) == kit.voucher_balance


@tenders
async def test_a_5xx_on_a_read_is_unavailable(env: Env) -> None:
    env.sim.fail_next(1, status=500)
    with pytest.raises(UnavailableError) as info:
        await env.client().balance(env.kit.voucher)
    assert info.value.safe_to_retry and not isinstance(info.value, UnknownOutcome)
    assert (await env.client().balance(env.kit.voucher)).balance == money(env.kit.voucher_balance)


@tenders
async def test_a_5xx_on_a_write_is_an_unknown_outcome(env: Env) -> None:
    kit = env.kit
    on_next_write(env.http, kit, lambda: env.sim.fail_next(1, status=502, body="Bad Gateway"))
    with pytest.raises(UnknownOutcome) as info:
        await env.client().authorize(kit.voucher, money(1000), ctx("ct-502"))
    assert info.value.outcome_unknown and not info.value.safe_to_retry
    assert kit.authorizations(env.sim) == []  # this one was not applied; the client cannot know that
    assert kit.available(env.sim, kit.voucher) == kit.voucher_balance


@tenders
async def test_connection_refused_is_unavailable_and_nothing_was_sent(kit: Kit) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _app, sim = kit.build()
    secrets = kit.secrets(sim)
    async with httpx.AsyncClient() as http:
        client = kit.client(http, f"http://127.0.0.1:{port}", secrets)
        with pytest.raises(UnavailableError) as info:
            await client.authorize(kit.voucher, money(100), ctx("ct-refused-conn"))
    assert not isinstance(info.value, UnknownOutcome)
    assert "nothing was sent" in info.value.message
    assert_no_secret(info.value, secrets[kit.secret])


# -- redaction ---------------------------------------------------------------------------------
@tenders
async def test_a_secret_echoed_in_an_error_body_never_leaks(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    kit, secret = env.kit, env.secret
    on_next_write(env.http, kit, lambda: env.sim.fail_next(
        1, status=400, body=f'{{"error": "bad", "message": "rejected, you sent {secret}"}}',
        content_type="application/json"))
    with caplog.at_level(logging.DEBUG), pytest.raises(RefusedError) as info:
        await env.client().authorize(kit.voucher, money(100), ctx("ct-echo"))
    assert "***" in info.value.provider_message
    assert_no_secret(info.value, secret)
    assert_not_logged(caplog, secret)


async def test_fakepay_401_echoes_the_secret_and_the_client_masks_it(
    fakepay: Any, servers: dict[str, tuple[ServerThread, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """FakePay's own 401 body echoes what it got: the echo is there on the wire, nowhere after."""
    server, sim = served(servers, FAKEPAY)
    wrong = FAKEPAY.wrong_secrets(sim)
    async with httpx.AsyncClient() as http:
        raw = await http.get(f"{server.url}/v1/vouchers/FP-10000050",
                             headers={"X-Client-Id": wrong["client_id"], "X-Client-Secret": FAKEPAY.leaky})
        assert raw.status_code == 401 and FAKEPAY.leaky in raw.text  # the provider is careless
        client = FAKEPAY.client(http, server.url, wrong)
        with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
            await client.authorize("FP-10000050", money(100), ctx("ct-401"))
    assert_no_secret(info.value, FAKEPAY.leaky)
    assert_not_logged(caplog, FAKEPAY.leaky)
    assert sim.state.holds == {} and sim.state.operations == []


# -- connections ---------------------------------------------------------------------------------
@tenders
async def test_one_connection_serves_every_call(kit: Kit, servers: dict[str, tuple[ServerThread, Any]]) -> None:
    server, sim = served(servers, kit)
    async with httpx.AsyncClient() as http:
        client = kit.client(http, server.url, kit.secrets(sim))
        await client.balance(kit.voucher)
        auth = await client.authorize(kit.voucher, money(100), ctx("ct-conn-1"))
        voided = await client.void(TenderRef(auth.code, auth.amount, auth.refs), auth.amount, ctx("ct-conn-2"))
        await client.balance(kit.voucher)
        if kit.gift_values:
            await client.check_value(kit.value_code)
    assert len(sim.state.requests) == kit.requests_per_round
    assert len({r.client for r in sim.state.requests}) == 1, sim.state.requests
    lingering = 100 if voided.lapses_at is not None else 0  # JTL: the dropped hold lapses by itself, later
    assert kit.available(sim, kit.voucher) == kit.voucher_balance - lingering


# -- lost answers, decided by the provider's state ---------------------------------------------
@tenders
async def test_a_dropped_answer_is_unknown_and_the_state_shows_it_applied(env: Env) -> None:
    kit, client = env.kit, env.client()
    amount = money(2500)
    before = await state(client, OpKind.AUTHORIZE, kit.voucher, amount)
    on_next_write(env.http, kit, lambda: env.sim.drop_next_posts(1))
    with pytest.raises(UnknownOutcome) as info:
        await client.authorize(kit.voucher, amount, ctx("ct-drop-1"))
    assert_no_secret(info.value, env.secret)
    assert env.sim.state.requests[-1].delivered is False
    assert kit.authorizations(env.sim) == [kit.held(kit.voucher, 2500, "ct-drop-1")]
    op = Operation(OpKind.AUTHORIZE, kit.voucher, amount, "ct-drop-1", {}, {}, before)
    verdict = judge(kit, op, before, await client.state_of(op))
    assert verdict.verdict is Verdict.APPLIED, verdict
    assert verdict.balance in (None, kit.voucher_balance - 2500)
    if not kit.references:  # decided by the state alone: the same state again is "someone else's"
        assert judge(kit, op, await client.state_of(op), await client.state_of(op)).verdict is Verdict.UNCHANGED
    if kit.descriptor.policy.lookup_by_reference:  # the lookup gives back what the answer would have
        assert kit.lookup_refs is not None
        assert verdict.refs == kit.lookup_refs(env.sim)


@tenders
async def test_a_request_applied_late_is_never_reported_not_applied(env: Env) -> None:
    kit, client = env.kit, env.client()
    amount = money(1500)
    before = await state(client, OpKind.AUTHORIZE, kit.voucher, amount)
    on_next_write(env.http, kit, lambda: env.sim.set_apply_delay(LATE_S))
    with pytest.raises(UnknownOutcome):
        await client.authorize(kit.voucher, amount, ctx("ct-late-1"))
    op = Operation(OpKind.AUTHORIZE, kit.voucher, amount, "ct-late-1", {}, {}, before)
    now = await client.state_of(op)
    held = env.sim.pending_posts() == 1  # still held after the read: the read saw it held
    verdict = judge(kit, op, before, now).verdict
    assert verdict is not Verdict.NOT_APPLIED
    if held:
        assert verdict is kit.pending, verdict
        assert kit.authorizations(env.sim) == []
    await env.sim.wait_applied(30.0)
    env.sim.set_apply_delay(0)
    verdict = judge(kit, op, before, await client.state_of(op))
    assert verdict.verdict is Verdict.APPLIED, verdict
    assert kit.authorizations(env.sim) == [kit.held(kit.voucher, 1500, "ct-late-1")]


@tenders
async def test_a_request_that_never_arrived(env: Env) -> None:
    """A 500 answered for the provider (a proxy): nothing applied. A lookup says
    "never happened" at once; a balance can only say "unchanged"."""
    kit, client = env.kit, env.client()
    amount = money(1000)
    before = await state(client, OpKind.AUTHORIZE, kit.voucher, amount)
    on_next_write(env.http, kit, lambda: env.sim.fail_next(1, status=500))
    with pytest.raises(UnknownOutcome):
        await client.authorize(kit.voucher, amount, ctx("ct-never-1"))
    op = Operation(OpKind.AUTHORIZE, kit.voucher, amount, "ct-never-1", {}, {}, before)
    assert judge(kit, op, before, await client.state_of(op)).verdict is kit.never_arrived
    assert kit.authorizations(env.sim) == []


@tenders
async def test_an_answer_with_a_wrong_new_balance_is_not_trusted(env: Env) -> None:
    kit, client = env.kit, env.client()
    amount = money(1000)
    before = await state(client, OpKind.AUTHORIZE, kit.voucher, amount)
    op = Operation(OpKind.AUTHORIZE, kit.voucher, amount, "ct-contra", {}, {}, before)
    settling = kit.descriptor.settling
    right = Authorization(kit.voucher, amount, {"x": "1"}, money(kit.voucher_balance - 1000))
    wrong = Authorization(kit.voucher, amount, {"x": "1"}, money(kit.voucher_balance - 999))
    assert settling.contradiction(op, before, right) is None
    if not kit.answer_balance:
        # JTL's reservation answer carries no balance: the new balance is the client's own
        # arithmetic (the remaining amount it read less the hold), so only an impossible
        # one (negative) can be told from the answer; a balance that moved meanwhile is no contradiction.
        assert settling.contradiction(op, before, wrong) is None
        negative = Authorization(kit.voucher, amount, {"x": "1"}, money(-100))
        assert "negative" in (settling.contradiction(op, before, negative) or "")
        return
    assert "10.00" in (settling.contradiction(op, before, wrong) or "")


# =====================================================================================
# Part 2: the core's runner and settling path, with a real till
# =====================================================================================
def authorize_ops(till: Till) -> list[Any]:
    return till.journal.ops(operation=OpKind.AUTHORIZE.value)


def later(till: Till, seconds: float) -> None:
    """The till's clock for settle deadlines, moved on (no waiting)."""
    till.session.utcnow = lambda: datetime.now(UTC) + timedelta(seconds=seconds)


async def pay_voucher(till: Till, kit: Kit) -> Any:
    """Check the kit's voucher at the till and pay with it (what F2, scan, Enter do)."""
    check = await till.vouchers.check(kit.voucher)
    assert check.amount is not None, check.reason
    return await till.vouchers.pay(check)


def big_order(till: Till, kit: Kit | None = None) -> int:
    """52.90 (more than E-GUMA's and FakePay's voucher of 50.00; for one with more on
    it, another Merlot until it is more): paying with the voucher does not close the
    order. What is left to pay after it, in minor units."""
    till.scan(MERLOT)
    till.scan(ESPRESSO)
    balance = kit.voucher_balance if kit is not None else 5000
    while till.order.total.minor <= balance:
        till.scan(MERLOT)
    return till.order.total.minor - balance


@tenders
async def test_core_a_dropped_authorize_answer_is_decided_done_at_once(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till()
    slot = till.providers[kit.name]
    sim = slot.simulator
    left = big_order(till, kit)
    on_next_write(slot.http, kit, lambda: sim.drop_next_posts(1))
    await pay_voucher(till, kit)
    [op] = authorize_ops(till)
    assert op.state == OpState.DONE, op
    assert kit.authorizations(sim) == [kit.held(kit.voucher, kit.voucher_balance, op.reference)]
    [tender] = till.order.active_tenders
    assert tender.state is TenderState.AUTHORIZED and tender.amount == money(kit.voucher_balance)
    assert till.order.remaining == money(left)
    if kit.descriptor.policy.lookup_by_reference:
        assert kit.lookup_refs is not None
        assert tender.refs == kit.lookup_refs(sim) == op.refs  # recovered: F8 can release it
        # the balance after comes with the lookup where the answer carries one (Celbux's has none)
        assert tender.problem is None and tender.balance_after == (money(0) if kit.answer_balance else None)
    elif kit.descriptor.policy.captures:  # JTL: its id is lost; the close holds it again (after the cashier says so)
        assert tender.refs == {} and tender.problem and "holds it again when the order closes" in tender.problem
    else:
        assert tender.refs == {} and tender.problem and "cannot be cancelled at the till" in tender.problem


@tenders
async def test_core_an_authorize_applied_late_is_never_not_done(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till(timeout_s=TILL_TIMEOUT_S, settle_s=10.0)
    slot = till.providers[kit.name]
    sim = slot.simulator
    big_order(till, kit)
    on_next_write(slot.http, kit, lambda: sim.set_apply_delay(LATE_S))
    await pay_voucher(till, kit)
    [op] = authorize_ops(till)
    assert op.state != OpState.NOT_DONE
    if sim.pending_posts():
        assert op.state == OpState.UNKNOWN
        assert till.order.active_tenders[0].state is TenderState.UNKNOWN
    while sim.pending_posts():  # the till looks again by itself meanwhile
        await till.recovery.run()
        assert authorize_ops(till)[0].state != OpState.NOT_DONE
        await asyncio.sleep(0.1)
    await sim.wait_applied(30.0)
    sim.set_apply_delay(0)
    await till.recovery.run()
    [op] = authorize_ops(till)
    assert op.state == OpState.DONE, op
    assert kit.authorizations(sim) == [kit.held(kit.voucher, kit.voucher_balance, op.reference)]
    assert till.order.active_tenders[0].state is TenderState.AUTHORIZED


async def test_core_a_pending_request_stays_undecided_past_the_settle_window(
    fakepay: Any, write_config: Callable[..., Any], till_factory: Callable[..., Till]
) -> None:
    """FakePay reports a request it still holds as pending: even once the settle
    window is over, the core must not decide it "did not happen"."""
    till = till_factory(load_config(write_config(FAKEPAY.section(TILL_TIMEOUT_S, 10.0))))
    sim = till.providers["fakepay"].simulator
    big_order(till)
    sim.set_apply_delay(LATE_S)
    await pay_voucher(till, FAKEPAY)
    later(till, 3600)  # the window is long over
    results = await till.recovery.run()
    still_held = sim.pending_posts() == 1
    [op] = authorize_ops(till)
    assert op.state != OpState.NOT_DONE, op
    if still_held:
        assert op.state == OpState.UNKNOWN and [r.resolved for r in results] == [False]
        assert "still working on it" in (op.error or "")
    await sim.wait_applied(30.0)
    await till.recovery.run()
    [op] = authorize_ops(till)
    assert op.state == OpState.DONE
    [hold] = sim.state.holds.values()
    assert till.order.active_tenders[0].refs == {"hold_id": hold.hold_id}


@tenders
async def test_core_an_authorize_that_never_arrived(kit: Kit, provider_till: Callable[..., Till]) -> None:
    """E-GUMA: undecided until the settle window is over, then "did not happen".
    A lookup provider: "did not happen" at once."""
    till = provider_till(settle_s=10.0)
    slot = till.providers[kit.name]
    sim = slot.simulator
    big_order(till, kit)
    check = await till.vouchers.check(kit.voucher)
    on_next_write(slot.http, kit, lambda: sim.fail_next(1, status=500))  # the write, not a read before it
    await till.vouchers.pay(check)
    [op] = authorize_ops(till)
    assert kit.authorizations(sim) == []
    if kit.never_arrived is Verdict.NOT_APPLIED:  # the lookup says "never received" (Celbux's says "not found")
        assert op.state == OpState.NOT_DONE, op
        assert till.order.active_tenders == []
        return
    assert op.state == OpState.UNKNOWN
    assert till.order.active_tenders[0].state is TenderState.UNKNOWN
    later(till, 5)  # inside the window: still undecided
    await till.recovery.run()
    assert authorize_ops(till)[0].state == OpState.UNKNOWN
    later(till, 60)  # past it: unchanged twice -> did not happen
    await till.recovery.run()
    assert authorize_ops(till)[0].state == OpState.NOT_DONE
    assert till.order.active_tenders == []
    assert kit.available(sim, kit.voucher) == kit.voucher_balance


# =====================================================================================
# Part 3: a provider that captures (FakePay): hold, charge at close, release, refund
# =====================================================================================
@pytest.fixture
def fakepay_till(fakepay: Any, write_config: Callable[..., Any], till_factory: Callable[..., Till]) -> Till:
    return till_factory(load_config(write_config(FAKEPAY.section(0.5, 10.0))))


def ops_of(till: Till) -> list[tuple[str, str]]:
    return [(op.operation, op.state) for op in till.journal.ops()]


async def test_fakepay_closing_captures_with_the_order_number(fakepay_till: Till) -> None:
    till = fakepay_till
    sim = till.providers["fakepay"].simulator
    till.scan(ESPRESSO)
    out = await pay_voucher(till, FAKEPAY)
    assert out.closed is not None, out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "ok")]
    auth, capture = till.journal.ops()
    [charge] = sim.state.charges.values()
    assert capture.refs["charge_id"] == charge.charge_id  # with the refs it acted on (the hold's)
    assert capture.request == {"order_number": out.closed.number} and out.closed.number == "1-0001"
    assert (charge.order_number, charge.amount, charge.reference) == ("1-0001", 1490, capture.reference)
    assert charge.hold_id == auth.refs["hold_id"]
    assert sim.voucher("FP-10000050").balance == 3510 and sim.available("FP-10000050") == 3510
    tender = till.journal.load_order(till.journal.last_closed_order_id()).active_tenders[0]
    assert tender.state is TenderState.CAPTURED
    assert tender.refs == {"hold_id": charge.hold_id, "charge_id": charge.charge_id}


async def test_fakepay_voiding_a_captured_sale_refunds_the_charge(fakepay_till: Till) -> None:
    till = fakepay_till
    sim = till.providers["fakepay"].simulator
    till.scan(ESPRESSO)
    await pay_voucher(till, FAKEPAY)
    out = await till.storno.run()
    assert "Sale 1-0001 voided" in out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "ok"), ("refund", "ok")]
    refund_op = till.journal.ops(operation="refund")[0]
    [charge] = sim.state.charges.values()
    [refund] = sim.state.refunds
    assert (refund.charge_id, refund.amount, refund.reference) == (charge.charge_id, 1490, refund_op.reference)
    assert refund_op.refs["refund_id"] == refund.refund_id
    assert sim.voucher("FP-10000050").balance == 5000


async def test_fakepay_voiding_before_capture_releases_the_hold(fakepay_till: Till) -> None:
    till = fakepay_till
    sim = till.providers["fakepay"].simulator
    big_order(till)
    await pay_voucher(till, FAKEPAY)
    [tender] = till.order.active_tenders
    await till.void_tender(tender.id)
    assert ops_of(till) == [("authorize", "ok"), ("void", "ok")]
    [hold] = sim.state.holds.values()
    assert hold.state == "released" and sim.available("FP-10000050") == 5000
    assert till.order.active_tenders == []


async def test_fakepay_a_lost_capture_answer_is_settled_by_the_lookup(fakepay_till: Till) -> None:
    till = fakepay_till
    sim = till.providers["fakepay"].simulator
    big_order(till)
    await pay_voucher(till, FAKEPAY)  # 50.00 held, 2.90 to pay
    sim.drop_next_posts(1)  # the capture at close: applied, answer lost
    out = await till.pay_cash(till.parse_amount("2.90"))
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "done")]
    [charge] = sim.state.charges.values()
    assert till.journal.ops(operation="capture")[0].refs["charge_id"] == charge.charge_id
    assert len(sim.state.charges) == 1  # never sent twice
    tender = next(t for t in till.journal.load_order(till.journal.last_closed_order_id()).active_tenders
                  if t.provider == "fakepay")
    assert tender.state is TenderState.CAPTURED and tender.refs["charge_id"] == charge.charge_id


async def test_fakepay_a_card_is_issued_at_close_and_cancelled_by_the_void(fakepay_till: Till) -> None:
    till = fakepay_till
    sim = till.providers["fakepay"].simulator
    till.gifts.add(await till.gifts.check("fp-2000 0025"))
    out = await till.pay_cash(till.parse_amount("25"))
    assert out.closed is not None, out.notice.text
    [issue] = [e for e in sim.state.cards if e.kind == "issue"]
    create_op = till.journal.ops(operation="create")[0]
    assert (issue.code, issue.amount, issue.reference) == ("FP-20000025", 2500, create_op.reference)
    assert create_op.state == OpState.OK and create_op.refs == {"issue_id": issue.event_id}
    assert sim.available("FP-20000025") == 2500
    await till.storno.run()
    assert [e.kind for e in sim.state.cards] == ["issue", "cancel"]
    assert till.journal.ops(operation="undo")[0].state == OpState.OK


async def test_two_providers_in_one_till_each_get_their_own_cycle(
    fakepay: Any, write_config: Callable[..., Any], till_factory: Callable[..., Till]
) -> None:
    """E-GUMA and FakePay on one order: routing by code pattern, a capture only for
    the provider that captures, and a void of the sale that cancels one and refunds the other."""
    till = till_factory(load_config(write_config(EGUMA.section(0.5, 10.0) + FAKEPAY.section(0.5, 10.0))))
    eguma, fake = till.providers["eguma"].simulator, till.providers["fakepay"].simulator
    assert till.vouchers.route("l4fu-5lqt-kjr3").name == "eguma"
    assert till.vouchers.route(" fp-1000 0050").name == "fakepay"
    assert till.scan("FP-10000050").voucher_code == "FP-10000050"
    big_order(till)
    await pay_voucher(till, EGUMA)  # 50.00 of 52.90
    out = await pay_voucher(till, FAKEPAY)  # 2.90: the order closes
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    assert [(o.provider, o.operation, o.state) for o in till.journal.ops()] == [
        ("eguma", "authorize", "ok"), ("fakepay", "authorize", "ok"), ("fakepay", "capture", "ok")]
    assert [(r.amount_in_cents, r.cancelled_in_cents) for r in eguma.state.redemptions.values()] == [(5000, 0)]
    assert [(c.amount, c.order_number) for c in fake.state.charges.values()] == [(290, "1-0001")]
    await till.storno.run()
    assert [(o.provider, o.operation, o.state) for o in till.journal.ops()][3:] == [
        ("eguma", "void", "ok"), ("fakepay", "refund", "ok")]
    assert eguma.voucher("L4FU5LQTKJR3").balance_in_cents == 5000
    assert fake.voucher("FP-10000050").balance == 5000


# =====================================================================================
# Part 3 for JTL: reserve at tender, charge with the order number at close, a release
# on the till's side only, refund, activation, top-up (the till's in-process simulator)
# =====================================================================================
@pytest.fixture
def jtl_till(write_config: Callable[..., Any], till_factory: Callable[..., Till]) -> Till:
    return till_factory(load_config(write_config(JTL.section(0.5, 10.0))))


def jtl_charges(sim: Any, kind: str = "charge") -> list[tuple[str, int, str | None]]:
    return [(c.voucher_id, c.amount, c.order_number) for c in sim.state.charges.values() if c.type == kind]


async def test_jtl_closing_charges_the_reservation_with_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    sim = till.providers["jtl"].simulator
    till.scan(ESPRESSO)
    out = await pay_voucher(till, JTL)
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "ok")]
    auth, capture = till.journal.ops()
    [reservation] = sim.state.reservations.values()
    [charge] = sim.state.charges.values()
    assert auth.refs["reservation_id"] == reservation.id and reservation.charge_id == charge.id
    assert (charge.type, charge.amount, charge.order_number) == ("charge", 1490, "1-0001")
    assert capture.request == {"order_number": "1-0001"}
    assert (capture.refs["charge_id"], capture.refs["order_number"]) == (charge.id, "1-0001")
    assert sim.voucher(JTL.voucher).remaining == 10000 - 1490
    tender = till.journal.load_order(till.journal.last_closed_order_id()).active_tenders[0]
    assert tender.state is TenderState.CAPTURED and tender.refs["charge_id"] == charge.id


async def test_jtl_voiding_a_charged_sale_refunds_the_charge(jtl_till: Till) -> None:
    till = jtl_till
    sim = till.providers["jtl"].simulator
    till.scan(ESPRESSO)
    await pay_voucher(till, JTL)
    out = await till.storno.run()
    assert "Sale 1-0001 voided" in out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "ok"), ("refund", "ok")]
    [charge] = [c for c in sim.state.charges.values() if c.type == "charge"]
    [refund] = [c for c in sim.state.charges.values() if c.type == "refund"]
    assert (refund.refund_of, refund.amount, refund.order_number) == (charge.id, 1490, "1-0001")
    assert till.journal.ops(operation="refund")[0].refs["refund_id"] == refund.id
    assert sim.voucher(JTL.voucher).remaining == 10000


async def test_jtl_voiding_before_the_charge_drops_the_hold_on_the_till_side(jtl_till: Till) -> None:
    """JTL cannot delete a reservation: F8 sends nothing, the hold lapses by itself
    (the voucher stays blocked until then) and is never charged."""
    till = jtl_till
    sim = till.providers["jtl"].simulator
    big_order(till, JTL)
    await pay_voucher(till, JTL)
    [tender] = till.order.active_tenders
    sent = len(sim.state.requests)
    out = await till.void_tender(tender.id)
    assert "lapses at" in out.notice.text, out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("void", "ok")]
    assert len(sim.state.requests) == sent  # nothing sent
    assert till.order.active_tenders == []
    assert JTL.authorizations(sim) == [JTL.held(JTL.voucher, 10000, None)]  # held until it lapses
    assert sim.state.charges == {}


async def test_jtl_a_lost_charge_answer_is_settled_by_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    slot = till.providers["jtl"]
    sim = slot.simulator
    left = big_order(till, JTL)
    await pay_voucher(till, JTL)  # 100.00 held
    on_next_write(slot.http, JTL, lambda: sim.drop_next_posts(1))  # the charge at close: made, answer lost
    out = await till.pay_cash(money(left))
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    assert ops_of(till) == [("authorize", "ok"), ("capture", "done")]
    [charge] = sim.state.charges.values()
    capture = till.journal.ops(operation="capture")[0]
    assert (capture.refs["charge_id"], capture.refs["order_number"]) == (charge.id, "1-0001")
    assert jtl_charges(sim) == [(JTL.voucher, 10000, "1-0001")]  # never sent twice


async def test_jtl_a_hold_whose_answer_was_lost_is_taken_again_at_close(jtl_till: Till) -> None:
    """Decided "held" by the voucher's lock, without the reservation's id: the close
    cannot charge it, and holds it again once the cashier says so, then charges that."""
    till = jtl_till
    slot = till.providers["jtl"]
    sim = slot.simulator
    left = big_order(till, JTL)
    on_next_write(slot.http, JTL, lambda: sim.drop_next_posts(1))
    await pay_voucher(till, JTL)
    assert till.order.active_tenders[0].refs == {}
    out = await till.pay_cash(money(left))
    assert out.closed is None and out.confirm is not None, out.notice.text
    assert sim.state.charges == {}  # nothing charged without the cashier
    out = await out.confirm.step()
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    assert [op for op, _state in ops_of(till)] == ["authorize", "capture", "authorize", "capture"]
    assert [state for _op, state in ops_of(till)][2:] == ["ok", "ok"]
    first, second = sim.state.reservations.values()
    assert first.charge_id is None and second.charge_id is not None  # the first one was replaced
    assert jtl_charges(sim) == [(JTL.voucher, 10000, "1-0001")]


async def test_jtl_a_gift_voucher_is_activated_at_close_and_deactivated_by_the_void(jtl_till: Till) -> None:
    till = jtl_till
    sim = till.providers["jtl"].simulator
    till.gifts.add(await till.gifts.check(JTL.value_code.upper()))
    out = await till.pay_cash(till.parse_amount("50"))
    assert out.closed is not None, out.notice.text
    assert ops_of(till) == [("create", "ok")]
    voucher = sim.voucher(JTL.value_code)
    assert voucher.status == "active" and voucher.valid_until is not None  # 3 years from now
    await till.storno.run()
    assert ops_of(till) == [("create", "ok"), ("undo", "ok")]
    assert sim.voucher(JTL.value_code).status == "inactive"


async def test_jtl_a_top_up_is_credited_at_close_with_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    sim = till.providers["jtl"].simulator
    till.gifts.add_top_up(await till.gifts.check_top_up(JTL.voucher), "20")
    out = await till.pay_cash(till.parse_amount("20"))
    assert out.closed is not None and out.closed.number == "1-0001", out.notice.text
    [op] = till.journal.ops()
    assert (op.operation, op.state) == ("create", "ok")
    assert op.request["value"] == "top_up" and op.request["order_number"] == "1-0001"
    assert jtl_charges(sim, "recharge") == [(JTL.voucher, 2000, "1-0001")]
    assert op.refs["recharge_id"] == next(iter(sim.state.charges))
    assert sim.voucher(JTL.voucher).remaining == 12000


async def test_jtl_a_lost_top_up_answer_is_settled_by_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    slot = till.providers["jtl"]
    sim = slot.simulator
    till.gifts.add_top_up(await till.gifts.check_top_up(JTL.voucher), "20")
    on_next_write(slot.http, JTL, lambda: sim.drop_next_posts(1))
    out = await till.pay_cash(till.parse_amount("20"))
    assert out.closed is not None, out.notice.text
    assert ops_of(till) == [("create", "done")]
    assert jtl_charges(sim, "recharge") == [(JTL.voucher, 2000, "1-0001")]  # never sent twice


async def test_jtl_a_lost_refund_answer_is_settled_by_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    slot = till.providers["jtl"]
    sim = slot.simulator
    till.scan(ESPRESSO)
    await pay_voucher(till, JTL)
    on_next_write(slot.http, JTL, lambda: sim.drop_next_posts(1))  # the refund: made, answer lost
    await till.storno.run()
    assert ops_of(till) == [("authorize", "ok"), ("capture", "ok"), ("refund", "done")]
    assert len(jtl_charges(sim, "refund")) == 1  # never sent twice
    assert sim.voucher(JTL.voucher).remaining == 10000


# =====================================================================================
# Part 4: a provider that only sells value lines (CSQ's digital vouchers): bought under
# our reference (at most 9 digits), a lost answer settled by transaction info, a replay
# under the same reference bought once, reverted by the purchase's refs. In-process and
# over real HTTP, as parts 1 and 2.
# =====================================================================================
value_only = pytest.mark.parametrize("kit", [CSQ], ids=["csq"], indirect=True)


def create_op(kit: Kit, reference: str, at: datetime, amount: int | None = None) -> Operation:
    """The journaled create as settling sees it: with the time it went out with."""
    return Operation(OpKind.CREATE, kit.value_code, money(amount or kit.value_amount), reference, {},
                     {"local_at": at.isoformat()})


def balance_of(env: Env) -> int:
    from tests.providers.kits import CSQ_TERMINAL

    found: int = env.sim.balance(CSQ_TERMINAL)
    return found


@value_only
async def test_digital_voucher_is_bought_once_per_reference_and_reverted(env: Env) -> None:
    kit, client = env.kit, env.client()
    from tests.providers.kits import CSQ_BALANCE

    check = await client.check_value(kit.value_code)
    assert check.can_create and not check.free_amount and check.amount == money(kit.value_amount)
    at = datetime.now()
    created = await client.create_value(kit.value_code, None, OpContext("1001", None, at))
    assert created.amount == money(kit.value_amount) and created.refs["voucher_code"]
    assert kit.creations(env.sim) == [(kit.value_code, kit.value_amount, "1001")]
    again = await client.create_value(kit.value_code, None, OpContext("1001", None, at))  # a replay
    assert again.refs["voucher_code"] == created.refs["voucher_code"]
    assert kit.creations(env.sim) == [(kit.value_code, kit.value_amount, "1001")]  # bought once
    assert balance_of(env) == CSQ_BALANCE - kit.value_amount
    assert (await client.check_value(kit.value_code)).can_create  # the same product sells again
    assert (await client.check_undo(kit.value_code)).can_undo
    undone = await client.undo_value(kit.value_code, ctx("1002"), "contract test", refs=created.refs)
    assert undone.amount == money(kit.value_amount)
    assert kit.undos(env.sim) == [kit.value_code]
    assert balance_of(env) == CSQ_BALANCE
    with pytest.raises(UnknownOutcome):  # 12 "already reverted": may be ours, transaction info decides
        await client.undo_value(kit.value_code, ctx("1003"), "again", refs=created.refs)
    assert kit.undos(env.sim) == [kit.value_code] and balance_of(env) == CSQ_BALANCE


@value_only
async def test_digital_a_refusal_carries_the_providers_message(env: Env) -> None:
    kit = env.kit
    with pytest.raises(RefusedError) as info:  # DummyPin, an account ending 001: 971
        await env.client().create_value("9991", money(1000), ctx("1011"), details={"account": "4711001"})
    assert info.value.provider_message == kit.refusal
    assert not info.value.outcome_unknown
    assert kit.creations(env.sim) == []


@value_only
async def test_digital_wrong_secret_is_an_authentication_error(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    kit = env.kit
    client = env.client(kit.wrong_secrets(env.sim))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
        await client.check_value(kit.value_code)
    assert f"pos keys set --provider {kit.name}" in info.value.hint
    assert_no_secret(info.value, kit.leaky)
    assert_not_logged(caplog, kit.leaky)
    assert env.sim.state.requests[-1].status == 401


@value_only
async def test_digital_a_5xx_on_a_read_is_unavailable_on_a_write_unknown(env: Env) -> None:
    kit = env.kit
    env.sim.fail_next(1, status=500)
    with pytest.raises(UnavailableError) as read:
        await env.client().check_value(kit.value_code)
    assert read.value.safe_to_retry and not isinstance(read.value, UnknownOutcome)
    on_next_write(env.http, kit, lambda: env.sim.fail_next(1, status=502, body="Bad Gateway"))
    with pytest.raises(UnknownOutcome) as write:
        await env.client().create_value(kit.value_code, None, ctx("1021"))
    assert write.value.outcome_unknown and not write.value.safe_to_retry
    assert kit.creations(env.sim) == []


@value_only
async def test_digital_connection_refused_is_unavailable_and_nothing_was_sent(kit: Kit) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _app, sim = kit.build()
    secrets = kit.secrets(sim)
    async with httpx.AsyncClient() as http:
        client = kit.client(http, f"http://127.0.0.1:{port}", secrets)
        with pytest.raises(UnavailableError) as info:
            await client.create_value(kit.value_code, None, ctx("1031"))
    assert not isinstance(info.value, UnknownOutcome)
    assert "nothing was sent" in info.value.message
    assert_no_secret(info.value, secrets[kit.secret])


@value_only
async def test_digital_a_secret_echoed_in_an_error_body_never_leaks(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    kit, secret = env.kit, env.secret
    on_next_write(env.http, kit, lambda: env.sim.fail_next(
        1, status=400, body=f'{{"rc": -1, "message": "rejected, you sent {secret}"}}',
        content_type="application/json"))
    with caplog.at_level(logging.DEBUG), pytest.raises(RefusedError) as info:
        await env.client().create_value(kit.value_code, None, ctx("1041"))
    assert "***" in info.value.provider_message, info.value.provider_message
    assert_no_secret(info.value, secret)
    assert_not_logged(caplog, secret)
    assert kit.creations(env.sim) == []


@value_only
async def test_digital_a_dropped_answer_is_settled_by_transaction_info(env: Env) -> None:
    kit, client = env.kit, env.client()
    at = datetime.now()
    on_next_write(env.http, kit, lambda: env.sim.drop_next_posts(1))
    with pytest.raises(UnknownOutcome) as info:
        await client.create_value(kit.value_code, None, OpContext("1051", None, at))
    assert_no_secret(info.value, env.secret)
    [purchase] = env.sim.purchases()
    op = create_op(kit, "1051", at)
    verdict = judge(kit, op, None, await client.state_of(op))
    assert verdict.verdict is Verdict.APPLIED, verdict
    assert verdict.refs.get("voucher_code") == purchase.voucher_code, verdict.refs  # what the answer would have said
    assert kit.creations(env.sim) == [(kit.value_code, kit.value_amount, "1051")]


@value_only
async def test_digital_a_purchase_applied_late_is_pending_never_not_applied(env: Env) -> None:
    kit, client = env.kit, env.client()
    at = datetime.now()
    on_next_write(env.http, kit, lambda: env.sim.set_apply_delay(LATE_S))
    with pytest.raises(UnknownOutcome):
        await client.create_value(kit.value_code, None, OpContext("1061", None, at))
    op = create_op(kit, "1061", at)
    now = await client.state_of(op)
    held = env.sim.pending_posts() == 1
    verdict = judge(kit, op, None, now).verdict
    assert verdict is not Verdict.NOT_APPLIED
    if held:
        assert verdict is kit.pending, verdict  # 900: arrived, not indexed yet
        assert kit.creations(env.sim) == []
    await env.sim.wait_applied(30.0)
    env.sim.set_apply_delay(0)
    assert judge(kit, op, None, await client.state_of(op)).verdict is Verdict.APPLIED
    assert kit.creations(env.sim) == [(kit.value_code, kit.value_amount, "1061")]


@value_only
async def test_digital_a_purchase_that_never_arrived_is_bought_once_when_sent_again(env: Env) -> None:
    kit, client = env.kit, env.client()
    at = datetime.now()
    on_next_write(env.http, kit, lambda: env.sim.fail_next(1, status=500))
    with pytest.raises(UnknownOutcome):
        await client.create_value(kit.value_code, None, OpContext("1071", None, at))
    op = create_op(kit, "1071", at)
    assert judge(kit, op, None, await client.state_of(op)).verdict is kit.never_arrived
    assert kit.creations(env.sim) == []
    await client.create_value(kit.value_code, None, OpContext("1071", None, at))  # the replay, its own reference
    await client.create_value(kit.value_code, None, OpContext("1071", None, at))  # and once more: the same sale
    assert kit.creations(env.sim) == [(kit.value_code, kit.value_amount, "1071")]


# -- with a real till (the core's runner, settling, close and void) ----------------------
async def sell_digital(till: Till, kit: Kit) -> Any:
    """The kit's value product on the order, paid in cash: the close buys it."""
    [item] = [i for i in till.digital.offers() if i.offer.code == kit.value_code]
    till.digital.add(item, till.digital.amount_for(item, None), {})
    return await till.pay_cash(money(kit.value_amount))


@value_only
async def test_core_digital_a_dropped_purchase_answer_is_decided_at_close_and_reverted(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till()
    slot = till.providers[kit.name]
    sim = slot.simulator
    sim.indexing_delay_s = 0
    on_next_write(slot.http, kit, lambda: sim.drop_next_posts(1))
    out = await sell_digital(till, kit)
    assert out.closed is not None, out.notice.text
    [op] = till.journal.ops(operation="create")
    assert op.state == OpState.DONE, op
    [purchase] = sim.purchases()
    assert purchase.local_reference == op.reference and op.refs["voucher_code"] == purchase.voucher_code
    await till.storno.run()
    assert kit.undos(sim) == [kit.value_code]
    assert [(o.operation, o.state) for o in till.journal.ops()] == [("create", "done"), ("undo", "ok")]


@value_only
async def test_core_digital_a_purchase_that_never_arrived_is_sent_again_under_its_reference(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till()
    slot = till.providers[kit.name]
    sim = slot.simulator
    sim.indexing_delay_s = 0
    on_next_write(slot.http, kit, lambda: sim.fail_next(1, status=500))
    out = await sell_digital(till, kit)
    assert out.closed is None, out.notice.text
    [first] = till.journal.ops(operation="create")
    assert first.state == OpState.NOT_DONE and sim.purchases() == []
    out = await till.finish()
    assert out.closed is not None, out.notice.text
    [again] = till.journal.ops(operation="create")
    assert (again.id, again.reference, again.state) == (first.id, first.reference, OpState.OK)
    assert kit.creations(sim) == [(kit.value_code, kit.value_amount, first.reference)]


async def test_a_slot_around_a_csq_client_built_elsewhere(write_config: Callable[..., Any]) -> None:
    from pos_app.services.providers import slot_for

    config = load_config(write_config())
    _app, sim = CSQ.build()
    async with httpx.AsyncClient() as http:
        client = CSQ.client(http, "http://csq.sim", CSQ.secrets(sim))
        slot = slot_for(config, CSQ.name, client, http=http)
    assert slot.client is client and slot.display_name == "CSQ"


# =====================================================================================
# Part 5: a provider that issues vouchers to a customer (Celbux: createVoucher to a phone,
# sent by SMS), next to its voucher payments (parts 1 and 2): issued once per Reference,
# a lost answer settled by the payment lookup, reversed with the issue's refs; with a
# real till, issued at close and reversed by the void. In-process and over real HTTP.
# =====================================================================================
issuing = pytest.mark.parametrize("kit", [CELBUX], ids=["celbux"], indirect=True)


def issue_op(kit: Kit, reference: str, amount: int) -> Operation:
    return Operation(OpKind.CREATE, kit.value_code, money(amount), reference, {}, {})


@issuing
async def test_issue_a_voucher_once_per_reference_then_reverse_it(env: Env) -> None:
    kit, client, sim = env.kit, env.client(), env.sim
    funds = sim.balance("Store1")
    issued = await client.create_value(kit.value_code, money(10000), ctx("ct-issue-1"), ValueKind.DIGITAL,
                                       details={"phone": CELBUX_PHONE})
    voucher = issued.refs["voucher_no"]
    assert issued.amount == money(10000) and re.fullmatch(r"168-\d{5}-\d{5}", voucher)
    assert kit.creations(sim) == [(CELBUX_PHONE, 10000, "ct-issue-1")]
    assert sim.voucher(voucher).balance == 10000 and sim.balance("Store1") == funds - 10000
    assert any(voucher in sms.text for sms in sim.sms_to(CELBUX_PHONE))
    with pytest.raises(UnknownOutcome):  # -2: the Reference was used; the lookup decides, never a second issue
        await client.create_value(kit.value_code, money(10000), ctx("ct-issue-1"), ValueKind.DIGITAL,
                                   details={"phone": CELBUX_PHONE})
    assert len(kit.creations(sim)) == 1
    undone = await client.undo_value(kit.value_code, ctx("ct-issue-undo"), "contract test", ValueKind.DIGITAL,
                                     refs=issued.refs)
    assert undone.amount == money(10000)
    assert kit.undos(sim) == [voucher] and kit.creations(sim) == []
    assert sim.voucher(voucher).balance == 0 and sim.balance("Store1") == funds


@issuing
async def test_issue_a_dropped_answer_is_settled_by_the_lookup(env: Env) -> None:
    kit, client, sim = env.kit, env.client(), env.sim
    on_next_write(env.http, kit, lambda: sim.drop_next_posts(1))
    with pytest.raises(UnknownOutcome) as info:
        await client.create_value(kit.value_code, money(5000), ctx("ct-issue-drop"), ValueKind.DIGITAL,
                                  details={"phone": CELBUX_PHONE})
    assert_no_secret(info.value, env.secret)
    [created] = sim.transactions("createVoucher")
    op = issue_op(kit, "ct-issue-drop", 5000)
    verdict = judge(kit, op, None, await client.state_of(op))
    assert verdict.verdict is Verdict.APPLIED, verdict
    assert verdict.refs.get("tid") == created.tid  # what the answer would have said: the reverse can find it
    assert kit.creations(sim) == [(CELBUX_PHONE, 5000, "ct-issue-drop")]


@issuing
async def test_issue_that_never_arrived_is_not_found_and_never_issued_twice(env: Env) -> None:
    kit, client, sim = env.kit, env.client(), env.sim
    on_next_write(env.http, kit, lambda: sim.fail_next(1, status=500))
    with pytest.raises(UnknownOutcome):
        await client.create_value(kit.value_code, money(5000), ctx("ct-issue-never"), ValueKind.DIGITAL,
                                  details={"phone": CELBUX_PHONE})
    op = issue_op(kit, "ct-issue-never", 5000)
    assert judge(kit, op, None, await client.state_of(op)).verdict is kit.never_arrived
    assert kit.creations(sim) == []


@issuing
async def test_issue_applied_late_is_pending_then_applied(env: Env) -> None:
    kit, client, sim = env.kit, env.client(), env.sim
    on_next_write(env.http, kit, lambda: sim.set_apply_delay(LATE_S))
    with pytest.raises(UnknownOutcome):
        await client.create_value(kit.value_code, money(5000), ctx("ct-issue-late"), ValueKind.DIGITAL,
                                  details={"phone": CELBUX_PHONE})
    op = issue_op(kit, "ct-issue-late", 5000)
    now = await client.state_of(op)
    held = sim.pending_posts() == 1
    verdict = judge(kit, op, None, now).verdict
    assert verdict is not Verdict.NOT_APPLIED
    if held:
        assert verdict is kit.pending, verdict
    await sim.wait_applied(30.0)
    sim.set_apply_delay(0)
    assert judge(kit, op, None, await client.state_of(op)).verdict is Verdict.APPLIED
    assert kit.creations(sim) == [(CELBUX_PHONE, 5000, "ct-issue-late")]


async def sell_by_sms(till: Till, amount: str = "100") -> Any:
    [item] = till.digital.offers()
    till.digital.add(item, till.digital.amount_for(item, amount), {"phone": CELBUX_PHONE})
    return await till.pay_cash(till.parse_amount(amount))


@issuing
async def test_core_issue_with_a_dropped_answer_is_decided_at_close_and_reversed_by_the_void(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till()
    slot = till.providers[kit.name]
    sim = slot.simulator
    on_next_write(slot.http, kit, lambda: sim.drop_next_posts(1))
    out = await sell_by_sms(till)
    assert out.closed is not None, out.notice.text
    [op] = till.journal.ops(operation="create")
    assert op.state == OpState.DONE, op
    [created] = sim.transactions("createVoucher")
    assert created.reference == op.reference and op.refs["tid"] == created.tid
    assert kit.creations(sim) == [(CELBUX_PHONE, 10000, op.reference)]
    voided = await till.storno.run()
    assert "voided" in voided.notice.text
    assert kit.undos(sim) == [created.voucher_no] and kit.creations(sim) == []
    assert [(o.operation, o.state) for o in till.journal.ops()] == [("create", "done"), ("undo", "ok")]


@issuing
async def test_core_a_pay_then_the_void_of_the_sale_reverses_it_once(
    kit: Kit, provider_till: Callable[..., Till]
) -> None:
    till = provider_till()
    sim = till.providers[kit.name].simulator
    left = big_order(till, kit)
    await pay_voucher(till, kit)
    out = await till.pay_cash(money(left))
    assert out.closed is not None, out.notice.text
    assert kit.authorizations(sim) == [kit.held(kit.voucher, kit.voucher_balance, authorize_ops(till)[0].reference)]
    await till.storno.run()
    assert kit.authorizations(sim) == [] and kit.available(sim, kit.voucher) == kit.voucher_balance
    assert len(sim.transactions("reverse")) == 1
    await till.recovery.run()  # nothing left open: nothing sent again
    assert len(sim.transactions("reverse")) == 1
