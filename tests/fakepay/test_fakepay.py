"""FakePay's own rules: what the contract suite does not reach (one hold per
voucher, decimal strings on the wire, the lookup's states, cards, seed data)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app.domain.money import Money
from pos_app.providers import registry
from pos_app.providers.base import (
    BadResponse,
    NotFoundError,
    OpContext,
    Operation,
    OpKind,
    RefusedError,
    TenderRef,
    UnknownOutcome,
    Verdict,
)
from pos_app.secrets import FIELDS
from tests.fakepay import simulator as fakesim
from tests.fakepay.client import FakePayClient
from tests.fakepay.descriptor import DESCRIPTOR, FakePaySettings
from tests.fakepay.settling import FakePaySettling

VOUCHER = "FP-10000050"  # 50.00
RICH = "FP-10000200"  # 200.00
FIXED_CARD = "FP-20000025"
FREE_CARD = "FP-20000000"
ISSUED_CARD = "FP-20000100"


def chf(minor: int) -> Money:
    return Money(minor, "CHF")


def ctx(reference: str, number: str | None = None) -> OpContext:
    return OpContext(reference, number, datetime.now())


@pytest.fixture
async def env() -> Any:
    app, sim = fakesim.build_app()
    secrets = fakesim.demo_secrets(sim)
    async with httpx.AsyncClient(transport=fakesim.in_process_transport(app)) as http:
        yield sim, FakePayClient(http, secrets["client_id"], secrets["client_secret"], "http://fakepay.sim",
                                 "CHF", 0.5)


def test_descriptor_settings_policy_and_codes() -> None:
    settings = FakePaySettings(base_url="sim://fakepay")
    assert (settings.timeout_s, settings.settle_s, settings.code_pattern) == (10.0, 30.0, r"FP-\d{8}")
    policy = DESCRIPTOR.policy
    assert policy.captures and policy.lookup_by_reference and policy.one_hold_per_voucher
    assert policy.deduplicated == frozenset()
    assert DESCRIPTOR.secret_fields == ("client_id", "client_secret")
    assert DESCRIPTOR.normalize(" fp-1000 0050\r\n") == "FP-10000050"
    assert DESCRIPTOR.owns(settings, "fp-10000050")
    assert not DESCRIPTOR.owns(settings, "FP10000050") and not DESCRIPTOR.owns(settings, "L4FU5LQTKJR3")


def test_the_fixture_registers_fakepay_and_the_key_fields_follow(fakepay: Any) -> None:
    assert registry.descriptor("fakepay") is DESCRIPTOR
    assert FIELDS["fakepay"] == ("client_id", "client_secret")  # read from the registry when asked


def test_fakepay_is_not_in_the_real_registry() -> None:
    assert "fakepay" not in registry.PACKAGES and "fakepay" not in FIELDS


async def test_amounts_cross_the_wire_as_decimal_strings() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"headers": dict(request.headers), "body": body})
        return httpx.Response(201, json={"hold_id": "H-1", "code": VOUCHER, "amount": "10.53",
                                         "available": "39.47", "state": "held"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = FakePayClient(http, "id-1", "secret-1", "http://x", "CHF", 1.0)
        auth = await client.authorize(VOUCHER, chf(1053), ctx("ref-1"))
    [sent] = seen
    assert sent["body"] == {"amount": "10.53", "reference": "ref-1"}
    assert sent["headers"]["x-client-id"] == "id-1" and sent["headers"]["x-client-secret"] == "secret-1"
    assert (auth.amount, auth.new_balance, auth.refs) == (chf(1053), chf(3947), {"hold_id": "H-1"})


@pytest.mark.parametrize("amount", [10.53, "10.5", "10,53", "1e3", None])
async def test_an_answer_amount_that_is_not_a_decimal_string_is_unreadable(amount: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"hold_id": "H-1", "amount": amount, "available": "39.47"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = FakePayClient(http, "id-1", "secret-1", "http://x", "CHF", 1.0)
        with pytest.raises(BadResponse) as info:
            await client.authorize(VOUCHER, chf(1053), ctx("ref-1"))
    assert isinstance(info.value, UnknownOutcome)  # a POST's unreadable answer: it may have happened


async def test_the_simulator_refuses_a_float_amount(env: Any) -> None:
    sim, _client = env
    status, body = sim.hold("fp-demo-client", VOUCHER, {"amount": 10.53, "reference": "r"})
    assert status == 422 and body["error"] == "invalid_amount"
    assert sim.state.holds == {}


async def test_one_hold_per_voucher(env: Any) -> None:
    sim, client = env
    await client.authorize(RICH, chf(1000), ctx("r-1"))
    with pytest.raises(RefusedError) as info:
        await client.authorize(RICH, chf(500), ctx("r-2"))
    assert info.value.provider_message == "This voucher already has an open hold."
    assert [h.amount for h in sim.state.holds.values()] == [1000]
    lookup = await client.lookup("r-2")
    assert [(o["kind"], o["state"]) for o in lookup["operations"]] == [("hold", "failed")]


async def test_capture_needs_the_order_number_and_happens_once(env: Any) -> None:
    sim, client = env
    auth = await client.authorize(RICH, chf(1000), ctx("r-1"))
    tender = TenderRef(RICH, auth.amount, auth.refs)
    with pytest.raises(ValueError, match="order number"):
        await client.capture(tender, ctx("r-2"))  # refused before anything is sent
    captured = await client.capture(tender, ctx("r-3", "1-0042"))
    [charge] = sim.state.charges.values()
    assert captured.refs == {"charge_id": charge.charge_id} and charge.order_number == "1-0042"
    assert sim.voucher(RICH).balance == 19000
    with pytest.raises(RefusedError, match="captured"):
        await client.capture(tender, ctx("r-4", "1-0042"))
    with pytest.raises(RefusedError, match="captured"):
        await client.void(tender, auth.amount, ctx("r-5"))  # after capture: refund, not release
    assert len(sim.state.charges) == 1


async def test_refund_in_parts_never_more_than_charged(env: Any) -> None:
    sim, client = env
    auth = await client.authorize(RICH, chf(1000), ctx("r-1"))
    captured = await client.capture(TenderRef(RICH, auth.amount, auth.refs), ctx("r-2", "1-0001"))
    tender = TenderRef(RICH, auth.amount, {**auth.refs, **captured.refs})
    first = await client.refund(tender, chf(400), ctx("r-3"))
    assert first.amount == chf(400) and first.new_balance == chf(19400)
    with pytest.raises(RefusedError, match="Only 6.00"):
        await client.refund(tender, chf(700), ctx("r-4"))
    await client.refund(tender, chf(600), ctx("r-5"))
    assert sim.voucher(RICH).balance == 20000
    assert [r.amount for r in sim.state.refunds] == [400, 600]


async def test_cards_are_issued_once_and_cancelled_only_while_unused(env: Any) -> None:
    sim, client = env
    free = await client.check_value(FREE_CARD)
    assert free.can_create and free.free_amount and free.amount is None
    with pytest.raises(RefusedError, match="free amount"):
        await client.create_value(FREE_CARD, None, ctx("r-1"))
    assert (await client.create_value(FREE_CARD, chf(3300), ctx("r-2"))).amount == chf(3300)
    with pytest.raises(RefusedError, match="already issued"):
        await client.create_value(FREE_CARD, chf(3300), ctx("r-3"))
    # a used card cannot be cancelled; a released hold makes it unused again
    auth = await client.authorize(ISSUED_CARD, chf(100), ctx("r-4"))
    assert not (await client.check_undo(ISSUED_CARD)).can_undo
    with pytest.raises(RefusedError, match="used"):
        await client.undo_value(ISSUED_CARD, ctx("r-5"))
    await client.void(TenderRef(ISSUED_CARD, auth.amount, auth.refs), auth.amount, ctx("r-6"))
    assert (await client.undo_value(ISSUED_CARD, ctx("r-7"))).amount == chf(10000)
    assert sim.voucher(ISSUED_CARD).status is fakesim.Status.CANCELLED
    with pytest.raises(RefusedError):
        await client.create_value(ISSUED_CARD, None, ctx("r-8"))  # cancelled is final


async def test_the_lookup_says_found_pending_done_failed_per_reference(env: Any) -> None:
    sim, client = env
    assert await client.lookup("nobody-sent-this") == {"reference": "nobody-sent-this", "found": False,
                                                       "operations": []}
    sim.on_arrival(f"/v1/vouchers/{VOUCHER}/holds",
                {"x-client-id": "fp-demo-client", "x-client-secret": "fp-demo-secret-0001"},
                b'{"amount": "5.00", "reference": "r-held"}')
    pending = await client.lookup("r-held")
    assert [(o["kind"], o["state"], o["amount"]) for o in pending["operations"]] == [("hold", "pending", 500)]
    settling = FakePaySettling()
    op = Operation(OpKind.AUTHORIZE, VOUCHER, chf(500), "r-held")
    assert settling.judge(op, None, {"lookup": pending}).verdict is Verdict.PENDING
    sim.hold("fp-demo-client", VOUCHER, {"amount": "5.00", "reference": "r-held"})  # now it is applied
    done = await client.lookup("r-held")
    [hold] = sim.state.holds.values()
    assert [(o["state"], o["ids"], o["available"]) for o in done["operations"]] == [
        ("done", {"hold_id": hold.hold_id}, 4500)]
    judged = settling.judge(op, None, {"lookup": done})
    assert (judged.verdict, judged.refs, judged.balance) == (Verdict.APPLIED, {"hold_id": hold.hold_id}, 4500)
    # another client's reference is not ours
    sim.hold("fp-bern-client", RICH, {"amount": "1.00", "reference": "r-bern"})
    assert not (await client.lookup("r-bern"))["found"]


def test_judge_distrusts_a_lookup_of_another_amount() -> None:
    op = Operation(OpKind.AUTHORIZE, VOUCHER, chf(500), "r")
    now = {"lookup": {"found": True, "operations": [
        {"kind": "hold", "state": "done", "amount": 600, "ids": {"hold_id": "H"}, "available": 4400}]}}
    judged = FakePaySettling().judge(op, None, now)
    assert judged.verdict is Verdict.OTHER and "6.00" in judged.reason


async def test_unknown_voucher_is_not_found(env: Any) -> None:
    _sim, client = env
    with pytest.raises(NotFoundError) as info:
        await client.balance("FP-99999999")
    assert info.value.provider_message == "Voucher FP-99999999 is not known."


def test_seed_data_is_checked(tmp_path: Path) -> None:
    data = fakesim.load_data()
    assert {v.code for v in data.vouchers} >= {VOUCHER, FIXED_CARD}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[vouchers]]\ncode = "FP-1"\nbalance = "1.00"\n', encoding="utf-8")
    with pytest.raises(fakesim.SimulatorDataError, match="FP-12345678"):
        fakesim.load_data(bad)
    bad.write_text('[[vouchers]]\ncode = "FP-12345678"\nbalance = 1.5\n', encoding="utf-8")
    with pytest.raises(fakesim.SimulatorDataError, match="decimal string"):
        fakesim.load_data(bad)


def test_pos_simulate_reports_broken_fakepay_data(fakepay: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from pos_app import cli

    bad = tmp_path / "bad.toml"
    bad.write_text('[[cards]]\ncode = "FP-12345678"\nstatus = "issued"\n', encoding="utf-8")
    assert cli.simulate("fakepay", "127.0.0.1", 0, bad) != 0
    assert "an issued card needs its amount" in capsys.readouterr().err
