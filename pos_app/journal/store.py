"""SQLite journal: WAL, ``synchronous=FULL``, one explicit transaction per change.

Every change to an order is committed here *before* the till shows it, so a
till killed at any moment comes back with the order exactly as the cashier
last saw it. Orders are read back from these rows (the journal is the
source of truth, the in-memory order is derived from it).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pos_app.domain.money import Money
from pos_app.domain.order import (
    Line,
    LineKind,
    Order,
    OrderStatus,
    Tender,
    TenderKind,
    TenderState,
)
from pos_app.journal.schema import MIGRATIONS


class JournalError(RuntimeError):
    """The journal cannot be used; the message says what to do."""


class OpState:
    """States of a provider operation row."""

    SENT = "sent"  # intent committed, request (maybe) on its way
    OK = "ok"  # provider answered: done
    FAILED = "failed"  # provider answered or could not be reached: not done
    UNKNOWN = "unknown"  # sent, no usable answer: must be reconciled
    DONE = "done"  # was unknown, reconciliation found it happened
    NOT_DONE = "not_done"  # was unknown, reconciliation found it did not happen

    OPEN = (SENT, UNKNOWN)


@dataclass(frozen=True, slots=True)
class OpRecord:
    id: int
    reference: str
    order_id: int | None
    tender_id: int | None
    line_id: int | None
    provider: str
    operation: str
    code: str
    amount: Money | None
    balance_before: Money | None
    state: str
    token: str | None
    result: dict[str, Any]
    error: str | None
    sent_at: str
    ended_at: str | None


# Columns of ``tenders`` a provider outcome may change, with their encoders.
_TENDER_FIELDS = {
    "state": lambda v: v.value,
    "token": lambda v: v,
    "balance_after": lambda v: None if v is None else v.minor,
    "problem": lambda v: v,
}


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    id: int
    order_id: int | None
    kind: str
    text: str
    escpos: bytes
    created_at: str
    printed_at: str | None
    print_error: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money(minor, currency)


SQLITE_HEADER = b"SQLite format 3\x00"
CREATING_SUFFIX = ".creating"  # a new journal is built under this name, then linked into place


def _damaged(path: Path, why: str) -> str:
    return (f"the journal {path} is damaged ({why}). Do not delete it: it holds the till's sales. "
            "Copy it aside and contact support.")


def _tables(version: int) -> list[str]:
    """The tables a journal at schema ``version`` has."""
    return [name for script in MIGRATIONS[:version]
            for name in re.findall(r"CREATE TABLE (\w+)", script)]


def _configure(db: sqlite3.Connection, path: Path) -> None:
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    sync = db.execute("PRAGMA synchronous").fetchone()[0]
    if str(mode).lower() != "wal" or sync != 2:
        raise JournalError(
            f"the journal {path} cannot run in WAL mode with synchronous=FULL "
            f"(got journal_mode={mode}, synchronous={sync}); put it on a local disk"
        )


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Apply the migrations after ``version``, each in its own transaction."""
    for index in range(version, len(MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            _Tx(db).executescript_in_tx(MIGRATIONS[index])
            db.execute(f"PRAGMA user_version={index + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path) -> None:
    """A new, empty journal at ``path``, which must not exist.

    It is built under a temporary name and appears at ``path`` only with its
    whole schema: a till killed while creating it leaves no half-made
    journal behind, so any file found at ``path`` later must be a journal,
    and one that is not (empty, foreign, truncated) stops the till instead
    of silently starting over at order 1-0001. A journal some other process
    created meanwhile is kept (hard link: never replaces a file).
    """
    temp = path.with_name(path.name + CREATING_SUFFIX)
    leftovers = [temp, temp.with_name(temp.name + "-wal"), temp.with_name(temp.name + "-shm")]
    for leftover in leftovers:  # of a till killed while creating: never a journal with sales
        leftover.unlink(missing_ok=True)
    db = sqlite3.connect(temp, isolation_level=None)
    try:
        _configure(db, path)
        _migrate(db, 0)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()  # the last connection: the WAL is checkpointed into the file and removed
    try:
        if leftovers[1].exists() and leftovers[1].stat().st_size:
            raise JournalError(f"cannot create the journal {path}: SQLite kept its write-ahead log")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # created by another process meanwhile: that one is opened and checked
        except OSError:  # no hard links on this file system
            if not os.path.lexists(path):
                os.rename(temp, path)
        _fsync_folder(path.parent)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)


def _check_file(path: Path) -> None:
    """JournalError unless the existing ``path`` starts like a SQLite database."""
    if path.is_dir():
        raise JournalError(f"cannot open the journal {path}: it is a folder")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if not head:
        raise JournalError(
            f"the journal {path} is damaged (the file is empty). Do not delete it: the till would "
            "start a new journal and number orders from 1 again. Copy it aside, look for the "
            "journal's backup and contact support."
        )
    if head != SQLITE_HEADER:
        raise JournalError(_damaged(path, "it is not a SQLite database"))


class Journal:
    """The journal at ``path``: created when no file is there, else opened and
    checked. An existing file that is not a journal of this till (empty, not
    SQLite, without the journal's tables, failing SQLite's quick_check)
    raises JournalError and is left as it was."""

    def __init__(self, path: Path, outlet: str, till: str) -> None:
        self.path = path
        self.outlet = outlet
        self.till = till
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(path):
                _create(path)
            _check_file(path)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except JournalError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal {path}: {exc}") from None
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JournalError(_damaged(path, str(exc))) from None
        except BaseException:
            self._db.close()
            raise

    # -- set-up ---------------------------------------------------------------
    def _setup(self) -> None:
        """Check the journal before anything is written to it, then upgrade its schema."""
        db = self._db
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise JournalError(
                f"the journal {self.path} was written by a newer version of the till "
                f"(schema {version}); update the till software"
            )
        present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0:
            raise JournalError(_damaged(self.path, "a SQLite database without the journal's tables"))
        missing = [name for name in _tables(version) if name not in present]
        if missing:
            raise JournalError(_damaged(self.path, f"its table {missing[0]!r} is missing"))
        _configure(db, self.path)
        with self._lock:
            _migrate(db, version)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def pragma(self, name: str) -> Any:
        return self._query(f"PRAGMA {name}")[0][0]

    # -- orders ---------------------------------------------------------------
    def open_order_id(self) -> int | None:
        rows = self._query(
            "SELECT id FROM orders WHERE outlet=? AND till=? AND status='open' ORDER BY id",
            (self.outlet, self.till),
        )
        return rows[-1]["id"] if rows else None

    def start_order(self, currency: str) -> int:
        with self._tx() as tx:
            order_id = tx.insert(
                "INSERT INTO orders (outlet, till, currency, status, opened_at) VALUES (?,?,?,?,?)",
                (self.outlet, self.till, currency, OrderStatus.OPEN.value, _now()),
            )
            tx.event(order_id, "order_started", {})
        return order_id

    def next_number(self) -> int:
        rows = self._query(
            "SELECT COALESCE(MAX(number), 0) + 1 AS n FROM orders WHERE outlet=? AND till=?",
            (self.outlet, self.till),
        )
        return int(rows[0]["n"])

    def load_order(self, order_id: int) -> Order:
        rows = self._query("SELECT * FROM orders WHERE id=?", (order_id,))
        if not rows:
            raise JournalError(f"order {order_id} is not in the journal")
        row = rows[0]
        currency = row["currency"]
        order = Order(
            id=row["id"],
            currency=currency,
            status=OrderStatus(row["status"]),
            number=self.format_number(row["number"]) if row["number"] is not None else None,
        )
        for r in self._query("SELECT * FROM lines WHERE order_id=? ORDER BY id", (order_id,)):
            order.lines.append(
                Line(
                    id=r["id"],
                    ean=r["ean"],
                    name=r["name"],
                    quantity=r["quantity"],
                    unit_price=Money(r["unit_minor"], currency),
                    vat_rate=Decimal(r["vat_rate"]),
                    kind=LineKind(r["kind"]),
                    voided=r["voided_at"] is not None,
                    code=r["code"],
                    provider=r["provider"],
                    free_amount=bool(r["free_amount"]),
                    activated=r["activated_at"] is not None,
                    problem=r["problem"],
                )
            )
        for r in self._query("SELECT * FROM tenders WHERE order_id=? ORDER BY id", (order_id,)):
            order.tenders.append(
                Tender(
                    id=r["id"],
                    kind=TenderKind(r["kind"]),
                    amount=Money(r["amount_minor"], currency),
                    given=_money(r["given_minor"], currency),
                    change=_money(r["change_minor"], currency),
                    rounding=_money(r["rounding_minor"], currency),
                    state=TenderState(r["state"]),
                    code=r["code"],
                    voided=r["voided_at"] is not None,
                    provider=r["provider"],
                    token=r["token"],
                    balance_after=_money(r["balance_after_minor"], currency),
                    problem=r["problem"],
                )
            )
        return order

    def format_number(self, number: int) -> str:
        return f"{self.till}-{number:04d}"

    def add_line(self, order_id: int, line: Line) -> int:
        with self._tx() as tx:
            line_id = tx.insert(
                "INSERT INTO lines (order_id, kind, ean, name, quantity, unit_minor, vat_rate, code,"
                " provider, free_amount, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    order_id,
                    line.kind.value,
                    line.ean,
                    line.name,
                    line.quantity,
                    line.unit_price.minor,
                    str(line.vat_rate),
                    line.code,
                    line.provider,
                    int(line.free_amount),
                    _now(),
                ),
            )
            tx.event(order_id, "line_added", {"line": line_id, "ean": line.ean, "qty": line.quantity,
                                              "unit": line.unit_price.minor, "code": line.code})
        return line_id

    def void_line(self, order_id: int, line_id: int) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE lines SET voided_at=? WHERE id=? AND order_id=? AND voided_at IS NULL",
                (_now(), line_id, order_id),
            )
            tx.event(order_id, "line_voided", {"line": line_id})

    def add_tender(self, order_id: int, tender: Tender) -> int:
        def minor(m: Money | None) -> int | None:
            return None if m is None else m.minor

        with self._tx() as tx:
            return self._insert_tender(tx, order_id, tender)

    def _insert_tender(self, tx: _Tx, order_id: int, tender: Tender) -> int:
        def minor(m: Money | None) -> int | None:
            return None if m is None else m.minor

        tender_id = tx.insert(
            "INSERT INTO tenders (order_id, kind, state, amount_minor, given_minor, change_minor,"
            " rounding_minor, code, provider, token, balance_after_minor, added_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order_id,
                tender.kind.value,
                tender.state.value,
                tender.amount.minor,
                minor(tender.given),
                minor(tender.change),
                minor(tender.rounding),
                tender.code,
                tender.provider,
                tender.token,
                minor(tender.balance_after),
                _now(),
            ),
        )
        tx.event(order_id, "tender_added", {"tender": tender_id, "kind": tender.kind.value,
                                            "amount": tender.amount.minor, "state": tender.state.value,
                                            "code": tender.code})
        return tender_id

    # -- provider operations: intent before the request, outcome after ----------
    def begin_op(
        self,
        *,
        provider: str,
        operation: str,
        code: str,
        currency: str,
        amount: Money | None = None,
        balance_before: Money | None = None,
        order_id: int | None = None,
        tender_id: int | None = None,
        line_id: int | None = None,
        new_tender: Tender | None = None,
    ) -> tuple[int, str, int | None]:
        """Commit the intent of a provider call (state ``sent``) before it is made.

        With ``new_tender`` the tender the call creates is inserted in the same
        transaction (state pending), so a crash right after leaves both.
        Returns (op id, our reference, tender id).
        """
        with self._tx() as tx:
            if new_tender is not None:
                assert order_id is not None
                tender_id = self._insert_tender(tx, order_id, new_tender)
            op_id = int(tx.one("SELECT COALESCE(MAX(id), 0) + 1 FROM provider_ops"))
            reference = f"{self.outlet}-{self.till}-{op_id:06d}"
            tx.execute(
                "INSERT INTO provider_ops (id, reference, order_id, tender_id, line_id, provider, operation,"
                " code, amount_minor, currency, balance_before_minor, state, sent_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (op_id, reference, order_id, tender_id, line_id, provider, operation, code,
                 None if amount is None else amount.minor, currency,
                 None if balance_before is None else balance_before.minor, OpState.SENT, _now()),
            )
            tx.event(order_id, "provider_op_sent", {"op": op_id, "operation": operation, "code": code,
                                                    "amount": None if amount is None else amount.minor})
        return op_id, reference, tender_id

    def finish_op(
        self,
        op_id: int,
        state: str,
        *,
        token: str | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        tender: dict[str, Any] | None = None,
        void_tender: bool = False,
        line: dict[str, Any] | None = None,
    ) -> None:
        """Commit the outcome of a provider call, and its effect on the tender or line, together.

        ``line`` may set ``activated`` (True stamps activated_at) and ``problem``.
        """
        with self._tx() as tx:
            row = tx.row("SELECT order_id, tender_id, line_id FROM provider_ops WHERE id=?", (op_id,))
            if row is None:
                raise JournalError(f"provider operation {op_id} is not in the journal")
            order_id, tender_id, line_id = row
            if line_id is not None and line:
                if "problem" in line:
                    tx.execute("UPDATE lines SET problem=? WHERE id=?", (line["problem"], line_id))
                if line.get("activated"):
                    tx.execute("UPDATE lines SET activated_at=? WHERE id=?", (_now(), line_id))
            tx.execute(
                "UPDATE provider_ops SET state=?, token=COALESCE(?, token), result=?, error=COALESCE(?, error), ended_at=?"
                " WHERE id=?",
                (state, token, json.dumps(result or {}, sort_keys=True), error, _now(), op_id),
            )
            if tender_id is not None and (tender or void_tender):
                updates = {k: _TENDER_FIELDS[k](v) for k, v in (tender or {}).items()}
                if void_tender:
                    updates["state"] = TenderState.VOIDED.value
                    updates["voided_at"] = _now()
                columns = ", ".join(f"{k if k != 'balance_after' else 'balance_after_minor'}=?"
                                    for k in updates)
                tx.execute(f"UPDATE tenders SET {columns} WHERE id=?", (*updates.values(), tender_id))
            tx.event(order_id, "provider_op_" + state, {"op": op_id, "tender": tender_id,
                                                        "error": error, **(result or {})})

    def set_tender_problem(self, tender_id: int, problem: str | None) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE tenders SET problem=? WHERE id=?", (problem, tender_id))

    def set_line_problem(self, line_id: int, problem: str | None) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE lines SET problem=? WHERE id=?", (problem, line_id))

    # -- voiding a closed sale ------------------------------------------------------
    def last_closed_order_id(self) -> int | None:
        rows = self._query(
            "SELECT id FROM orders WHERE outlet=? AND till=? AND status='closed' ORDER BY number DESC LIMIT 1",
            (self.outlet, self.till),
        )
        return rows[0]["id"] if rows else None

    def order_voided_at(self, order_id: int) -> str | None:
        rows = self._query("SELECT voided_at FROM orders WHERE id=?", (order_id,))
        return rows[0]["voided_at"] if rows else None

    def void_closed_order(self, order_id: int, text: str, data: bytes) -> int:
        """Mark a closed sale voided and store its void receipt, in one transaction."""
        with self._tx() as tx:
            receipt_id = tx.insert(
                "INSERT INTO receipts (order_id, kind, text, escpos, created_at) VALUES (?,?,?,?,?)",
                (order_id, "void", text, data, _now()),
            )
            changed = tx.execute(
                "UPDATE orders SET voided_at=?, void_receipt_id=? WHERE id=? AND status='closed'"
                " AND voided_at IS NULL",
                (_now(), receipt_id, order_id),
            )
            if changed != 1:
                raise JournalError(f"order {order_id} is not a closed, unvoided sale")
            tx.event(order_id, "order_voided", {"receipt": receipt_id})
        return receipt_id

    def op(self, op_id: int) -> OpRecord:
        rows = self._query("SELECT * FROM provider_ops WHERE id=?", (op_id,))
        if not rows:
            raise JournalError(f"provider operation {op_id} is not in the journal")
        return _op(rows[0])

    def ops(self, *, tender_id: int | None = None, code: str | None = None,
            open_only: bool = False) -> list[OpRecord]:
        sql, args = "SELECT * FROM provider_ops WHERE 1=1", []
        if tender_id is not None:
            sql += " AND tender_id=?"
            args.append(tender_id)
        if code is not None:
            sql += " AND code=?"
            args.append(code)
        if open_only:
            sql += " AND state IN (?, ?)"
            args += list(OpState.OPEN)
        return [_op(r) for r in self._query(sql + " ORDER BY id", tuple(args))]

    def void_tender(self, order_id: int, tender_id: int) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE tenders SET voided_at=?, state=? WHERE id=? AND order_id=? AND voided_at IS NULL",
                (_now(), TenderState.VOIDED.value, tender_id, order_id),
            )
            tx.event(order_id, "tender_voided", {"tender": tender_id})

    def close_order(
        self, order_id: int, render: Callable[[str], tuple[str, bytes]]
    ) -> tuple[int, int]:
        """Close an order: number it and store its receipt in one transaction.

        ``render(number_text) -> (text, escpos)`` builds the receipt once the
        number is known; the receipt is committed with the close, so a closed
        order always has its receipt, printed or not.
        Returns (order number, receipt id).
        """
        with self._tx() as tx:
            number = int(
                tx.one(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM orders WHERE outlet=? AND till=?",
                    (self.outlet, self.till),
                )
            )
            changed = tx.execute(
                "UPDATE orders SET status='closed', number=?, ended_at=? WHERE id=? AND status='open'",
                (number, _now(), order_id),
            )
            if changed != 1:
                raise JournalError(f"order {order_id} is not open")
            tx.execute(
                "UPDATE tenders SET state=? WHERE order_id=? AND state=? AND voided_at IS NULL",
                (TenderState.CAPTURED.value, order_id, TenderState.AUTHORIZED.value),
            )
            text, data = render(self.format_number(number))
            receipt_id = tx.insert(
                "INSERT INTO receipts (order_id, kind, text, escpos, created_at) VALUES (?,?,?,?,?)",
                (order_id, "sale", text, data, _now()),
            )
            tx.event(order_id, "order_closed", {"number": number, "receipt": receipt_id})
        return number, receipt_id

    def cancel_order(self, order_id: int) -> None:
        with self._tx() as tx:
            changed = tx.execute(
                "UPDATE orders SET status='cancelled', ended_at=? WHERE id=? AND status='open'",
                (_now(), order_id),
            )
            if changed != 1:
                raise JournalError(f"order {order_id} is not open")
            tx.event(order_id, "order_cancelled", {})

    # -- receipts -------------------------------------------------------------
    def store_receipt(self, kind: str, text: str, data: bytes, order_id: int | None = None) -> int:
        """A receipt that is not a sale (balance slip, void receipt)."""
        with self._tx() as tx:
            receipt_id = tx.insert(
                "INSERT INTO receipts (order_id, kind, text, escpos, created_at) VALUES (?,?,?,?,?)",
                (order_id, kind, text, data, _now()),
            )
            tx.event(order_id, "receipt_stored", {"receipt": receipt_id, "kind": kind})
        return receipt_id

    def mark_printed(self, receipt_id: int) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE receipts SET printed_at=?, print_error=NULL WHERE id=?",
                       (_now(), receipt_id))
            tx.event(None, "receipt_printed", {"receipt": receipt_id})

    def mark_print_failed(self, receipt_id: int, error: str) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE receipts SET print_error=? WHERE id=?", (error, receipt_id))
            tx.event(None, "receipt_print_failed", {"receipt": receipt_id, "error": error})

    def receipt(self, receipt_id: int) -> ReceiptRecord:
        rows = self._query("SELECT * FROM receipts WHERE id=?", (receipt_id,))
        if not rows:
            raise JournalError(f"receipt {receipt_id} is not in the journal")
        return _receipt(rows[0])

    def last_receipt(self) -> ReceiptRecord | None:
        rows = self._query(
            "SELECT r.* FROM receipts r JOIN orders o ON o.id = r.order_id"
            " WHERE o.outlet=? AND o.till=? AND r.kind IN ('sale', 'void') ORDER BY r.id DESC LIMIT 1",
            (self.outlet, self.till),
        )
        return _receipt(rows[0]) if rows else None

    def unprinted_receipts(self) -> list[ReceiptRecord]:
        rows = self._query(
            "SELECT r.* FROM receipts r JOIN orders o ON o.id = r.order_id"
            " WHERE o.outlet=? AND o.till=? AND r.printed_at IS NULL ORDER BY r.id",
            (self.outlet, self.till),
        )
        return [_receipt(r) for r in rows]

    def record(self, kind: str, detail: dict[str, Any], order_id: int | None = None) -> None:
        """An event that is not an order change: drawer opened, no-sale, printer trouble."""
        with self._tx() as tx:
            tx.event(order_id, kind, detail)

    def events(self, order_id: int | None = None) -> list[dict[str, Any]]:
        if order_id is None:
            rows = self._query("SELECT * FROM events ORDER BY id")
        else:
            rows = self._query("SELECT * FROM events WHERE order_id=? ORDER BY id", (order_id,))
        return [
            {"id": r["id"], "at": r["at"], "order_id": r["order_id"], "kind": r["kind"],
             "detail": json.loads(r["detail"])}
            for r in rows
        ]


def _op(row: sqlite3.Row) -> OpRecord:
    currency = row["currency"]
    return OpRecord(
        id=row["id"],
        reference=row["reference"],
        order_id=row["order_id"],
        tender_id=row["tender_id"],
        line_id=row["line_id"],
        provider=row["provider"],
        operation=row["operation"],
        code=row["code"],
        amount=_money(row["amount_minor"], currency),
        balance_before=_money(row["balance_before_minor"], currency),
        state=row["state"],
        token=row["token"],
        result=json.loads(row["result"]) if row["result"] else {},
        error=row["error"],
        sent_at=row["sent_at"],
        ended_at=row["ended_at"],
    )


def _receipt(row: sqlite3.Row) -> ReceiptRecord:
    return ReceiptRecord(
        id=row["id"],
        order_id=row["order_id"],
        kind=row["kind"],
        text=row["text"],
        escpos=bytes(row["escpos"]),
        created_at=row["created_at"],
        printed_at=row["printed_at"],
        print_error=row["print_error"],
    )


class _Tx:
    """The statements of one open transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        return self._db.execute(sql, args).rowcount

    def insert(self, sql: str, args: tuple[Any, ...]) -> int:
        cur = self._db.execute(sql, args)
        assert cur.lastrowid is not None
        return cur.lastrowid

    def row(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._db.execute(sql, args).fetchone()

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._db.execute(sql, args).fetchone()[0]

    def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run statement by statement instead.
        for statement in script.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def event(self, order_id: int | None, kind: str, detail: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO events (at, order_id, kind, detail) VALUES (?,?,?,?)",
            (_now(), order_id, kind, json.dumps(detail, sort_keys=True)),
        )
