"""Journals of N closed orders, generated through the store.

The model sale is made once through the services (3 lines, cash, receipt
printed) on a scratch journal; its lines, its tender and its receipt (text
and ESC/POS bytes, the number put in) are then written N times through the
store's own calls: ``start_order``, ``add_line`` x3, ``add_tender``,
``close_order`` (numbered, receipt stored), ``mark_printed``. The schema,
rows, events and the last-number file are the store's.

Fast path: the store's calls run inside one SQLite transaction per 2,000
orders (the store's per-call transaction is joined to the batch's, and the
last-number file is written once at the end). Should the store's internals
have changed so that this no longer fits, every call commits on its own with
``synchronous=OFF`` (slower, same rows). Either way the result is checked by
counting the closed orders with a separate connection.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.bench.common import SALE_CODES, write_config

OUTLET, TILL = "bench", "1"
BATCH = 2000


@dataclass
class Model:
    lines: list[Any]
    tenders: list[Any]
    text: str
    escpos: bytes
    number: str
    currency: str


def model_sale(folder: Path) -> Model:
    """One real 3-line cash sale through the services; its rows are the model."""
    from pos_app.config import load_config
    from pos_app.services.setup import open_till

    till = open_till(load_config(write_config(folder, journal=folder / "model.sqlite")))
    try:
        for code in SALE_CODES:
            till.scan(code)
        order_id = till.order_id
        outcome = asyncio.run(till.pay_cash(till.order.cash_due))
        assert outcome.closed is not None, outcome
        asyncio.run(till.print_receipt(outcome.closed.receipt_id))
        order = till.journal.load_order(order_id)
        receipt = till.journal.receipt(outcome.closed.receipt_id)
        return Model([replace(line, id=0) for line in order.lines],
                     [replace(tender, id=0) for tender in order.tenders],
                     receipt.text, receipt.escpos, outcome.closed.number, order.currency)
    finally:
        till.journal.close()


def journal_files(path: Path) -> list[Path]:
    from pos_app.journal.store import last_number_path, wal_files

    return [path, *wal_files(path), last_number_path(path)]


def copy_journal(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for src, dst in zip(journal_files(source), journal_files(target), strict=True):
        if src.exists():
            shutil.copy2(src, dst)
        else:
            dst.unlink(missing_ok=True)


def closed_orders(path: Path) -> int:
    """Counted by a connection of its own, closed at once (the last connection to close
    folds the write-ahead log into the file and removes it, as a till's clean end does)."""
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders WHERE status='closed'").fetchone()[0])


@contextmanager
def batched(journal: Any) -> Iterator[Callable[[], None]]:
    """The store's calls join one open transaction; yields ``commit()`` for a batch."""
    from pos_app.journal import store

    db = journal._db
    highest = [0]
    remember = journal._remember

    @contextmanager
    def joined() -> Iterator[Any]:
        yield store._Tx(db, journal.outlet, journal.till)

    journal._tx = joined
    journal._remember = lambda number: highest.__setitem__(0, max(highest[0], number))
    db.execute("BEGIN IMMEDIATE")

    def commit() -> None:
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")

    try:
        yield commit
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        del journal._tx, journal._remember
    if highest[0]:
        remember(highest[0])


def _write_orders(journal: Any, model: Model, count: int, commit: Callable[[], None] | None,
                  progress: Callable[[int], None] | None) -> None:
    def render(number: str) -> tuple[str, bytes]:
        return model.text.replace(model.number, number), model.escpos

    for index in range(1, count + 1):
        order_id = journal.start_order(model.currency)
        for line in model.lines:
            journal.add_line(order_id, line)
        for tender in model.tenders:
            journal.add_tender(order_id, tender)
        closed = journal.close_order(order_id, render)
        # (number, receipt id) before the store's ClosedOrder
        journal.mark_printed(closed.receipt_id if hasattr(closed, "receipt_id") else closed[1])
        if index % BATCH == 0:
            if commit is not None:
                commit()
            if progress is not None:
                progress(index)


def add_orders(path: Path, model: Model, count: int, progress: Callable[[int], None] | None = None) -> str:
    """Add ``count`` closed orders to the journal at ``path`` (created if missing).
    Returns how: "batched" or "one commit per call"."""
    from pos_app.journal import Journal

    before = closed_orders(path) if path.exists() else 0
    journal = Journal(path, OUTLET, TILL)
    how = "batched"
    try:
        if count:
            try:
                with batched(journal) as commit:
                    _write_orders(journal, model, count, commit, progress)
            except (AttributeError, TypeError) as exc:  # the store's internals moved: the slow way
                print(f"bench: batching does not fit the store ({exc}); one commit per call", file=sys.stderr)
                how = "one commit per call (synchronous=OFF)"
                done = closed_orders(path) - before
                db = getattr(journal, "_db", None)
                if db is not None:
                    db.execute("PRAGMA synchronous=OFF")
                _write_orders(journal, model, count - done, None, progress)
    finally:
        journal.close()
    found = closed_orders(path) - before
    if found != count:
        raise RuntimeError(f"{path}: {found} closed orders written, {count} wanted")
    wal = journal_files(path)[1]
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{wal} is left behind: the journal was not closed cleanly")
    return how


def generate(folder: Path, sizes: list[int], log: Callable[[str], None]) -> tuple[dict[int, Path], str]:
    """Journals with each of ``sizes`` closed orders under ``folder`` (each one built
    on a copy of the next smaller). Returns their paths and how they were written."""
    import time

    model = model_sale(folder / "model")
    paths: dict[int, Path] = {}
    previous: Path | None = None
    previous_size = 0
    how = "batched"
    for size in sorted(sizes):
        path = folder / f"orders-{size}" / "journal.sqlite"
        if previous is not None:
            copy_journal(previous, path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        how = add_orders(path, model, size - previous_size)
        log(f"journal of {size:,} closed orders: {path.stat().st_size / 2**20:.0f} MiB, "
            f"written in {time.perf_counter() - started:.1f} s")
        paths[size] = path
        previous, previous_size = path, size
    return paths, how
