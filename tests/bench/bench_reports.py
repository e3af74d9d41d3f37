"""Benchmark of the day close: a Z report over 100,000 closed orders. Not a test: it
prints figures (``python3 tasks.py bench`` runs it).

    python3 tests/bench/bench_reports.py            100,000 orders (target: Z <= 300 ms)
    python3 tests/bench/bench_reports.py --quick    2,000 orders (the smoke test's)

The journal is a real one (``Journal``: the schema and its migrations, WAL,
synchronous=FULL), filled by direct inserts in one transaction: per order three
product lines at two VAT rates, a cash or card payment, every tenth order a gift
voucher sold and a voucher payment, every hundredth voided (storno) and every
fiftieth cancelled, with the events the till writes (started, numbered, closed,
receipt printed). Timed: the X report (median of 5: the same sums, nothing closed)
and then the Z report, each from the journal's running totals (kept by triggers as
orders close, schema migration 7) to the stored report with its rendered receipt.
Then the Z's figures are summed again from the orders' own rows of its period and
must be the same (that takes longer: it reads every line).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ROOT = Path(__file__).resolve().parents[2]

X_ROW = "X report over the day's orders (median of 5)"
Z_ROW = "Z report over the day's orders"
ROWS = [X_ROW, Z_ROW]
TARGET_MS = 300.0
AT = "2026-12-01T09:00:00.000+00:00"


def fill(path: Path, orders: int) -> None:
    """A journal with ``orders`` closed orders of till 1 at outlet "bench"."""
    import sqlite3

    from pos_app.journal import Journal

    Journal(path, "bench", "1").close()  # created with its schema
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    lines, tenders, events = [], [], []
    order_rows = []
    line_id = tender_id = 0
    for n in range(1, orders + 1):
        status = "cancelled" if n % 50 == 0 else "closed"
        order_rows.append((n, "bench", "1", "CHF", status, n, AT, AT, AT if n % 100 == 1 else None))
        total = 0
        for ean, price, rate, qty in (("7610000000011", 1490, "2.6", 1), ("7610000000028", 250, "2.6", 1 + n % 3),
                                      ("7610000000035", 3800, "8.1", 1)):
            line_id += 1
            lines.append((line_id, n, "product", ean, "Item", qty, price, rate, AT, None, None))
            total += qty * price
        if n % 10 == 0:
            line_id += 1
            lines.append((line_id, n, "gift_voucher", "EADSHD24AKS5", "Gift voucher", 1, 5000, "0", AT,
                          "EADSHD24AKS5", "eguma"))
            tender_id += 1
            tenders.append((tender_id, n, "voucher", "captured", 1000, AT, "eguma"))
            total += 5000 - 1000
        tender_id += 1
        tenders.append((tender_id, n, "cash" if n % 2 else "card", "captured", total, AT, None))
        events += [("bench", "1", AT, n, "order_started"), ("bench", "1", AT, n, "order_numbered"),
                   ("bench", "1", AT, n, "order_cancelled" if status == "cancelled" else "order_closed"),
                   ("bench", "1", AT, None, "receipt_printed")]
        if n % 100 == 1:
            events.append(("bench", "1", AT, n, "order_voided"))
    db.executemany("INSERT INTO orders (id, outlet, till, currency, status, number, opened_at, ended_at, voided_at)"
                   " VALUES (?,?,?,?,?,?,?,?,?)", order_rows)
    db.executemany("INSERT INTO lines (id, order_id, kind, ean, name, quantity, unit_minor, vat_rate, added_at,"
                   " code, provider) VALUES (?,?,?,?,?,?,?,?,?,?,?)", lines)
    db.executemany("INSERT INTO tenders (id, order_id, kind, state, amount_minor, added_at, provider)"
                   " VALUES (?,?,?,?,?,?,?)", tenders)
    db.executemany("INSERT INTO events (outlet, till, at, order_id, kind) VALUES (?,?,?,?,?)", events)
    db.execute("INSERT INTO sequences VALUES ('bench', '1', 'order_number', ?)", (orders,))
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def measure(orders: int) -> tuple[list[float], float, int, float]:
    from pos_app.config import load_config
    from pos_app.journal import Journal
    from pos_app.receipts import load_templates
    from pos_app.journal.reporting import Period
    from pos_app.services.reports import ReportDesk, build_figures

    config = load_config(ROOT / "config" / "demo.toml")
    path = Path(os.environ["POS_DATA_DIR"]) / "bench.sqlite"
    fill(path, orders)
    journal = Journal(path, "bench", "1")
    try:
        templates = load_templates(config.receipts, config.printer.width, config.printer.codepage)
        desk = ReportDesk(config, journal, templates,
                          lambda r: r.escpos(config.printer.profile, config.printer.codepage))
        xs = []
        for _ in range(5):
            started = time.perf_counter()
            made = desk.x_report()
            xs.append((time.perf_counter() - started) * 1000)
        assert made.figures["sales"]["orders"] == orders - orders // 50
        started = time.perf_counter()
        z = desk.z_report()
        z_ms = (time.perf_counter() - started) * 1000
        # the running totals against the orders' own rows of the Z's period
        started = time.perf_counter()
        rows = journal.report_data(Period(after=z.record.from_event, upto=z.record.to_event))
        again = build_figures(rows, currency=z.figures["currency"], kind="Z", number=z.record.number,
                              period_from=z.figures["period_from"], period_to=z.figures["period_to"])
        rows_ms = (time.perf_counter() - started) * 1000
        assert again == z.figures, "the Z's running totals differ from its rows"
        return xs, z_ms, z.figures["sales"]["orders"], rows_ms
    finally:
        journal.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 orders instead of 100,000")
    args = parser.parse_args(argv)
    orders = 2_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as data:
        os.environ["POS_DATA_DIR"] = data
        started = time.perf_counter()
        xs, z_ms, closed, rows_ms = measure(orders)
        total = time.perf_counter() - started
    x_ms = statistics.median(xs)
    print()
    print("| measure | figure | target | met? |")
    print("|---|---|---|---|")
    print(f"| {X_ROW} | {x_ms:.0f} ms | {TARGET_MS:.0f} ms | {'yes' if x_ms <= TARGET_MS else 'NO'} |")
    print(f"| {Z_ROW} | {z_ms:.0f} ms | {TARGET_MS:.0f} ms | {'yes' if z_ms <= TARGET_MS else 'NO'} |")
    print()
    print(f"{orders:,} orders ({closed:,} closed, {orders // 100:,} voided, {orders // 50:,} cancelled); "
          f"X runs {', '.join(f'{x:.0f}' for x in xs)} ms; fill and measure {total:.1f} s")
    print(f"The Z's figures re-derived from the orders' own rows (the cross-check): the same, in {rows_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
