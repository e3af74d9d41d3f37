"""The journal suite on both backends: SQLite (one till, the default) and PostgreSQL
(every till of a shop on one server, issue 18), through the same store interface.

The PostgreSQL cases run against a real server the tests start themselves
(tests/pgserver.py); without the server binaries they are skipped, naming
Debian's ``postgresql`` package.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pos_app.config import load_config
from pos_app.domain.money import Money
from pos_app.domain.order import (
    Line,
    LineKind,
    OrderStatus,
    Tender,
    TenderKind,
    TenderState,
)
from pos_app.journal import Journal, JournalError, JournalWriteError, OpState
from pos_app.journal.schema import MIGRATIONS
from pos_app.journal.store import _tables
from pos_app.services.setup import open_till
from tests.conftest import CROISSANT, MERLOT, forwarded, server_till

CHF = "CHF"
BACKENDS = ["sqlite", "postgres"]


def chf(minor: int) -> Money:
    return Money(minor, CHF)


def product(minor: int = 250, qty: int = 1, name: str = "Croissant") -> Line:
    return Line(id=0, ean="7610000000028", name=name, quantity=qty, unit_price=chf(minor), vat_rate=Decimal("2.6"))


def cash(minor: int) -> Tender:
    return Tender(id=0, kind=TenderKind.CASH, amount=chf(minor), given=chf(minor), change=chf(0))


def render(number: str) -> tuple[str, bytes]:
    return f"Receipt {number}", b"\x1b@\x00" + number.encode() + b"\xff\x1dV\x00"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Opens the journal of a till (outlet, till) on the backend under test: one
    SQLite file or one server database shared by every till the test opens."""
    opened: list[Any] = []
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")

        def make(outlet: str = "o", till: str = "1") -> Any:
            from pos_app.journal.postgres import PgJournal

            opened.append(PgJournal(url, outlet, till))
            return opened[-1]
    else:
        def make(outlet: str = "o", till: str = "1") -> Any:
            opened.append(Journal(tmp_path / "journal.sqlite", outlet, till))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Any]) -> Any:
    return make_store()


def sell(store: Any, lines: int = 1) -> tuple[int, Any]:
    """One cash sale (open, lines, close with the payment and the next order)."""
    order_id = store.open_order_id() or store.start_order(CHF)
    for index in range(lines):
        store.add_line(order_id, product(100 + index))
    total = sum(100 + index for index in range(lines))
    return order_id, store.close_order(order_id, render, tender=cash(total), next_order=CHF)


# -- schema -------------------------------------------------------------------
def test_a_new_journal_has_the_latest_schema(store: Any) -> None:
    assert store.pragma("user_version") == len(MIGRATIONS)
    assert set(_tables(len(MIGRATIONS))) >= {"orders", "lines", "tenders", "events", "receipts", "provider_ops",
                                              "sequences"}
    assert store.highest_number() == 0 and store.next_number() == 1 and store.open_order_id() is None


def test_it_opens_again_as_it_is(make_store: Callable[..., Any]) -> None:
    first = make_store()
    order_id, closed = sell(first)
    first.close()
    again = make_store()
    assert again.highest_number() == closed.number == 1
    assert again.load_order(order_id).status is OrderStatus.CLOSED
    assert again.open_order_id() == closed.next_order_id


# -- orders and numbers ---------------------------------------------------------
def test_a_sale_is_read_back_exactly(store: Any) -> None:
    order_id = store.start_order(CHF)
    first = store.add_line(order_id, product(250, 2))
    voided = store.add_line(order_id, product(990, name="Merlot"))
    store.void_line(order_id, voided)
    gift = Line(id=0, ean="", name="Gift voucher", quantity=1, unit_price=chf(5000), vat_rate=Decimal(0),
                kind=LineKind.GIFT_VOUCHER, code="V-1", provider="eguma", free_amount=True,
                details={"email": "a@b.ch"})
    gift_id = store.add_line(order_id, gift)
    store.set_line_problem(gift_id, "not yet")
    card = store.add_tender(order_id, Tender(id=0, kind=TenderKind.CARD, amount=chf(1000),
                                             state=TenderState.AUTHORIZED))
    store.set_tender_problem(card, "slow")
    closed = store.close_order(order_id, render, tender=cash(4500), next_order=CHF)

    order = store.load_order(order_id)
    assert order.status is OrderStatus.CLOSED and order.number == "1-0001"
    assert [(ln.id, ln.quantity, ln.unit_price.minor, ln.voided, ln.kind) for ln in order.lines] == [
        (first, 2, 250, False, LineKind.PRODUCT), (voided, 1, 990, True, LineKind.PRODUCT),
        (gift_id, 1, 5000, False, LineKind.GIFT_VOUCHER)]
    assert order.lines[2].free_amount and order.lines[2].details == {"email": "a@b.ch"}
    assert order.lines[2].problem == "not yet" and order.lines[0].vat_rate == Decimal("2.6")
    assert [(t.kind, t.amount.minor, t.state, t.problem) for t in order.tenders] == [
        (TenderKind.CARD, 1000, TenderState.CAPTURED, "slow"), (TenderKind.CASH, 4500, TenderState.CAPTURED, None)]
    receipt = store.receipt(closed.receipt_id)
    assert (receipt.kind, receipt.text, receipt.escpos) == ("sale", "Receipt 1-0001", render("1-0001")[1])
    kinds = [e["kind"] for e in store.events(order_id)]
    assert kinds[0] == "order_started" and kinds[-1] == "order_closed" and "order_numbered" in kinds
    assert store.open_order_id() == closed.next_order_id != order_id


def test_order_numbers_have_no_gaps_and_cancelled_orders_keep_theirs(store: Any) -> None:
    numbers = [sell(store)[1].number for _ in range(3)]
    order_id = store.open_order_id()
    assert store.allocate_number(order_id) == 4 == store.allocate_number(order_id)  # given once
    receipt_id = store.cancel_order(order_id, ("cancelled", b"\x00"))
    assert store.load_order(order_id).status is OrderStatus.CANCELLED and receipt_id is not None
    numbers.append(sell(store)[1].number)
    assert numbers == [1, 2, 3, 5] and store.highest_number() == 5 and store.next_number() == 6
    assert store.number_for(store.open_order_id()) == 6
    with pytest.raises(JournalError):
        store.cancel_order(order_id)  # not open any more


def test_a_failed_step_is_rolled_back_as_a_whole_and_gives_its_number_back(store: Any) -> None:
    order_id = store.start_order(CHF)
    store.add_line(order_id, product())

    with pytest.raises(RuntimeError), store._tx() as tx:
        assert tx.next("order_number") == 1
        tx.execute("UPDATE orders SET status='cancelled' WHERE id=?", (order_id,))
        raise RuntimeError("the step fails after its number was drawn")
    with pytest.raises(JournalError):
        store.close_order(order_id + 1000, render)  # not this till's order: nothing written
    assert store.next_number() == 1 and store.load_order(order_id).status is OrderStatus.OPEN
    closed = store.close_order(order_id, render, tender=cash(250))
    assert closed.number == 1 and store.next_number() == 2


def test_voiding_a_closed_sale(store: Any) -> None:
    order_id, _closed = sell(store)
    assert store.last_closed_order_id() == order_id and store.order_voided_at(order_id) is None
    receipt_id = store.void_closed_order(order_id, "VOID", b"\x1b@void")
    assert store.order_voided_at(order_id) is not None
    assert store.last_receipt().id == receipt_id and store.receipt(receipt_id).kind == "void"
    with pytest.raises(JournalError):
        store.void_closed_order(order_id, "VOID", b"")


# -- provider operations ------------------------------------------------------------
def test_a_provider_operation_from_intent_to_outcome(store: Any) -> None:
    order_id = store.start_order(CHF)
    store.add_line(order_id, product(5000))
    pending = Tender(id=0, kind=TenderKind.VOUCHER, amount=chf(3000), state=TenderState.PENDING, code="ABC",
                     provider="eguma")
    op_id, ref, tender_id = store.begin_op(
        provider="eguma", operation="authorize", code="ABC", currency=CHF, amount=chf(3000), order_id=order_id,
        new_tender=pending, request={"amount": 3000}, before={"balance": 5000}, before_at="t0", settle_by="t9",
        reference=lambda n: f"R{n:04d}")
    assert ref == "R0001" and tender_id is not None
    op = store.op(op_id)
    assert (op.state, op.amount, op.before, op.request, op.settle_by) == (
        OpState.SENT, chf(3000), {"balance": 5000}, {"amount": 3000}, "t9")
    assert [o.id for o in store.ops(open_only=True)] == [op_id]

    store.finish_op(op_id, OpState.UNKNOWN, error="timeout")
    op = store.op(op_id)
    assert op.state == OpState.UNKNOWN and op.ended_at is None and op.checks == 1 and op.error == "timeout"
    store.finish_op(op_id, OpState.DONE, refs={"redeem_token": "T1"}, result={"balance": 2000}, clear_error=True,
                    tender={"state": TenderState.AUTHORIZED, "balance_after": chf(2000), "refs": {"redeem_token": "T1"}})
    op = store.op(op_id)
    assert (op.state, op.refs, op.result, op.error) == (OpState.DONE, {"redeem_token": "T1"}, {"balance": 2000},
                                                        None)
    assert op.ended_at is not None and store.ops(open_only=True) == []
    tender = store.load_order(order_id).tenders[0]
    assert (tender.state, tender.balance_after, tender.refs) == (TenderState.AUTHORIZED, chf(2000),
                                                                 {"redeem_token": "T1"})
    assert [o.id for o in store.ops(tender_id=tender_id, code="ABC", operation="authorize")] == [op_id]

    store.flag_op(op_id, "contradiction")
    assert [o.flag for o in store.ops(flagged=True)] == ["contradiction"]
    second, ref2, _none = store.begin_op(provider="eguma", operation="void", code="ABC", currency=CHF,
                                         order_id=order_id, tender_id=tender_id)
    assert ref2 == "o-1-000002"
    store.finish_op(second, OpState.NOT_DONE, error="refused", void_tender=True)
    store.reopen_op(second, before=None, before_at="t1", settle_by="t2")
    assert store.op(second).state == OpState.SENT
    assert store.load_order(order_id).tenders[0].state is TenderState.VOIDED
    with pytest.raises(JournalError):
        store.reopen_op(op_id, before=None, before_at="t", settle_by="t")  # done: never sent again


# -- receipts and events --------------------------------------------------------------
def test_receipts_printed_or_not(store: Any) -> None:
    _order, first = sell(store)
    _order, second = sell(store)
    slip = store.store_receipt("balance", "Balance", b"\x00\x01")
    assert [r.id for r in store.unprinted_receipts()] == [first.receipt_id, second.receipt_id]
    store.mark_printed(first.receipt_id)
    store.mark_print_failed(second.receipt_id, "paper out")
    assert [(r.id, r.print_error) for r in store.unprinted_receipts()] == [(second.receipt_id, "paper out")]
    assert store.last_receipt().id == second.receipt_id and store.receipt(slip).escpos == b"\x00\x01"
    store.record("drawer_opened", {"why": "no sale", "amount": 0, "nested": {"a": [1, 2]}})
    assert store.events()[-1]["detail"] == {"why": "no sale", "amount": 0, "nested": {"a": [1, 2]}}


def test_a_till_reads_and_settles_only_its_own_rows(make_store: Callable[..., Any]) -> None:
    one, two, other_outlet = make_store("o", "1"), make_store("o", "2"), make_store("p", "1")
    op_one, _ref, _t = one.begin_op(provider="eguma", operation="authorize", code="X", currency=CHF)
    op_two, _ref, _t = two.begin_op(provider="eguma", operation="authorize", code="X", currency=CHF)
    assert [o.id for o in one.ops(open_only=True)] == [op_one]
    assert [o.id for o in two.ops(open_only=True)] == [op_two]
    assert other_outlet.ops(open_only=True) == []
    with pytest.raises(JournalError):
        one.finish_op(op_two, OpState.NOT_DONE)  # another till's call in flight is never touched
    with pytest.raises(JournalError):
        one.op(op_two)
    assert two.op(op_two).state == OpState.SENT
    orders = {till: sell(store)[1].number for till, store in (("1", one), ("2", two), ("p", other_outlet))}
    assert orders == {"1": 1, "2": 1, "p": 1}  # numbered per till
    sell(two)
    assert (one.highest_number(), two.highest_number(), other_outlet.highest_number()) == (1, 2, 1)
    assert one.last_receipt().text == "Receipt 1-0001" and two.last_receipt().text == "Receipt 2-0002"
    assert {e["kind"] for e in one.events()} >= {"order_closed"}
    with pytest.raises(JournalError):
        one.load_order(two.last_closed_order_id())


# -- the whole till on each backend ---------------------------------------------------------
@pytest.fixture(params=["sqlite", "server", "forward"])
def till_on(request: pytest.FixtureRequest, write_config: Callable[..., Path]) -> Iterator[tuple[str, Any]]:
    """A till on SQLite, with the store on the server itself (the journal suite's
    PostgreSQL backend under a whole till), or on SQLite forwarding to the server (the app)."""
    body = ""
    if request.param != "sqlite":
        body = f'\n[journal]\nurl = "{request.getfixturevalue("pg_url")}"\n'
    config = load_config(write_config(body))
    till = server_till(config) if request.param == "server" else open_till(config)
    yield request.param, till
    till.journal.close()


async def test_a_till_sells_on_each_backend(till_on: tuple[str, Any]) -> None:
    mode, till = till_on
    assert type(till.journal).__name__ == {"sqlite": "Journal", "server": "PgJournal",
                                           "forward": "ForwardingJournal"}[mode]
    for expected in ("1-0001", "1-0002"):
        till.scan(CROISSANT)
        till.scan(MERLOT)
        outcome = await till.pay_cash(till.order.cash_due)
        assert outcome.closed is not None and outcome.closed.number == expected
        assert (await till.print_receipt(outcome.closed.receipt_id)).ok
    closed = till.journal.load_order(till.journal.last_closed_order_id())
    assert closed.number == "1-0002" and sum(ln.unit_price.minor for ln in closed.lines) == 4050
    assert till.journal.unprinted_receipts() == []
    if mode == "forward":  # and the server gets the same sales
        till.journal.forwarder.wake()
        deadline = time.monotonic() + 15
        while till.journal.backlog():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        import psycopg

        with psycopg.connect(till.config.journal.url) as conn:
            got = conn.execute("SELECT number, status FROM orders ORDER BY id").fetchall()
        assert got == [(1, "closed"), (2, "closed"), (None, "open")]


# -- PostgreSQL only --------------------------------------------------------------------------
def test_the_configuration_never_holds_the_journal_password(write_config: Callable[..., Path]) -> None:
    from pos_app.config import ConfigError

    with pytest.raises(ConfigError, match="password") as refused:
        load_config(write_config('\n[journal]\nurl = "postgresql://pos:s3cretPW@db/pos"\n'))
    assert "s3cretPW" not in str(refused.value) and "postgresql://pos@db/pos" in str(refused.value)
    with pytest.raises(ConfigError, match="password") as refused:
        load_config(write_config('\n[journal]\nurl = "postgresql://pos@db/pos?password=s3cretPW"\n'))
    assert "s3cretPW" not in str(refused.value)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_config(write_config('\n[journal]\nurl = "mysql://pos@db/pos"\n'))
    config = load_config(write_config('\n[journal]\nurl = "postgresql://pos@db:5432/pos"\n'))
    assert config.journal.url == "postgresql://pos@db:5432/pos" and config.journal.statement_timeout_s == 5.0


def test_direct_mode_is_refused_with_what_to_do(write_config: Callable[..., Path]) -> None:
    """The till never writes to the server in its event loop: "direct" mode (every write
    on the server, the screen waiting on the network) is gone, and a configuration that
    still names it says what to do instead of starting something else silently."""
    from pos_app.config import ConfigError

    with pytest.raises(ConfigError, match=r'mode = "direct" is no longer offered.*Remove the line') as refused:
        load_config(write_config('\n[journal]\nurl = "postgresql://pos@db:5432/pos"\nmode = "direct"\n'))
    assert "never stops or freezes" in str(refused.value)
    with pytest.raises(ConfigError, match="mode"):
        load_config(write_config('\n[journal]\nurl = "postgresql://pos@db:5432/pos"\nmode = "fast"\n'))
    config = load_config(write_config('\n[journal]\nurl = "postgresql://pos@db:5432/pos"\nmode = "forward"\n'))
    assert config.journal.mode == "forward"


def test_tills_starting_at_once_migrate_the_server_once(pg_url: str) -> None:
    from pos_app.journal.postgres import PgJournal

    stores: list[Any] = []
    errors: list[BaseException] = []

    def start(till: str) -> None:
        try:
            stores.append(PgJournal(pg_url, "o", till))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(str(n),)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    assert {store.schema_version() for store in stores} == {len(MIGRATIONS)}
    for store in stores:
        store.close()


def test_a_server_journal_of_a_newer_till_is_refused(pg_url: str) -> None:
    import psycopg

    from pos_app.journal.postgres import PgJournal

    PgJournal(pg_url, "o", "1").close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(JournalError, match="newer version"):
        PgJournal(pg_url, "o", "1")


def test_an_unreachable_server_is_said_so_within_the_timeout(pg_server: Any) -> None:
    from pos_app.journal.postgres import PgJournal
    from tests.pgserver import free_port

    started = time.monotonic()
    with pytest.raises(JournalWriteError) as caught:
        PgJournal(f"postgresql://pos@127.0.0.1:{free_port()}/nothing", "o", "1", connect_timeout_s=1,
                  pool_timeout_s=1)
    assert caught.value.reason == "offline" and "cannot be reached" in str(caught.value)
    assert time.monotonic() - started < 5


def test_a_hung_statement_is_cut_by_the_statement_timeout(pg_url: str) -> None:
    """A lock held elsewhere (a hung transaction) does not hold the till: the write fails
    within the timeout, nothing is changed, and the next write goes through."""
    import psycopg

    from pos_app.journal.postgres import PgJournal

    store = PgJournal(pg_url, "o", "1", statement_timeout_s=0.5)
    order_id = store.start_order(CHF)
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("SELECT * FROM orders WHERE id = %s FOR UPDATE", (order_id,))
        started = time.monotonic()
        with pytest.raises(JournalWriteError) as caught:
            store.cancel_order(order_id)
        assert caught.value.reason == "offline" and time.monotonic() - started < 3
    assert store.load_order(order_id).status is OrderStatus.OPEN
    store.cancel_order(order_id)
    assert store.load_order(order_id).status is OrderStatus.CANCELLED
    store.close()


@pytest.mark.parametrize("index", range(len(MIGRATIONS)))
def test_every_migration_is_translated_for_the_server(index: int) -> None:
    """Each migration, written once, becomes statements PostgreSQL takes (here: the
    text; the fixture's servers run them)."""
    from pos_app.journal.postgres import PG_MIGRATIONS, pg_migration, pg_sql

    statements = pg_migration(index)
    if index in PG_MIGRATIONS:  # written for PostgreSQL by hand: run as given
        return
    assert statements and not any("json_object(" in s or " BLOB" in s for s in statements)
    assert all("INTEGER" not in s for s in statements)
    assert pg_sql("SELECT * FROM receipts INDEXED BY receipts_unprinted WHERE a=? AND b LIKE '5%'") == \
        "SELECT * FROM receipts WHERE a=%s AND b LIKE '5%%'"


def test_tills_in_separate_processes_sell_at_once_on_one_server(pg_url: str) -> None:
    """Three processes sell at once: tills 1 and 2, and a second writer on till 2 (the
    row lock on its counter is what keeps the numbers apart). Per till the order
    numbers are unique and gap-free, and every sale is there with its receipt."""
    import json
    import os
    import subprocess
    import sys

    import psycopg

    from pos_app.journal.postgres import PgJournal

    PgJournal(pg_url, "o", "0").close()  # the schema, before the race
    sales = 40
    start_at = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    children = [subprocess.Popen([sys.executable, "-m", "tests.pg_seller", pg_url, "o", till, str(sales),
                                  str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                 cwd=Path(__file__).resolve().parents[1])
                for till in ("1", "2", "2")]
    results = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    by_till: dict[str, list[int]] = {"1": [], "2": []}
    refs: dict[str, list[str]] = {"1": [], "2": []}
    for result in results:
        by_till[result["till"]] += result["numbers"]
        refs[result["till"]] += result["references"]
    assert sorted(by_till["1"]) == list(range(1, sales + 1))
    assert sorted(by_till["2"]) == list(range(1, 2 * sales + 1))  # two writers, no gap, no duplicate
    assert len(set(refs["2"])) == 2 * sales and len(set(refs["1"])) == sales
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT o.till, o.number, r.text, (SELECT SUM(amount_minor) FROM tenders t WHERE t.order_id = o.id),"
            " (SELECT COUNT(*) FROM lines l WHERE l.order_id = o.id) FROM orders o"
            " JOIN receipts r ON r.order_id = o.id AND r.kind = 'sale' WHERE o.status = 'closed'"
            " ORDER BY o.till, o.number").fetchall()
    assert len(rows) == 3 * sales
    assert all(text == f"Receipt {till}-{number:04d}" and lines == 2 for till, number, text, _t, lines in rows)


# -- the password in the keyring, `pos journal init` --------------------------------------------
def test_the_server_password_is_kept_in_the_keyring_and_the_till_uses_it(
        pg_server: Any, write_config: Callable[..., Path], memory_keyring: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    from pos_app import journal_cli, keys_cli

    url = pg_server.password_url(pg_server.create_db().rsplit("/", 1)[1], "s3cret-pass")
    path = write_config(f'\n[journal]\nurl = "{url}"\n')

    def keys(*argv: str, stdin: str = "") -> int:
        sys.stdin = io.StringIO(stdin)
        try:
            return keys_cli.main([*argv, "--config", str(path)])
        finally:
            sys.stdin = sys.__stdin__

    assert keys("set", "--journal", stdin="wrong-password\n") == 1
    assert "refused the password" in capsys.readouterr().err
    with pytest.raises(JournalError, match="keys set --journal"):
        open_till(load_config(path))  # no password in the keyring: the server says no, and how to fix it
    assert keys("set", "--journal", stdin="s3cret-pass\n") == 0
    out = capsys.readouterr().out
    assert "Stored the journal server password" in out and "s3cret" not in out and "accepted" in out
    assert memory_keyring.get_password("pos-app", "test-outlet/journal/password") == "s3cret-pass"
    assert "s3cret" not in path.read_text()

    parser = journal_cli.argparse.ArgumentParser()
    journal_cli.add_journal_parser(parser.add_subparsers(dest="command"))
    assert journal_cli.run_journal(parser.parse_args(["journal", "init", "--config", str(path)])) == 0
    assert f"tables created (schema {len(MIGRATIONS)})" in capsys.readouterr().out
    assert journal_cli.run_journal(parser.parse_args(["journal", "init", "--config", str(path)])) == 0
    assert "already up to date" in capsys.readouterr().out
    till = open_till(load_config(path))  # its first start took its counters from the server, with the password
    try:
        assert type(till.journal).__name__ == "ForwardingJournal" and till.journal.highest_number() == 0
        till.scan(CROISSANT)
        assert asyncio.run(till.pay_cash(till.order.cash_due)).closed is not None
        forwarded(till)  # with the password from the keyring
        assert "s3cret" not in str(till.journal.path) and "s3cret" not in str(till.journal.forwarder.status())
    finally:
        till.journal.close()


def test_the_server_killed_mid_sale_and_restarted(pg_server: Any) -> None:
    """The server dies (SIGKILL) with a sale open: the next step fails at once as
    'offline' and changes nothing; once it is back, the pool reconnects by itself, the
    sale goes on where it was and closes with the next number, nothing lost."""
    from pos_app.journal.postgres import PgJournal
    from tests.pgserver import running_server

    with running_server() as server:
        url = server.create_db()
        store = PgJournal(url, "o", "1", connect_timeout_s=1, pool_timeout_s=2, statement_timeout_s=2)
        sell(store)
        order_id = store.open_order_id()
        store.add_line(order_id, product(250))
        server.kill()
        started = time.monotonic()
        with pytest.raises(JournalWriteError) as caught:
            store.add_line(order_id, product(990))
        assert caught.value.reason == "offline" and time.monotonic() - started < 6
        server.start()
        store.add_line(order_id, product(990))
        closed = store.close_order(order_id, render, tender=cash(1240))
        assert closed.number == 2 and [ln.unit_price.minor for ln in store.load_order(order_id).lines] == [250, 990]
        assert store.highest_number() == 2
        store.close()


def test_a_hung_server_does_not_hold_a_write_for_ever(pg_server: Any) -> None:
    """A server that stops answering (SIGSTOP: still connected, its kernel still
    acknowledging) cannot be cut by its own timeouts: the store's watchdog cuts the
    connection, the write fails as 'offline' within the timeouts and changes nothing,
    and once the server answers again the next write goes through."""
    from pos_app.journal.postgres import PgJournal
    from tests.pgserver import running_server

    with running_server() as server:
        store = PgJournal(server.create_db(), "o", "1", statement_timeout_s=1, connect_timeout_s=1,
                          pool_timeout_s=2)
        order_id = store.start_order(CHF)
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(JournalWriteError) as caught:
                store.add_line(order_id, product())
            took = time.monotonic() - started
        finally:
            server.resume()
        assert caught.value.reason == "offline" and took < 1 + 2 + 2 + 1.5  # statement + grace + pool + slack
        store.add_line(order_id, product(990))
        assert [ln.unit_price.minor for ln in store.load_order(order_id).lines] == [990]
        store.close()


# -- the store report: every till of the outlet (issue 18 with issue 17's figures) ---------------
def test_the_store_report_sums_every_till_of_the_outlet(make_store: Callable[..., Any]) -> None:
    """The same sales give the same figures on SQLite and on the server: every till of
    the outlet, none of another outlet, the storno apart, VAT per order as on the receipt,
    plain integers (the server sums integers as numeric)."""
    from pos_app.journal.reporting import Period

    one, two, other = make_store("o", "1"), make_store("o", "2"), make_store("p", "1")
    sell(one, 2)  # 2.01, VAT 2.6 %: 0.05
    sell(two, 1)  # 1.00: 0.03
    sell(two, 3)  # 3.03: 0.08, voided below
    sell(other, 4)  # another outlet: not in this store's report
    two.void_closed_order(two.last_closed_order_id(), "VOID", b"\x1b@void")
    figures = one.store_report_data(Period(start="2000-01-01T00:00:00", end="2999-01-01T00:00:00"))
    assert figures["sales"]["orders"] == 3 and figures["stornos"]["orders"] == 1
    assert figures["sales"]["vat"] == [["2.6", 604, 16, 6]]  # rate, gross, VAT, lines
    assert figures["stornos"]["vat"] == [["2.6", 303, 8, 3]]
    assert figures["sales"]["tenders"] == [["cash", "", 3, 604, 0]]
    assert all(type(v) is int for row in figures["sales"]["vat"] for v in row[1:])
    assert (figures["undecided"], figures["open_orders"]) == (0, 0)
    assert one.store_report_data(Period(start="2999-01-01T00:00:00", end="2999-01-02T00:00:00"))["sales"] == {
        **figures["sales"], "orders": 0, "vat": [], "tenders": [], "lines": [], "tenders_voided": [0, 0]}


def test_a_migration_may_give_its_own_postgresql_statements(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One written for SQLite only (a trigger) runs on the server as written for it."""
    import psycopg

    from pos_app.journal import postgres, schema

    sqlite_only = "CREATE TRIGGER t AFTER INSERT ON events WHEN NEW.kind = 'x' BEGIN UPDATE events SET kind = 'y'; END"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, sqlite_only])
    monkeypatch.setattr(postgres, "MIGRATIONS", schema.MIGRATIONS)
    function = ("CREATE FUNCTION t_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " UPDATE events SET kind = 'y' WHERE id = NEW.id; RETURN NULL; END $$")
    trigger = "CREATE TRIGGER t AFTER INSERT ON events FOR EACH ROW WHEN (NEW.kind = 'x') EXECUTE FUNCTION t_fn()"
    monkeypatch.setitem(postgres.PG_MIGRATIONS, len(schema.MIGRATIONS) - 1, [function, trigger])
    store = postgres.PgJournal(pg_url, "o", "1")
    store.record("x", {})
    assert store.schema_version() == len(schema.MIGRATIONS) and store.events()[-1]["kind"] == "y"
    store.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(schema.MIGRATIONS)

