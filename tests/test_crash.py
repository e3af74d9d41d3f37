"""Crash tests: kill the till with SIGKILL at every crash point of every
provider operation, restart it, let reconciliation run, and check the
simulator's ledger against the journal (no double redemption, no redemption
without an order, no activation without a paid line, every operation final)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pos_app.config import load_config
from tests.crashkit import SimServer, consistency, recover_and_finish, recover_only, run_child

POINTS = ["before_send", "after_send", "after_response"]
KINDS = {"redeem": "authorize", "cancel": "void", "activate": "create", "deactivate": "undo"}
CASES = [(op, f"{kind}:{point}") for op, kind in KINDS.items() for point in POINTS]
CASES += [("close", "close:before_commit"), ("close", "close:after_commit")]
# during a void of a closed sale, and during the cancel of an order holding an active gift voucher
CASES += [("storno", f"void:{point}") for point in POINTS]
CASES += [("order_cancel", f"undo:{point}") for point in POINTS]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    server = SimServer()
    yield server
    server.stop()


@pytest.mark.parametrize(("scenario", "crash_at"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_kill_at_crash_point_then_recover(
    sim: SimServer, write_config: Callable[..., Path], scenario: str, crash_at: str
) -> None:
    sim.reset()
    config = write_config()
    if crash_at.endswith("after_send"):
        # the answer is on its way when the till dies: the simulator has 1 s to read the
        # request (POS_CRASH_DELAY in crash_child's environment) and answers after 2 s
        # (every request is that slow; the child's timeout is 3 s)
        sim.faults(latency_s=2.0)
    code = run_child(config, sim.url, scenario, crash_at)
    assert code == -9, f"the child was not killed at {crash_at} (exit {code})"
    sim.faults(clear=True)

    till = await recover_and_finish(config, sim.url)
    state = sim.state()
    assert consistency(till.journal.path, state) == []
    journal = till.journal
    ops = journal.ops()
    assert all(op.state not in ("sent", "unknown") for op in ops)
    assert ops or scenario == "close"
    op = ops[-1] if scenario != "close" else None
    if scenario == "redeem":
        redeemed = crash_at != "authorize:before_send"
        assert len(state["redemptions"]) == (1 if redeemed else 0)
        assert ops[0].state == ("done" if redeemed else "not_done")
    if scenario == "cancel":
        cancelled = crash_at != "void:before_send"
        (redemption,) = state["redemptions"]
        assert redemption["cancelled_in_cents"] == (5000 if cancelled else 0)
        assert op is not None and op.operation == "void" and op.state == ("done" if cancelled else "not_done")
    if scenario == "activate":
        assert len(state["activations"]) == 1  # once: resolved, or activated again after "did not happen"
        # the paid order was closed after recovery: the line is sold and activated
        assert load_config(config).outlet.id and journal.last_closed_order_id() is not None
    if scenario == "deactivate":
        assert len(state["deactivations"]) == 1
        last = journal.last_closed_order_id()
        assert last is not None and journal.order_voided_at(last) is not None
    if scenario == "storno":  # continued after the restart (F9): fully reversed, once
        (redemption,) = state["redemptions"]
        assert (redemption["amount_in_cents"], redemption["cancelled_in_cents"]) == (3800, 3800)
        last = journal.last_closed_order_id()
        assert last is not None and journal.order_voided_at(last) is not None
        assert [o.state for o in ops if o.operation == "void"][-1] in ("ok", "done")
    if scenario == "order_cancel":  # cancelled after the restart (F9 again): deactivated once
        assert [d["code"] for d in state["deactivations"]] == ["EADSHD24AKS5"]
        assert journal.last_closed_order_id() is None
        first = journal.load_order(ops[0].order_id)
        assert first.status == "cancelled"
    if scenario == "close":
        last = journal.last_closed_order_id()
        assert last is not None and journal.load_order(last).number == "1-0001"
    journal.close()


# SIGKILL while an operation is undecided: the provider applies the request after the
# till's timeout (its answer is lost) and the till dies while it waits for the settle window.
UNDECIDED = [("redeem", "authorize"), ("cancel", "void"), ("activate", "create"), ("deactivate", "undo"),
             ("storno", "void"), ("order_cancel", "undo")]


@pytest.mark.parametrize(("scenario", "kind"), UNDECIDED, ids=[f"{s}-{k}:undecided" for s, k in UNDECIDED])
async def test_kill_while_undecided_then_restart(
    sim: SimServer, write_config: Callable[..., Path], scenario: str, kind: str
) -> None:
    sim.reset()
    config = write_config()
    code = run_child(config, sim.url, scenario, f"{kind}:undecided", late=kind)
    assert code == -9, f"the child was not killed while the {kind} was undecided (exit {code})"
    # restarted at once, while the provider may still apply it: nothing is decided "did not happen"
    assert "not_done" not in await recover_only(config, sim.url)
    sim.wait_applied()
    sim.faults(clear=True)
    till = await recover_and_finish(config, sim.url)
    state = sim.state()
    assert consistency(till.journal.path, state) == []
    ops = till.journal.ops()
    late_ops = [op for op in ops if op.operation == kind]
    assert late_ops and late_ops[0].state == "done", [(o.operation, o.state) for o in ops]
    if kind == "authorize":
        assert len(state["redemptions"]) == 1
    if kind == "undo":
        assert [d["code"] for d in state["deactivations"]] == ["EADSHD24AKS5"]
    if kind == "create":
        assert [a["code"] for a in state["activations"]] == ["EADSHD24AKS5"]
    till.journal.close()
