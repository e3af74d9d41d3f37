"""Crash tests, for every provider (tests/crashkit.py ``KITS``): kill the till with
SIGKILL at every crash point of every provider operation, restart it, let
reconciliation run, and check the provider's ledger against the journal (no
money taken twice, none without an order, no value line live without a sold
line, every operation final).

The simulator of each provider runs as its own process over HTTP, started once
per provider for this module (the cases are ordered by provider)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pos_app.providers import registry
from pos_app.services.providers import close_providers
from tests.crashkit import (
    ALL_KITS,
    CrashKit,
    SimServer,
    consistency,
    make_till,
    recover_and_finish,
    recover_only,
    run_child,
)

POINTS = ["before_send", "after_send", "after_response"]
# A provider without voucher payments (CSQ): a digital voucher sold in a cash sale, the
# void of that sale, and a sale with one the provider refuses (its purchase killed) before one it sells.
DIGITAL_STEPS = [("digital", "create"), ("digital_storno", "undo"), ("digital_refused", "create")]


def crash_cases(kit: CrashKit) -> list[tuple[CrashKit, str, str]]:
    """(kit, scenario, crash point): every operation the provider's flows send, at each point."""
    if not kit.tenders:  # digital vouchers only (CSQ): bought at a cash sale's close, reverted by its void
        return [(kit, scenario, f"{kind}:{point}") for scenario, kind in DIGITAL_STEPS for point in POINTS] + [
            (kit, "digital", f"close:{point}") for point in ("before_commit", "after_commit")]
    steps = [("redeem", "authorize"), ("cancel", "void")]
    if kit.gift_values:
        steps += [("activate", "create"), ("deactivate", "undo")]
    if kit.captures:
        steps.append(("sale", "capture"))  # at the close, with the order number
    steps.append(("storno", kit.reversal))  # a void of a closed sale gives the voucher payment back
    if kit.gift_values:
        steps.append(("order_cancel", "undo"))  # the cancel of an order holding a value line created at close
    if kit.top_up_value:
        steps.append(("top_up", "create"))  # credit added to a voucher at the close (F11)
    if kit.digital:  # vouchers issued at a cash sale's close (Celbux by SMS), reversed by its void
        steps += [("digital", "create"), ("digital_storno", "undo")]
    cases = [(kit, scenario, f"{kind}:{point}") for scenario, kind in steps for point in POINTS
             if kit.void_sends or (kind, point) != ("void", "after_send")]  # JTL's release sends nothing
    cases += [(kit, scenario, f"close:{point}") for scenario in ("close", "sale")
              for point in ("before_commit", "after_commit")]
    return cases


def undecided_cases(kit: CrashKit) -> list[tuple[CrashKit, str, str]]:
    if not kit.tenders:
        return [(kit, scenario, kind) for scenario, kind in DIGITAL_STEPS]
    steps = [("redeem", "authorize"), *([("cancel", "void")] if kit.void_sends else [])]  # JTL: never undecided
    if kit.gift_values:
        steps += [("activate", "create"), ("deactivate", "undo")]
    if kit.captures:
        steps.append(("sale", "capture"))
    steps.append(("storno", kit.reversal))
    if kit.gift_values:
        steps.append(("order_cancel", "undo"))
    if kit.top_up_value:
        steps.append(("top_up", "create"))
    if kit.digital:
        steps += [("digital", "create"), ("digital_storno", "undo")]
    return [(kit, scenario, kind) for scenario, kind in steps]


# App bugs these cases show, marked until fixed (strict: a fix makes them fail as XPASS).
KNOWN_BUGS: dict[tuple[str, str], str] = {}  # (provider, operation) -> the app bug, while not fixed

# The close points are the core's (the commit of the close, no provider step in it):
# the same for every provider, they run by default for this one only.
CLOSE_KIT = "eguma"
# Exceptions to the rule below, run only with the slow tests. JTL: order_cancel's undo
# points are deactivate's. CSQ: the refused purchase's after_send is its after_response
# with a slow answer, and its undecided case (held 3 s) is the sold one's with another
# result code.
SLOW_SCENARIOS: set[tuple[str, str]] = {("jtl", "order_cancel")}  # (provider, scenario)
SLOW_CASES: set[tuple[str, str, str]] = {  # (provider, scenario, crash point or undecided kind)
    ("csq", "digital_refused", "create:after_send"), ("csq", "digital_refused", "create"),
}


def default_case(kit: CrashKit, scenario: str, what: str) -> bool:
    """Whether a case runs by default; the others run only with the slow tests
    (`pytest -m slow`, `python3 tasks.py soak`), to keep the default run short.

    ``what`` is a crash point (``kind:point``) or, for an undecided case, the kind alone.
    Per provider, for each operation of each scenario, the default run keeps:

    * the after_send case (the request went out and its answer was lost: the case the
      restart must decide) and the undecided case;
    * before_send and after_response only for the provider's first operation (redeem's
      authorize; CSQ, without tenders: the digital purchase's create). Elsewhere they
      repeat, at another operation, the core's "never sent" and "answered, not yet
      recorded" recovery, and run with the slow tests;
    * every point of an operation that has no after_send case (JTL's void of a hold
      sends nothing): what it has;
    * the close points (close:before_commit/after_commit) for CLOSE_KIT only;

    except the cases in SLOW_SCENARIOS and SLOW_CASES."""
    if (kit.name, scenario) in SLOW_SCENARIOS or (kit.name, scenario, what) in SLOW_CASES:
        return False
    kind, _, point = what.partition(":")
    if kind == "close":
        return kit.name == CLOSE_KIT
    if point in ("", "after_send"):  # "": undecided
        return True
    if (scenario, kind) == (("redeem", "authorize") if kit.tenders else DIGITAL_STEPS[0]):
        return True
    return (kit, scenario, f"{kind}:after_send") not in crash_cases(kit)


def marked(cases: list[tuple[CrashKit, str, str]], kind_of: Callable[[str], str], suffix: str = "") -> list[Any]:
    """The cases as pytest params with their ids; one that shows a known bug is xfail,
    one not run by default (default_case) is slow."""
    params = []
    for kit, scenario, what in cases:
        bug = KNOWN_BUGS.get((kit.name, kind_of(what)))
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        if not default_case(kit, scenario, what):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(kit, scenario, what, marks=marks, id=f"{kit.name}-{scenario}-{what}{suffix}"))
    return params


CASES = marked([case for kit in ALL_KITS.values() for case in crash_cases(kit)], lambda at: at.split(":")[0])
UNDECIDED = marked([case for kit in ALL_KITS.values() for case in undecided_cases(kit)], str, ":undecided")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimServer]]:
    """One simulator process per provider, started when its first case runs."""
    started: dict[str, SimServer] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def serve(servers: dict[str, SimServer], monkeypatch: pytest.MonkeyPatch) -> Callable[[CrashKit], SimServer]:
    """The kit's simulator, back to its seed data; a test-only provider registered for the test."""

    def get(kit: CrashKit) -> SimServer:
        if kit.register:
            monkeypatch.setitem(registry.PACKAGES, kit.name, kit.descriptor_module)
        if kit.name not in servers:
            servers[kit.name] = SimServer(kit)
        server = servers[kit.name]
        server.reset()
        return server

    return get


@pytest.mark.parametrize(("kit", "scenario", "crash_at"), CASES)
async def test_kill_at_crash_point_then_recover(
    serve: Callable[[CrashKit], SimServer], write_config: Callable[..., Path],
    kit: CrashKit, scenario: str, crash_at: str
) -> None:
    sim = serve(kit)
    config = write_config(currency=kit.currency)
    kind, point = crash_at.split(":")
    # after_send: the answer is on its way when the till dies. From that step on, the
    # simulator answers 2 s after the work (the child's timeout is 3 s) and the child
    # dies 1 s after the send (crashkit.CRASH_DELAY_S): time for the simulator to read it.
    code = run_child(config, sim.url, scenario, crash_at, slow=kind if point == "after_send" else None,
                     provider=kit)
    assert code == -9, f"the child was not killed at {crash_at} (exit {code})"
    sim.faults(clear=True)

    till = await recover_and_finish(config, sim.url, kit)
    ledger = sim.ledger()
    journal = till.journal
    try:
        assert consistency(journal.path, ledger) == []
        ops = journal.ops()
        assert all(op.state not in ("sent", "unknown") for op in ops)
        assert ops or scenario == "close"
        states = [(op.operation, op.state) for op in ops]
        happened = point != "before_send"  # sent (and read by the provider) before the kill
        if scenario == "redeem":
            assert len(ledger.takings) == (1 if happened else 0)
            assert ops[0].state == ("done" if happened else "not_done"), states
        if scenario == "cancel" and not kit.void_sends:  # JTL: nothing sent; the hold lapses, never charged
            (taking,) = ledger.takings
            assert (taking.still, taking.stage) == (5000, "authorized")
            assert (ops[-1].operation, ops[-1].state) == ("void", "done"), states
            assert journal.load_order(journal.open_order_id()).active_tenders == []
        elif scenario == "cancel":
            (taking,) = ledger.takings
            assert taking.still == (0 if happened else 5000)
            assert (ops[-1].operation, ops[-1].state) == ("void", "done" if happened else "not_done"), states
        if scenario == "activate":
            # once: decided "did happen", or created again after "did not happen"
            assert ledger.created == [kit.fixed_value]
            # the paid order was closed after recovery: the line is sold and created
            assert journal.last_closed_order_id() is not None
        if scenario == "deactivate":
            assert ledger.undone == [kit.fixed_value]
            last = journal.last_closed_order_id()
            assert last is not None and journal.order_voided_at(last) is not None
        if scenario == "storno":  # continued after the restart (F9): fully given back, once
            (taking,) = ledger.takings
            assert (taking.amount, taking.still) == (5000, 0)
            last = journal.last_closed_order_id()
            assert last is not None and journal.order_voided_at(last) is not None
            reversals = [op.state for op in ops if op.operation == kit.reversal]
            assert reversals and reversals[-1] in ("ok", "done"), states
            assert [op.operation for op in ops if op.state in ("ok", "done")].count(kit.reversal) == 1, states
        # The card payment that settles an order needing no provider step to close is
        # committed with the close: killed before that commit, the till comes back with the
        # order open without it (it was never shown taken), and the cashier confirms it again.
        # (A digital voucher's sale: the cash was committed before the purchase, the close
        # after it: the restart closes it with Enter, nothing to confirm again.)
        merged = crash_at == "close:before_commit" and not (scenario == "sale" and kit.captures) \
            and not scenario.startswith("digital")
        if merged:
            open_order = journal.load_order(journal.open_order_id())
            assert journal.last_closed_order_id() is None
            assert [t.kind.value for t in open_order.active_tenders] == (
                ["voucher"] if scenario == "sale" else [])
            assert (await till.pay_card(open_order.remaining)).closed is not None  # confirmed again
        if scenario == "sale":  # closed after the restart (Enter): the voucher's money taken once
            (taking,) = ledger.takings
            assert taking.still == 5000
            last = journal.last_closed_order_id()
            assert last is not None and journal.load_order(last).number == "1-0001"
            if kit.captures:
                assert (taking.stage, taking.order_number) == ("captured", "1-0001")
                captures = [op.state for op in ops if op.operation == "capture"]
                assert captures == (["not_done", "ok"] if crash_at == "capture:before_send"
                                    else ["done"] if kind == "capture" else ["ok"]), states
        if scenario == "order_cancel":  # cancelled after the restart (F9 again): undone once
            assert ledger.undone == [kit.fixed_value]
            assert journal.last_closed_order_id() is None
            assert journal.load_order(ops[0].order_id).status == "cancelled"
        if scenario == "top_up":  # credited once, with the order's number (decided, or sent again)
            last = journal.last_closed_order_id()
            assert last is not None and journal.load_order(last).number == "1-0001"
            assert ledger.top_ups == [(kit.top_up_value, 2000, "1-0001")]
        if scenario.startswith("digital"):
            check_digital(journal, ledger, kit, scenario, ops)
        if scenario == "digital" and kind == "create":  # the purchase as the restart decided it: revertible
            journal.close()
            await void_and_check(config, sim, kit)
        if scenario == "close":
            last = journal.last_closed_order_id()
            assert last is not None and journal.load_order(last).number == "1-0001"
    finally:
        journal.close()


# SIGKILL while an operation is undecided: the provider holds the request past the
# till's timeout (its answer is lost) and the till dies while it waits for a decision.
@pytest.mark.parametrize(("kit", "scenario", "kind"), UNDECIDED)
async def test_kill_while_undecided_then_restart(
    serve: Callable[[CrashKit], SimServer], write_config: Callable[..., Path],
    kit: CrashKit, scenario: str, kind: str
) -> None:
    sim = serve(kit)
    config = write_config(currency=kit.currency)
    code = run_child(config, sim.url, scenario, f"{kind}:undecided", late=kind, provider=kit)
    assert code == -9, f"the child was not killed while the {kind} was undecided (exit {code})"
    # restarted at once, while the provider may still apply it: nothing is decided "did not happen"
    held = sim.pending()
    early = await recover_only(config, sim.url, kit)
    still_held = sim.pending()
    assert "not_done" not in [op.state for op in early], [(op.operation, op.state) for op in early]
    late = [op for op in early if op.operation == kind]
    assert late, [(op.operation, op.state) for op in early]
    if kit.gate:  # the gate holds the request until the test opens it: it was pending throughout
        assert held == still_held == 1
    if still_held:  # held by the provider while the till asked: not decided either way
        assert late[-1].state == "unknown", (late[-1].state, late[-1].error)
        if kit.gate:  # decided by the lookup, which shows the request pending
            assert "still working on it" in (late[-1].error or ""), late[-1].error
    sim.release()
    sim.wait_applied()
    sim.faults(clear=True)
    till = await recover_and_finish(config, sim.url, kit)
    ledger = sim.ledger()
    try:
        assert consistency(till.journal.path, ledger) == []
        ops = till.journal.ops()
        late_ops = [op for op in ops if op.operation == kind]
        # the refused purchase, applied late, is decided by transaction info: refused (971)
        decided = "failed" if scenario == "digital_refused" else "done"
        assert late_ops and late_ops[0].state == decided, [(o.operation, o.state, o.error) for o in ops]
        if kind == "authorize":
            assert len(ledger.takings) == 1
        if kind == "undo":
            assert ledger.undone == [kit.fixed_value]
        if kind == "create" and scenario == "top_up":
            assert ledger.top_ups == [(kit.top_up_value, 2000, "1-0001")]
        elif kind == "create":
            assert ledger.created == [kit.fixed_value], ledger.created
        if kind in ("void", "refund"):
            assert [t.still for t in ledger.takings] == [0]
        if kind == "capture":
            assert [(t.stage, t.order_number) for t in ledger.takings] == [("captured", "1-0001")]
        if scenario.startswith("digital"):
            check_digital(till.journal, ledger, kit, scenario, ops)
    finally:
        till.journal.close()


def check_digital(journal: Any, ledger: Any, kit: CrashKit, scenario: str, ops: list[Any]) -> None:
    """After the restart: exactly one purchase for the sold line (consistency() matched it by
    reference), none for the refused line (taken off the order, its money given back as
    change), and the void of the sale reverted it once."""
    states = [(op.operation, op.state) for op in ops]
    last = journal.last_closed_order_id()
    assert last is not None, states  # the paid sale was closed (after the restart: Enter)
    order = journal.load_order(last)
    assert order.number == "1-0001"
    assert ledger.created == [kit.fixed_value], (ledger.created, states)
    assert ledger.creations is not None and len(ledger.creations) == 1
    if scenario == "digital_storno":
        assert ledger.undone == [kit.fixed_value], (ledger.undone, states)
        assert journal.order_voided_at(last) is not None
        assert [op.state for op in ops if op.operation == "undo"][-1] in ("ok", "done"), states
    else:
        assert ledger.undone == [] and journal.order_voided_at(last) is None
    if scenario == "digital_refused":
        assert order.total.minor == kit.fixed_amount, order.total  # the refused 10.00 left the order
        assert [line.name for line in order.active_lines] == ["City Gift Card"], order.active_lines
        assert order.change.minor == 1000, order.change  # and was given back
        [refused] = [line for line in order.lines if line.voided]
        assert not refused.activated
        refused_ops = [op.state for op in ops if op.line_id == refused.id]
        assert refused_ops and set(refused_ops) <= {"failed", "not_done"}, states  # never bought
        assert refused_ops[-1] == "failed", states  # CSQ's refusal (971), decided once
        references = {op.reference for op in ops if op.line_id == refused.id}
        assert len(references) == 1, states  # sent again (if at all) under its own reference


async def void_and_check(config: Path, sim: SimServer, kit: CrashKit) -> None:
    """The void of the sale whose purchase the restart decided (by transaction info, when
    its answer was lost): the revert names it with the refs settling gave the line."""
    till = make_till(config, sim.url, kit)
    try:
        out = await till.storno.run()
        assert "voided" in out.notice.text, out.notice.text
        ledger = sim.ledger()
        assert ledger.undone == [kit.fixed_value], (ledger.undone, out.notice.text)
        assert consistency(till.journal.path, ledger) == []
    finally:
        await close_providers(till.providers)
        till.journal.close()
