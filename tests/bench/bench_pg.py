"""Benchmark of the PostgreSQL journal (issue 18). Not a test: it prints figures.

    python3 tasks.py bench              every benchmark, this one included
    python3 tests/bench/bench_pg.py     this one (--quick: a tiny run of every measure)

It starts its own PostgreSQL server from the machine's binaries (as the
tests do, tests/pgserver.py); without them it says so and prints no table.

* forwarding: a till's outbox of N journaled operations (an outage) replayed
  on the server, operations per second;
* one sale's close (a 3-line cash sale: the close with its payment, receipt
  and the next order, one transaction) on the server (PgJournal, the store the forwarder replays through) against
  SQLite, as a ratio measured in the same run;
* the store report (``pos report store``: every till of the outlet, summed on
  the server) over a day of 4 tills x 100,000 orders;
* the store Z (``pos report store-z``) over the same day: each till's Z (its
  figures summed on the server, as the till sums its own) filed, then the store
  Z adding them up and naming the tills that sold after their Z.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pos_app.domain.money import Money
from pos_app.domain.order import Line, Tender, TenderKind
from pos_app.journal import Journal

FORWARD = "Forwarding {n} journaled operations after an outage"
CLOSE = "One 3-line cash sale's close, PostgreSQL / SQLite"
ZREPORT = "Store report (all tills) over 4 tills x {n} orders"
STOREZ = "Store Z (adds up 4 till Z reports) over 4 tills x {n} orders"


def row(measure: str, figure: str, target: str = "none set (issue 18)", met: str = "-") -> str:
    return f"| {measure} | {figure} | {target} | {met} |"


def line(minor: int) -> Line:
    return Line(id=0, ean="7610000000028", name="Croissant", quantity=1, unit_price=Money(minor, "CHF"),
                vat_rate=Decimal("2.6"))


def close_times(store: object, sales: int) -> list[float]:
    """Seconds per close_order of a 3-line cash sale (lines added before the clock starts)."""
    times = []
    order_id = store.start_order("CHF")  # type: ignore[attr-defined]
    for _ in range(sales):
        for minor in (250, 390, 1490):
            store.add_line(order_id, line(minor))  # type: ignore[attr-defined]
        started = time.perf_counter()
        closed = store.close_order(order_id, lambda n: (n, n.encode()),  # type: ignore[attr-defined]
                                   tender=Tender(id=0, kind=TenderKind.CASH, amount=Money(2130, "CHF")),
                                   next_order="CHF")
        times.append(time.perf_counter() - started)
        order_id = closed.next_order_id
    return times


def bench_forward(url: str, folder: Path, n: int) -> str:
    from pos_app.journal.forward import Forwarder, ForwardingJournal, replay_store

    local = ForwardingJournal(folder / "forward.sqlite", "b", "1")
    order_id = local.start_order("CHF")
    for index in range(n - 1):
        if index % 10 == 9:
            local.add_line(order_id, line(100 + index))
        else:
            local.record("no_sale", {"index": index})
    forwarder = Forwarder(local, lambda: replay_store(url, "b", "1"), batch=1000)
    started = time.perf_counter()
    done = forwarder.forward()
    took = time.perf_counter() - started
    assert done == n and local.backlog() == 0, (done, local.backlog())
    forwarder.stop()
    local.close()
    return f"{took:.1f} s ({n / took:,.0f} operations/s)"


def bench_close(url: str, folder: Path, sales: int) -> tuple[str, str]:
    from pos_app.journal.postgres import PgJournal

    sqlite = Journal(folder / "close.sqlite", "b", "2")
    server = PgJournal(url, "b", "2")
    close_times(sqlite, 3)  # warm-up
    close_times(server, 3)
    lite = statistics.median(close_times(sqlite, sales))
    pg = statistics.median(close_times(server, sales))
    sqlite.close()
    server.close()
    return f"{pg / lite:.2f}x", f"median PostgreSQL {pg * 1000:.2f} ms, SQLite {lite * 1000:.2f} ms ({sales} sales)"


def bench_zreport(url: str, n: int) -> str:
    """``pos report store`` over one day of 4 tills x ``n`` orders (each a line and a
    payment, closed): the store report's own code (``PgJournal.store_report_data``, the
    report SQL summed on the server), not a query of its own."""
    import psycopg

    from pos_app.journal.postgres import PgJournal
    from pos_app.journal.reporting import Period

    PgJournal(url, "z", "0").close()  # the schema
    with psycopg.connect(url) as conn:
        for till in ("1", "2", "3", "4"):
            conn.execute(
                "INSERT INTO orders (outlet, till, currency, status, number, opened_at, ended_at)"
                " SELECT 'z', %s, 'CHF', 'closed', g, '2026-12-02T08:00:00', '2026-12-02T08:01:00'"
                " FROM generate_series(1, %s) g", (till, n))
        conn.execute(
            "INSERT INTO lines (order_id, kind, ean, name, quantity, unit_minor, vat_rate, added_at)"
            " SELECT id, 'product', '7610000000028', 'Croissant', 1, 100 + id % 5000,"
            " CASE WHEN id % 2 = 0 THEN '2.6' ELSE '8.1' END, '2026-12-02T08:00:30' FROM orders WHERE outlet = 'z'")
        conn.execute(
            "INSERT INTO tenders (order_id, kind, state, amount_minor, added_at)"
            " SELECT id, CASE WHEN id % 3 = 0 THEN 'card' ELSE 'cash' END, 'captured', 100 + id % 5000,"
            " '2026-12-02T08:01:00' FROM orders WHERE outlet = 'z'")
        conn.execute(
            "INSERT INTO events (at, order_id, kind, outlet, till)"
            " SELECT '2026-12-02T08:01:00', id, 'order_closed', outlet, till FROM orders WHERE outlet = 'z'")
        conn.execute("INSERT INTO sequences (outlet, till, name, value) SELECT 'z', t, 'order_number', %s"
                     " FROM unnest(ARRAY['1', '2', '3', '4']) t", (n,))
        conn.execute("ANALYZE")
        conn.commit()
    store = PgJournal(url, "z", "1", statement_timeout_s=120)
    day = Period(start="2026-12-02T00:00:00", end="2026-12-03T00:00:00")
    times = []
    try:
        for _ in range(5):
            started = time.perf_counter()
            rows = store.store_report_data(day)
            times.append(time.perf_counter() - started)
        assert rows["sales"]["orders"] == 4 * n, rows["sales"]["orders"]
        store_z = bench_store_z(url, store, day, n)
    finally:
        store.close()
    return f"{statistics.median(times) * 1000:.0f} ms (median of 5)", store_z


def bench_store_z(url: str, store: object, day: object, n: int) -> str:
    """Each of the 4 tills files its Z of the day (figures summed on the server from its
    rows), then ``close_store_day`` adds them up; 5 rounds (a new Z of each till per
    round, the later ones empty), the store Z's own time."""
    import json

    import psycopg

    from pos_app.journal.postgres import PgJournal
    from pos_app.services.reports import build_figures, store_z_figures

    tills = {till: PgJournal(url, "z", till, statement_timeout_s=120) for till in ("1", "2", "3", "4")}
    times, first = [], None
    try:
        for number in range(1, 6):
            with psycopg.connect(url) as conn:
                for till, journal in tills.items():
                    raw = journal.report_data(day) if number == 1 else journal.report_data(
                        type(day)(start="2000-01-01", end="2000-01-02"))
                    figures = build_figures(raw, currency="CHF", kind="Z", number=number,
                                            period_from="2026-12-02T00:00:00", period_to=f"2026-12-02T2{number}:00:00",
                                            issuer_names=frozenset())
                    conn.execute("INSERT INTO till_z_reports (outlet, till, number, period_from, period_to, figures)"
                                 " VALUES ('z', %s, %s, %s, %s, %s)", (till, number, figures["period_from"],
                                                                       figures["period_to"], json.dumps(figures)))
            started = time.perf_counter()
            record = store.close_store_day(  # type: ignore[attr-defined]
                lambda num, open_day: json.dumps(store_z_figures(num, "CHF", open_day["open"], open_day["not_closed"])))
            times.append(time.perf_counter() - started)
            first = first or json.loads(record.figures)
    finally:
        for journal in tills.values():
            journal.close()
    assert first is not None and first["sales"]["orders"] == 4 * n and first["not_closed"] == {}, first["not_closed"]
    return f"{statistics.median(times) * 1000:.0f} ms (median of 5)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run of every measure")
    args, _rest = parser.parse_known_args()
    from tests.pgserver import SKIP_REASON, find_bindir, running_server

    if find_bindir() is None:
        print(f"bench_pg: skipped: {SKIP_REASON}")
        return 0
    forward_n, sales, orders = (500, 20, 1_000) if args.quick else (10_000, 300, 100_000)
    with running_server() as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"bench_pg: PostgreSQL server {server.bindir} on port {server.port}", file=sys.stderr)
        forward = bench_forward(server.create_db(), folder, forward_n)
        ratio, detail = bench_close(server.create_db(), folder, sales)
        zreport, store_z = bench_zreport(server.create_db(), orders)
    print("| Measure | Figure | Target | Met? |")
    print(row(FORWARD.format(n=f"{forward_n:,}"), forward))
    print(row(CLOSE, ratio))
    print(row(ZREPORT.format(n=f"{orders:,}"), zreport))
    print(row(STOREZ.format(n=f"{orders:,}"), store_z))
    print()
    print(f"- close: {detail}; the server on 127.0.0.1 with fsync=off (the test server), SQLite with "
          "synchronous=FULL on the local disk: the ratio is the round trips' cost, not the disks'.")
    print("- forwarding: one server transaction per 1,000 operations, a savepoint each; includes connecting.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
