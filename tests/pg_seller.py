"""A till selling on a PostgreSQL journal, as its own process (the concurrency test).

``python -m tests.pg_seller URL OUTLET TILL SALES START_AT [LOCAL]``: waits until the
wall clock reaches START_AT (so every process starts selling at once), then
makes SALES cash sales of two lines, each with a provider operation, and
prints one JSON line: the order numbers it closed and the references it drew.
With LOCAL (a SQLite file) it journals there and forwards to the server every 5 sales.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal

from pos_app.domain.money import Money
from pos_app.domain.order import Line, Tender, TenderKind
from pos_app.journal.postgres import PgJournal


def main(url: str, outlet: str, till: str, sales: int, start_at: float, local: str | None = None) -> None:
    """``local``: a SQLite journal that forwards to the server (forward mode), every 5 sales."""
    forwarder = None
    if local is None:
        store = PgJournal(url, outlet, till, statement_timeout_s=30)
    else:
        from pathlib import Path

        from pos_app.journal.forward import Forwarder, ForwardingJournal, replay_store

        store = ForwardingJournal(Path(local), outlet, till)
        forwarder = Forwarder(store, lambda: replay_store(url, outlet, till, statement_timeout_s=30))
    time.sleep(max(0.0, start_at - time.time()))
    numbers: list[int] = []
    references: list[str] = []
    for index in range(sales):
        order_id = store.start_order("CHF")
        for minor in (250, 100 + index):
            store.add_line(order_id, Line(id=0, ean="7610000000028", name="Croissant", quantity=1,
                                          unit_price=Money(minor, "CHF"), vat_rate=Decimal("2.6")))
        op_id, reference, _tender = store.begin_op(provider="eguma", operation="authorize", code=f"C{index}",
                                                   currency="CHF", order_id=order_id)
        store.finish_op(op_id, "failed", error="declined")
        references.append(reference)
        total = 350 + index
        closed = store.close_order(
            order_id, lambda number: (f"Receipt {number}", number.encode()),
            tender=Tender(id=0, kind=TenderKind.CASH, amount=Money(total, "CHF")))
        numbers.append(closed.number)
        if forwarder is not None and index % 5 == 4:
            forwarder.forward()
    if forwarder is not None:
        forwarder.forward()
        forwarder.stop()
    store.close()
    print(json.dumps({"till": till, "numbers": numbers, "references": references}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
         sys.argv[6] if len(sys.argv) > 6 else None)
