"""Shared by the crash tests and the soak: a simulator server process, the
child run, recovery after the crash, and the ledger-versus-journal check."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from pos_app.config import PROJECT_ROOT
from pos_app.journal import OpState
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.providers import close_providers
from tests.crash_child import LATE_ENV, make_till


class SimServer:
    """`pos simulate eguma` as its own process, controlled over /_sim/."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pos_app", "simulate", "eguma", "--port", str(self.port)],
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.state()
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("the simulator did not start")

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sim/state", timeout=5).json()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()
        self.faults(clear=True)

    def faults(self, **faults: Any) -> None:
        httpx.post(f"{self.url}/_sim/faults", json=faults, timeout=5).raise_for_status()

    def wait_applied(self, timeout_s: float = 30.0) -> None:
        """Until the simulator holds no POST it has yet to apply (apply_delay_s)."""
        deadline = time.monotonic() + timeout_s
        while self.state()["pending_posts"]:
            if time.monotonic() > deadline:
                raise AssertionError("the simulator still holds a request")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_child(config: Path, url: str, scenario: str, crash_at: str | None,
              kill_after: float | None = None, late: str | None = None) -> int:
    """Run a scenario in its own process; SIGKILL it at a crash point or after a delay.
    ``late``: the operation kind whose step the simulator applies late (crash_child.late)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("POS_CRASH_AT", None)
    env.pop(LATE_ENV, None)
    if late:
        env[LATE_ENV] = late
    env["POS_CRASH_DELAY"] = "1.0"  # after_send: time for the simulator to read the request
    if crash_at:
        env["POS_CRASH_AT"] = crash_at
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_child", str(config), url, scenario],
                             env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        if kill_after is not None:
            try:
                child.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                child.kill()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode


async def recover_only(config: Path, url: str) -> list[str]:
    """A restart that only reconciles, at the real time: what each open operation became."""
    till = make_till(config, url)
    try:
        await till.recovery.run()
        return [op.state for op in till.journal.ops()]
    finally:
        await close_providers(till.providers)
        till.journal.close()


def past_the_settle_window(till: Till, hours: float = 2.0) -> Till:
    """Run the till's settle clock ahead, as if the settle window had passed.

    Only where the simulator holds no request it has not applied yet (no
    ``apply_delay_s``, or its pending count is 0): then what it will ever
    apply, it has applied, and waiting out the window would show nothing new.
    """
    till.session.utcnow = lambda: datetime.now(UTC) + timedelta(hours=hours)
    return till


async def recover_and_finish(config: Path, url: str, *, past_window: bool = True) -> Till:
    """What the restarted till does: reconcile, then finish what the cashier would finish.

    ``past_window``: the settle window of every open operation has passed (the
    simulator applied at once what it received), so lost answers can be decided.
    """
    till = make_till(config, url)
    if past_window:
        past_the_settle_window(till)
    try:
        await till.recovery.run()
        # a cancel of the open order that was under way is pressed again (F9)
        if any(op.order_id == till.order_id and op.operation == "undo" for op in till.journal.ops()):
            await till.cancel_order()
        if till.order.is_settled:
            await till.finish()
        try:
            plan = till.storno.plan()
        except CheckoutError:
            plan = None
        # a void that was started (some reversal done) is continued, as F9 would
        if plan is not None and any(op.order_id == plan.order.id and op.operation in ("undo", "void")
                                    for op in till.journal.ops()):
            await till.storno.run()
    finally:
        await close_providers(till.providers)
    return till


OUTLET = "Demo Shop Zürich"  # the simulator's outlet of the key the crash child uses


def consistency(journal_path: Path, sim: dict[str, Any]) -> list[str]:
    """The simulator's ledger against the journal. Empty when they agree."""
    problems: list[str] = []
    with sqlite3.connect(journal_path) as db:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("integrity_check failed")
        open_ops = db.execute("SELECT id, operation, state FROM provider_ops WHERE state IN (?, ?)",
                              OpState.OPEN).fetchall()
        if open_ops:
            problems.append(f"operations not final: {open_ops}")
        cancelled = {row[0] for row in db.execute(
            "SELECT tender_id FROM provider_ops WHERE operation='void' AND state IN ('ok', 'done')")}
        tenders = db.execute(
            "SELECT id, code, amount_minor FROM tenders WHERE kind='voucher' AND voided_at IS NULL"
            " AND state IN ('authorized', 'captured')").fetchall()
        journal_money = Counter((code, amount) for tid, code, amount in tenders if tid not in cancelled)
        references = {row[0] for row in db.execute(
            "SELECT reference FROM provider_ops WHERE operation='authorize'")}
        deactivated = {row[0] for row in db.execute(
            "SELECT line_id FROM provider_ops WHERE operation='undo' AND state IN ('ok', 'done')")}
        lines = db.execute("SELECT l.id, l.code, o.status FROM lines l JOIN orders o ON o.id = l.order_id"
                           " WHERE l.kind='gift_voucher' AND l.activated_at IS NOT NULL"
                           " AND l.voided_at IS NULL").fetchall()
        paid_lines = {code for lid, code, status in lines if lid not in deactivated and status == "closed"}
    sim_money = Counter((r["code"], r["open_in_cents"]) for r in sim["redemptions"] if r["open_in_cents"])
    if sim_money != journal_money:
        problems.append(f"voucher money differs: provider {dict(sim_money)} journal {dict(journal_money)}")
    for r in sim["redemptions"]:
        if r["reference"] not in references:
            problems.append(f"redemption without an order: {r['code']} {r['amount_in_cents']}")
    ours = [a for a in sim["activations"] if a["outlet"] == OUTLET]  # not another shop's
    deactivated_codes = Counter(d["code"] for d in sim["deactivations"])
    active_at_provider = {a["code"] for a in ours
                          if Counter(x["code"] for x in ours)[a["code"]] > deactivated_codes[a["code"]]}
    if active_at_provider != paid_lines:
        problems.append(f"activations differ: provider {sorted(active_at_provider)} journal {sorted(paid_lines)}")
    return problems
