"""A till with a journal server journals locally first and forwards every change
(issue 18, "the server goes away"): exactly once, in order, idempotent by the
call's UUID; it keeps selling while the server is away and says so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pos_app.config import load_config
from pos_app.journal import JournalWriteError
from pos_app.journal.schema import MIGRATIONS
from pos_app.journal.forward import ForwardConflict, Forwarder, ForwardingJournal, replay_store
from pos_app.services.journal_server import server_state
from pos_app.services.setup import open_till
from tests.conftest import CROISSANT, MERLOT, server_till
from tests.test_journal_backends import CHF, sell

# What must be the same at the till and on the server, row by row, ids aside.
DUMP = {
    "orders": "SELECT number, status, currency, opened_at, ended_at, voided_at FROM orders"
              " WHERE outlet=? AND till=? ORDER BY id",
    "lines": "SELECT o.number, l.ean, l.quantity, l.unit_minor, l.voided_at IS NOT NULL AS voided FROM lines l"
             " JOIN orders o ON o.id = l.order_id WHERE o.outlet=? AND o.till=? ORDER BY l.id",
    "tenders": "SELECT o.number, t.kind, t.amount_minor, t.state, t.refs FROM tenders t"
               " JOIN orders o ON o.id = t.order_id WHERE o.outlet=? AND o.till=? ORDER BY t.id",
    "receipts": "SELECT kind, text, escpos, printed_at IS NOT NULL AS printed FROM receipts"
                " WHERE outlet=? AND till=? ORDER BY id",
    "ops": "SELECT reference, operation, state, refs, result, error FROM provider_ops WHERE outlet=? AND till=?"
           " ORDER BY id",
    "events": "SELECT kind, at FROM events WHERE outlet=? AND till=? ORDER BY id",  # the till's times
}


def dump(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row.values())
                   if isinstance(row, dict) else tuple(row) for row in store._query(sql, store._scope)]
            for name, sql in DUMP.items()}


@pytest.fixture
def local(tmp_path: Path) -> Any:
    store = ForwardingJournal(tmp_path / "till.sqlite", "o", "1")
    yield store
    store.close()


def work(store: Any, sales: int = 3) -> None:
    """Sales, a provider call from intent to outcome, a printed receipt, a void, an event."""
    for _ in range(sales):
        sell(store, 2)
    order_id = store.open_order_id()
    op_id, _ref, _tender = store.begin_op(provider="eguma", operation="authorize", code="V1", currency=CHF,
                                            order_id=order_id, new_tender=None)
    store.finish_op(op_id, "ok", refs={"redeem_token": "T1"}, result={"balance": 100})
    store.mark_printed(store.last_receipt().id)
    store.void_closed_order(store.last_closed_order_id(), "VOID", b"\x1b@void")
    store.record("drawer_opened", {"why": "no sale"})


def test_every_change_is_forwarded_once_in_order(local: Any, pg_url: str) -> None:
    work(local)
    waiting = local.backlog()
    assert waiting > 10
    forwarder = Forwarder(local, lambda: replay_store(pg_url, "o", "1"))
    assert forwarder.forward() == waiting and local.backlog() == 0
    server = forwarder._server
    assert dump(server) == dump(local)
    assert forwarder.forward() == 0
    # The till killed after the server's commit, before it noted it: all sent again, none applied twice.
    local._db.execute("UPDATE outbox SET sent_at = NULL")
    assert forwarder.forward() == 0 and local.backlog() == 0 and dump(server) == dump(local)
    work(local, sales=1)  # and what comes after goes on where it was
    assert forwarder.forward() > 0 and dump(server) == dump(local)
    assert [o["number"] for o in server._query("SELECT number FROM orders WHERE number IS NOT NULL ORDER BY id")] \
        == [1, 2, 3, 4]
    forwarder.stop()


def test_an_outage_of_10000_journaled_operations_is_forwarded_without_duplicates(local: Any, pg_url: str) -> None:
    reachable = False

    def connect() -> Any:
        if not reachable:
            raise JournalWriteError("the server cannot be reached", "offline")
        return replay_store(pg_url, "o", "1")

    forwarder = Forwarder(local, connect, batch=1000)
    sell(local)
    for index in range(10_000 - 5):
        local.record("no_sale", {"index": index})
    sell(local)
    assert local.backlog() == 10_000
    with pytest.raises(JournalWriteError):
        forwarder.forward()
    reachable = True
    started = time.monotonic()
    assert forwarder.forward() == 10_000
    took = time.monotonic() - started
    server = forwarder._server
    assert dump(server) == dump(local) and local.backlog() == 0
    rows = server._query("SELECT COUNT(*) AS n, COUNT(DISTINCT uuid) AS u FROM forwarded")
    assert rows[0]["n"] == rows[0]["u"] == 10_000
    indexes = [e["detail"]["index"] for e in server.events() if e["kind"] == "no_sale"]
    assert indexes == list(range(10_000 - 5))  # in order, none twice, none lost
    local._db.execute("UPDATE outbox SET sent_at = NULL WHERE seq > 9000")
    assert forwarder.forward() == 0 and len(server.events()) == len(local.events())
    print(f"forwarded 10,000 operations in {took:.1f} s")
    forwarder.stop()


async def test_the_till_keeps_selling_while_the_server_is_down(write_config: Callable[..., Path]) -> None:
    """A real till ([journal] url, forwarding): the server is killed with a sale open; the
    sale closes, more follow, the till says it is offline; the server comes back and
    gets every sale, numbered as at the till, once."""
    from tests.pgserver import SKIP_REASON, find_bindir, running_server

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    with running_server() as server:
        url = server.create_db()
        till = open_till(load_config(write_config(f'\n[journal]\nurl = "{url}"\nconnect_timeout_s = 1\n')))
        forwarder = till.journal.forwarder
        forwarder.interval_s, forwarder.max_backoff_s = 0.05, 0.2
        try:
            till.scan(CROISSANT)
            assert (await till.pay_cash(till.order.cash_due)).closed is not None
            wait_for(lambda: till.journal.backlog() == 0)
            wait_for(lambda: server_state(till.journal, url).online is True)
            till.scan(MERLOT)
            server.kill()
            started = time.monotonic()
            numbers = []
            for code in (CROISSANT, MERLOT, CROISSANT):
                outcome = await till.pay_cash(till.order.cash_due)
                numbers.append(outcome.closed.number)
                till.scan(code)
            assert time.monotonic() - started < 2  # the till never waits on the server
            assert numbers == ["1-0002", "1-0003", "1-0004"]
            wait_for(lambda: server_state(till.journal, url).online is False)
            state = server_state(till.journal, url, count=True)
            assert state.backlog and state.backlog > 0 and state.error
            server.start()
            wait_for(lambda: till.journal.backlog() == 0, timeout=30)
            wait_for(lambda: server_state(till.journal, url).online is True)
            import psycopg

            with psycopg.connect(url) as conn:
                got = conn.execute("SELECT number FROM orders WHERE number IS NOT NULL ORDER BY number").fetchall()
            assert [n for (n,) in got] == [1, 2, 3, 4]
        finally:
            till.journal.close()


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def z_build(number: int, period: Any, start: Any, end: str, rows: Any) -> tuple[str, str, bytes]:
    return json.dumps({"number": number, "orders": rows["sales"]["orders"]}), f"Z {number}", b"z"


def test_a_till_z_is_filed_on_the_server_once_and_a_new_journal_goes_on_from_its_number(
        local: Any, pg_url: str, tmp_path: Path) -> None:
    """A Z of the till reaches the server as its figures (for the store Z), in the Z's
    own local transaction, once however often it is sent; an X does not. A till set up
    again (a new local journal) goes on from its Z number there; the same number with
    other figures would be refused (forwarding stops) rather than summed as one day."""
    sell(local, 2)
    assert local.save_report("X", z_build).number == 1
    before = local.backlog()
    assert local.save_report("Z", z_build).number == 1
    assert local.backlog() == before + 1  # the Z, not the X
    forwarder = Forwarder(local, lambda: replay_store(pg_url, "o", "1"))
    forwarder.forward()
    local._db.execute("UPDATE outbox SET sent_at = NULL")  # all sent again: nothing applied twice
    assert forwarder.forward() == 0
    server = forwarder._server
    filed = server._query("SELECT till, number, figures, store_z FROM till_z_reports")
    assert [(r["till"], r["number"], json.loads(r["figures"]), r["store_z"]) for r in filed] == [
        ("1", 1, {"number": 1, "orders": 1}, None)]
    assert server.store_day()["open"][0].number == 1 and server.store_day()["not_closed"] == {}

    again = ForwardingJournal(tmp_path / "again.sqlite", "o", "1")  # the till set up again
    try:
        assert again.take_over_counters(server)["z_report"] == 1
        assert again.save_report("Z", z_build).number == 2
        Forwarder(again, lambda: replay_store(pg_url, "o", "1")).forward()
        assert [r["number"] for r in server._query("SELECT number FROM till_z_reports ORDER BY number")] == [1, 2]
    finally:
        again.close()
    stray = ForwardingJournal(tmp_path / "stray.sqlite", "o", "1")  # counters not taken over: Z 1 again
    try:
        stray.save_report("Z", lambda n, p, a, b, r: ('{"other": 1}', "Z", b"z"))
        with pytest.raises(ForwardConflict, match="Z report 1 of this till is on the server with other figures"):
            Forwarder(stray, lambda: replay_store(pg_url, "o", "1")).forward()
    finally:
        stray.close()
    forwarder.stop()


async def test_a_new_till_goes_on_from_its_numbers_on_the_server(
        pg_url: str, write_config: Callable[..., Path], data_dir: Path) -> None:
    """A till set up again on a new machine (its sales on the server, no local journal)
    starts its new local journal from its counters there, and its first start needs the
    server for that."""
    direct = server_till(load_config(write_config(f'\n[journal]\nurl = "{pg_url}"\n', name="server.toml")))
    for _ in range(2):
        direct.scan(CROISSANT)
        await direct.pay_cash(direct.order.cash_due)
    direct.journal.close()
    offline = write_config('\n[journal]\nurl = "postgresql://pos@127.0.0.1:1/none"\nconnect_timeout_s = 1\n',
                           name="offline.toml")
    from pos_app.journal import JournalError

    with pytest.raises(JournalError, match="needs the server once"):
        open_till(load_config(offline))
    till = open_till(load_config(write_config(f'\n[journal]\nurl = "{pg_url}"\n', name="forward.toml")))
    try:
        till.scan(MERLOT)
        outcome = await till.pay_cash(till.order.cash_due)
        assert outcome.closed is not None and outcome.closed.number == "1-0003"
        till.journal.forwarder.wake()
        wait_for(lambda: till.journal.backlog() == 0)
        assert till.journal.forwarder.conflict is None
        import psycopg

        with psycopg.connect(pg_url) as conn:
            got = conn.execute("SELECT number FROM orders WHERE number IS NOT NULL ORDER BY number").fetchall()
        assert [n for (n,) in got] == [1, 2, 3]
    finally:
        till.journal.close()


async def test_the_screen_says_offline_and_f12_what_waits(write_config: Callable[..., Path]) -> None:
    """The real app: the health line shows the server; killed, it turns to a red
    'Offline' dot while the cashier sells on; F12 says how many changes wait; back, it
    forwards them and the line shows the server again."""
    from pos_app.ui.app import PosApp
    from tests.pgserver import SKIP_REASON, find_bindir, running_server
    from tests.uihelpers import scan, screen_text, settle, text, wait_until

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    with running_server() as server:
        url = server.create_db()
        till = open_till(load_config(write_config(f'\n[journal]\nurl = "{url}"\nconnect_timeout_s = 1\n')))
        forwarder = till.journal.forwarder
        forwarder.interval_s, forwarder.max_backoff_s = 0.05, 0.2
        try:
            app = PosApp(till)
            async with app.run_test(size=(100, 30)) as pilot:
                await scan(pilot, CROISSANT)
                await wait_until(pilot, lambda: forwarder.online is True, 10)
                await wait_until(pilot, lambda: "Server ●" in text(pilot, "#health"), 5)
                server.kill()
                await pilot.press("f3", "enter")  # cash, the amount due: the sale closes offline
                await settle(pilot)
                assert "Order 1-0001 closed" in text(pilot, "#status")
                await wait_until(pilot, lambda: "Offline ●" in text(pilot, "#health"), 10)
                await pilot.press("f12")
                await settle(pilot)
                shown = screen_text(pilot)
                assert "OFFLINE" in shown and "forwarded when the server is back" in shown
                await pilot.press("escape")
                server.start()
                await wait_until(pilot, lambda: till.journal.backlog() == 0, 30)
                await wait_until(pilot, lambda: "Server ●" in text(pilot, "#health"), 10)
        finally:
            till.journal.close()


async def test_a_hung_server_never_freezes_the_screen(write_config: Callable[..., Path]) -> None:
    """The real app with the server hung (SIGSTOP: connected, never answering) and a
    30-second statement timeout: the forwarder is stuck in its call, and the cashier
    still scans, pays and gets the receipt at once (the till writes its own journal;
    nothing in the event loop waits on the server). Once the server answers again the
    sale is forwarded."""
    from pos_app.ui.app import PosApp
    from tests.pgserver import SKIP_REASON, find_bindir, running_server
    from tests.uihelpers import scan, settle, text, wait_until

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    with running_server() as server:
        url = server.create_db()
        till = open_till(load_config(write_config(
            f'\n[journal]\nurl = "{url}"\nconnect_timeout_s = 30\nstatement_timeout_s = 30\n')))
        forwarder = till.journal.forwarder
        forwarder.interval_s = 0.05
        try:
            async with PosApp(till).run_test(size=(100, 30)) as pilot:
                await wait_until(pilot, lambda: forwarder.online is True, 10)
                server.pause()
                try:
                    started = time.monotonic()
                    await scan(pilot, CROISSANT)
                    await scan(pilot, MERLOT)
                    await pilot.press("f3", "enter")  # cash, the amount due
                    await settle(pilot)
                    took = time.monotonic() - started
                    assert "Order 1-0001 closed" in text(pilot, "#status")
                    assert till.journal.backlog() > 0 and forwarder.error is None  # stuck on the server
                    assert took < 15, f"the screen waited {took:.1f} s on a hung server"  # it would wait 30+ s
                    assert till.journal.unprinted_receipts() == []  # the receipt printed meanwhile
                finally:
                    server.resume()
                await wait_until(pilot, lambda: till.journal.backlog() == 0, 40)
        finally:
            till.journal.close()
        import psycopg

        with psycopg.connect(url) as conn:
            got = conn.execute("SELECT number FROM orders WHERE number IS NOT NULL").fetchall()
        assert got == [(1,)]


def test_forwarded_changes_leave_the_outbox_after_a_week(local: Any, pg_url: str) -> None:
    work(local, sales=2)
    forwarder = Forwarder(local, lambda: replay_store(pg_url, "o", "1"))
    forwarder.forward()
    total = local._query("SELECT COUNT(*) AS n, MAX(seq) AS top FROM outbox")[0]
    local._db.execute("UPDATE outbox SET sent_at = '2020-01-01T00:00:00.000+00:00'")
    sell(local)
    forwarder.forward()
    left = local._query("SELECT seq FROM outbox ORDER BY seq")
    assert [r["seq"] for r in left] == [total["top"] + 1, total["top"] + 2]  # the old ones gone, the new kept
    local.record("no_sale", {})
    assert forwarder.forward() == 1  # and the next gets a sequence never given before
    forwarder.stop()


def test_every_store_method_that_writes_is_forwarded() -> None:
    """A new writing method of the store (a Z report's, say) must be forwarded too:
    add it to forward.FORWARDED (and its id arguments to ID_ARGS)."""
    import inspect

    from pos_app.journal import Journal
    from pos_app.journal.forward import FORWARDED, LOCAL_ONLY

    writing = {name for name, member in inspect.getmembers(Journal, inspect.isfunction)
               if not name.startswith("_") and "self._tx()" in inspect.getsource(member)}
    assert writing == set(FORWARDED) | set(LOCAL_ONLY) and not set(FORWARDED) & set(LOCAL_ONLY)


async def test_voucher_payments_work_while_the_server_is_away(
        write_config: Callable[..., Path], till_factory: Callable[..., Any]) -> None:
    """Voucher payments need the provider, not the journal server: with the server
    killed, a sale is paid by an E-GUMA voucher (intent journaled before the request,
    locally), and the provider call and its outcome reach the server once it is back."""
    from tests.conftest import ESPRESSO, SIM_EGUMA, sim_of
    from tests.pgserver import SKIP_REASON, find_bindir, running_server

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    with running_server() as server:
        url = server.create_db()
        till = till_factory(load_config(write_config(
            SIM_EGUMA.format(timeout=2) + f'\n[journal]\nurl = "{url}"\nconnect_timeout_s = 1\n')))
        forwarder = till.journal.forwarder
        forwarder.interval_s, forwarder.max_backoff_s = 0.05, 0.2
        wait_for(lambda: forwarder.online is True)
        server.kill()
        till.scan(ESPRESSO)  # 14.90
        await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))  # 50.00 -> 35.10: the sale closes
        assert till.last_closed is not None
        assert int(sim_of(till).voucher("L4FU5LQTKJR3").balance_in_cents) == 35_10
        wait_for(lambda: forwarder.online is False)
        server.start()
        wait_for(lambda: till.journal.backlog() == 0, timeout=30)
        import psycopg

        with psycopg.connect(url) as conn:
            ops = conn.execute("SELECT operation, state, amount_minor FROM provider_ops").fetchall()
            closed = conn.execute("SELECT number FROM orders WHERE status = 'closed'").fetchall()
        assert [(op, amount) for op, _state, amount in ops] == [(o.operation, o.amount.minor)
                                                                for o in till.journal.ops()]
        assert [state for _op, state, _a in ops] == [o.state for o in till.journal.ops()] and closed == [(1,)]


def test_tills_in_separate_processes_forward_at_once(pg_url: str, tmp_path: Path) -> None:
    """Three tills (processes) sell on their own journals and forward to one server at
    the same time: on the server each till's orders are numbered 1..n without a gap,
    each change applied once, each sale with its receipt."""
    import json
    import os
    import subprocess
    import sys

    import psycopg

    from pos_app.journal.postgres import PgJournal

    PgJournal(pg_url, "o", "0").close()
    sales, tills = 30, ("1", "2", "3")
    root = Path(__file__).resolve().parents[1]
    start_at = time.time() + 2.0
    children = [subprocess.Popen([sys.executable, "-m", "tests.pg_seller", pg_url, "o", till, str(sales),
                                  str(start_at), str(tmp_path / f"till-{till}.sqlite")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
                                 env={**os.environ, "PYTHONPATH": str(root)})
                for till in tills]
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["numbers"] == list(range(1, sales + 1))
    with psycopg.connect(pg_url) as conn:
        got = conn.execute("SELECT till, array_agg(number ORDER BY number) FROM orders WHERE status = 'closed'"
                           " GROUP BY till ORDER BY till").fetchall()
        receipts = conn.execute("SELECT COUNT(*) FROM receipts WHERE kind = 'sale'").fetchone()[0]
        applied = conn.execute("SELECT till, COUNT(*), COUNT(DISTINCT uuid) FROM forwarded GROUP BY till"
                               " ORDER BY till").fetchall()
    assert got == [(till, list(range(1, sales + 1))) for till in tills] and receipts == 3 * sales
    import sqlite3

    made = []
    for till in tills:
        with sqlite3.connect(tmp_path / f"till-{till}.sqlite") as db:
            made.append((till, *db.execute("SELECT COUNT(*), COUNT(*) FROM outbox").fetchone()))
    assert applied == made  # every change of every till once (6 per sale)


def test_an_x_and_a_z_report_stay_at_the_till_and_forwarding_goes_on(local: Any, pg_url: str) -> None:
    """An X or Z report (issue 17) is the till's own record: neither it nor its
    receipt's printing marks go to the server, and forwarding goes on after it (a
    forwarded mark of a receipt the server never had would stop it)."""
    from pos_app.journal.reporting import Period

    work(local, sales=2)

    def build(number: int, period: Period, start: str | None, end: str, rows: Any) -> tuple[str, str, bytes]:
        return '{"sales": 2}', f"Z REPORT {number}", b"\x1b@z"

    x = local.save_report("X", build)
    local.mark_printed(x.receipt_id)
    z = local.save_report("Z", build)
    local.mark_print_failed(z.receipt_id, "paper out")
    sell(local, 1)  # the next day
    forwarder = Forwarder(local, lambda: replay_store(pg_url, "o", "1"))
    assert forwarder.forward() > 0 and local.backlog() == 0
    server = forwarder._server
    kinds = [r["kind"] for r in server._query("SELECT kind FROM receipts WHERE outlet=? AND till=?", server._scope)]
    assert "report" not in kinds and kinds.count("sale") == 3
    assert [o["number"] for o in server._query("SELECT number FROM orders WHERE number IS NOT NULL ORDER BY id")] \
        == [1, 2, 3]
    assert local.last_z() is not None and local.last_z().number == 1  # at the till


def test_a_till_writing_straight_to_the_server_makes_its_x_and_z_there(pg_url: str, tmp_path: Path) -> None:
    """Direct mode: the rows of a Z are summed from the orders on the server (no running
    totals there) and are those the same sales give on SQLite; a Z is refused with an
    order open, numbered without gaps, and the next day starts after it."""
    from pos_app.journal import DayCloseRefused, Journal
    from pos_app.journal.postgres import PgJournal

    server, local = PgJournal(pg_url, "o", "1"), Journal(tmp_path / "same.sqlite", "o", "1")
    try:
        seen: dict[str, list[Any]] = {}

        def build(number: int, period: Any, start: Any, end: str, rows: Any) -> tuple[str, str, bytes]:
            seen.setdefault(store_name, []).append(rows)  # the Z's, then the X's
            return "{}", f"Z {number}", b"z"

        for store_name, store in (("pg", server), ("sqlite", local)):
            sell(store, 2)
            sell(store, 1)
            store.void_closed_order(store.last_closed_order_id(), "VOID", b"v")
            store.add_line(store.open_order_id(), sell.__globals__["product"](250))
            with pytest.raises(DayCloseRefused):
                store.save_report("Z", build)
            store.void_line(store.open_order_id(), store.load_order(store.open_order_id()).lines[0].id)
            assert store.save_report("Z", build).number == 1
            assert store.save_report("X", build).number == 1
        assert server.schema_version() == len(MIGRATIONS) and server.last_z() is not None
        (pg_z, pg_x), (sqlite_z, sqlite_x) = seen["pg"], seen["sqlite"]
        assert pg_z["sales"] == sqlite_z["sales"] and pg_z["sales"]["orders"] == 2
        assert pg_z["stornos"] == sqlite_z["stornos"] and pg_z["stornos"]["orders"] == 1
        assert pg_x["sales"] == sqlite_x["sales"] and pg_x["sales"]["orders"] == 0
        assert server.running_totals()["sales"]["orders"] == 0  # the next day
        assert server.report_data(reporting_period())["sales"]["orders"] == 2
    finally:
        server.close()
        local.close()


def reporting_period() -> Any:
    from pos_app.journal.reporting import Period

    return Period(start="2000-01-01T00:00:00", end="2999-01-01T00:00:00")


def test_pos_journal_check_says_what_the_server_does_not_have_yet(
        write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from pos_app import journal_cli

    path = write_config('\n[journal]\nurl = "postgresql://pos@127.0.0.1:1/none"\n')
    config = load_config(path)
    local = ForwardingJournal(config.journal_path(), config.outlet.id, config.outlet.till)
    sell(local)
    local.close()
    parser = journal_cli.argparse.ArgumentParser()
    journal_cli.add_journal_parser(parser.add_subparsers(dest="command"))
    assert journal_cli.run_journal(parser.parse_args(["journal", "check", "--config", str(path)])) == 0
    out = capsys.readouterr().out
    assert "note: 3 changes not forwarded to the journal server yet" in out and "journal OK" in out


def test_the_store_z_adds_sales_in_no_till_z_holds_other_currencies_apart_and_closes_what_was_asked(
        local: Any, pg_url: str, tmp_path: Path) -> None:
    """A till set up again loses the sales its old journal forwarded after its last Z:
    they are on the server in no till Z, and the store Z adds them from the server's
    rows (and says so). A till Z in another currency is held but not added (it does
    not block every later store Z). A store Z closes exactly what the shop owner was
    asked about, and only one store Z of an outlet is made at a time."""
    import psycopg

    from pos_app.journal.postgres import STORE_Z_LOCK, PgJournal
    from pos_app.journal.records import StoreDayChanged
    from pos_app.services.reports import build_figures, store_z_figures

    def real(currency: str) -> Callable[..., tuple[str, str, bytes]]:
        def build(number: int, period: Any, start: Any, end: str, rows: Any) -> tuple[str, str, bytes]:
            figures = build_figures(rows, currency=currency, kind="Z", number=number, period_from=start,
                                    period_to=end, issuer_names=frozenset())
            return json.dumps(figures), f"Z {number}", b"z"
        return build

    def forward(store: Any, till: str = "1") -> None:
        forwarder = Forwarder(store, lambda: replay_store(pg_url, "o", till))
        forwarder.forward()
        forwarder.stop()

    sell(local, 1)  # 1.00
    local.save_report("Z", real("CHF"))  # Z 1
    sell(local, 2)  # 2.01, forwarded, then the till's journal is lost
    forward(local)
    server = PgJournal(pg_url, "o", "1")
    again = ForwardingJournal(tmp_path / "again.sqlite", "o", "1")
    euro = ForwardingJournal(tmp_path / "euro.sqlite", "o", "2")
    try:
        again.take_over_counters(server)
        sell(again, 1)  # 1.00
        assert again.save_report("Z", real("CHF")).number == 2
        forward(again)
        sell(euro, 1)
        euro.save_report("Z", real("EUR"))
        forward(euro, "2")

        day = server.store_day()
        assert [(z.till, z.number) for z in day["open"]] == [("1", 1), ("1", 2), ("2", 1)]
        assert [(g["till"], g["before"], g["raw"]["sales"]["orders"]) for g in day["gaps"]] == [("1", 2, 1)]

        def build(number: int, open_day: dict[str, Any]) -> str:
            return json.dumps(store_z_figures(number, "CHF", open_day["open"], open_day["not_closed"],
                                              open_day["gaps"], frozenset()))

        with pytest.raises(StoreDayChanged, match="changed while you were asked"):
            server.close_store_day(build, expect=(("1", 1), ("1", 2)))  # till 2's Z came meanwhile
        with psycopg.connect(pg_url) as other:  # another store Z of the outlet under way
            other.execute("BEGIN")
            other.execute("SELECT pg_advisory_xact_lock(%s, hashtext('o'))", (STORE_Z_LOCK,))
            with pytest.raises(StoreDayChanged, match="being made right now"):
                server.close_store_day(build)
        assert len(server.store_day()["open"]) == 3  # nothing closed by either

        record = server.close_store_day(build, expect=(("1", 1), ("1", 2), ("2", 1)))
        figures = json.loads(record.figures)
        assert figures["sales"]["orders"] == 3 and figures["sales"]["total"] == 100 + 201 + 100
        assert figures["gaps"] == [["1", 2, 1, 201]] and figures["other_currency"] == [["2", 1, "EUR"]]
        assert record.tills == (("1", 1), ("1", 2), ("2", 1))
        assert server.store_day()["open"] == [] and server.store_day()["gaps"] == []
    finally:
        for store in (again, euro, server):
            store.close()


def test_a_store_z_whose_answer_is_lost_is_not_called_undone(local: Any) -> None:
    """The server stops answering while a store Z is written: the message says it may
    have been made and how to look (a lost answer is not a "no"); asked again, the
    store Z is made once, with the number it would have had."""
    from pos_app.journal import JournalWriteError
    from pos_app.journal.postgres import PgJournal
    from tests.pgserver import SKIP_REASON, find_bindir, running_server

    if find_bindir() is None:
        pytest.skip(SKIP_REASON)
    with running_server() as server:
        url = server.create_db()
        sell(local, 1)
        local.save_report("Z", z_build)
        Forwarder(local, lambda: replay_store(url, "o", "1")).forward()
        store = PgJournal(url, "o", "1", statement_timeout_s=1, connect_timeout_s=1, pool_timeout_s=2)
        try:
            def hang(number: int, day: dict[str, Any]) -> str:
                server.pause()  # the INSERT of the store Z never gets an answer
                return '{"kind": "SZ"}'

            try:
                with pytest.raises(JournalWriteError, match=r"store Z report 1 was being made: it may have been made"
                                   r".*--number 1"):
                    store.close_store_day(hang)
            finally:
                server.resume()
            assert store.store_z(1) is None  # not made this time: the owner is told how to see that
            assert store.close_store_day(lambda number, day: '{"kind": "SZ"}').number == 1
            assert store.store_day()["open"] == []
        finally:
            store.close()
