"""SQLite journal: WAL, ``synchronous=FULL``, one explicit transaction per change.

Every change to an order is committed here *before* the till shows it, so a
till killed at any moment comes back with the order exactly as the cashier
last saw it. Orders are read back from these rows (the journal is the
source of truth, the in-memory order is derived from it).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from pos_app.files import make_private_dir, open_private, tighten, write_private_atomic
from pos_app.i18n import _
from pos_app.journal.records import (
    ClosedOrder,
    DayCloseRefused,
    JournalBehindError,
    JournalError,
    JournalWriteError,
    OpRecord,
    OpState,
    ReceiptRecord,
    ReportRecord,
)
from pos_app.journal import reporting
from pos_app.journal.reporting import Period
from pos_app.journal.schema import MIGRATIONS

_log = logging.getLogger(__name__)


# Columns of ``tenders`` and ``lines`` a provider outcome may change, with their encoders.
_TENDER_FIELDS = {
    "state": ("state", lambda v: v.value),
    "amount": ("amount_minor", lambda v: v.minor),  # one hold per voucher: a second payment merged in
    "balance_after": ("balance_after_minor", lambda v: None if v is None else v.minor),
    "problem": ("problem", lambda v: v),
}


# The moment a forwarded call was made at the till: the server's rows get the till's
# times, not the time they were forwarded (a day sold offline stays on its day).
_PINNED: contextvars.ContextVar[str | None] = contextvars.ContextVar("journal_now", default=None)


def _now() -> str:
    """Now as the journal writes it (UTC, milliseconds); inside :func:`pinned_clock`, its moment."""
    return _PINNED.get() or datetime.now(UTC).isoformat(timespec="milliseconds")


@contextmanager
def pinned_clock(at: str | None = None) -> Iterator[str]:
    """Every time the store writes in this block is ``at`` (default: now): one call's
    rows share one moment, the same at the till and on the server that replays it."""
    moment = at or _now()
    token = _PINNED.set(moment)
    try:
        yield moment
    finally:
        _PINNED.reset(token)


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money(minor, currency)


SQLITE_HEADER = b"SQLite format 3\x00"
CREATING_SUFFIX = ".creating"  # a new journal is built under this name, then linked into place
LAST_NUMBER_SUFFIX = ".last-number"  # the last order number this till gave, outside SQLite


def wal_files(path: Path) -> list[Path]:
    """The journal's ``-wal`` and ``-shm`` files (SQLite's names)."""
    return [path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def last_number_path(path: Path) -> Path:
    """Where the last order number given by the till of journal ``path`` is kept.

    A small file next to the journal, rewritten (atomically, flushed) after each
    number is given: a journal copied without its ``-wal`` or an old backup cannot
    take it back, so a till started on such a journal stops instead of giving the
    same numbers again."""
    return path.with_name(path.name + LAST_NUMBER_SUFFIX)


def read_last_number(path: Path, outlet: str, till: str) -> int | None:
    """The last order number kept for journal ``path`` (None: none kept, or unreadable)."""
    try:
        data = json.loads(last_number_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _log.warning("the last order number in %s cannot be read: %s", last_number_path(path), exc)
        return None
    if not isinstance(data, dict) or data.get("outlet") != outlet or data.get("till") != till:
        return None
    number = data.get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def behind_message(path: Path, journal_number: str | None, known_number: str) -> str:
    """What to say when journal ``path`` has fewer numbered orders than the till gave."""
    text = _("the journal {path} has orders up to {number}, but this till has already given order number "
             "{known} (kept in {file}). The journal is missing its latest sales: it was probably copied or "
             "restored without its {name}-wal file. The till does not start, so that no order number is given "
             "twice. Put the real journal back together with its -wal file (or restore a copy made with `pos "
             "journal backup`), then run `pos journal check`.") if journal_number else \
        _("the journal {path} has no numbered orders, but this till has already given order number {known} "
          "(kept in {file}). The journal is missing its latest sales: it was probably copied or restored "
          "without its {name}-wal file. The till does not start, so that no order number is given twice. Put "
          "the real journal back together with its -wal file (or restore a copy made with `pos journal "
          "backup`), then run `pos journal check`.")
    return text.format(path=path, number=journal_number, known=known_number, file=last_number_path(path).name,
                       name=path.name)


def write_failure(exc: sqlite3.Error) -> str | None:
    """Why SQLite could not write (``full``, ``read_only``, ``io``, ``busy``), or None
    when the error is something else (damage, a bug)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return "full"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) \
            or "readonly" in text or "unable to open database file" in text:
        return "read_only"
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return "io"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return "busy"
    return None


def write_error(path: Path, reason: str) -> JournalWriteError:
    """The typed error for a journal that could not be written, with what to do."""
    folder = path.parent
    if reason == "full":
        text = _("the journal cannot be written: the disk is full. The last step was not saved; everything "
                 "saved before it is kept. Free space on the disk that holds {folder}, then do the step again.")
    elif reason == "read_only":
        text = _("the journal cannot be written: {path}, its -wal/-shm files or its folder are read-only. The "
                 "last step was not saved; everything saved before it is kept. Make them writable for the "
                 "till's user (chmod u+w {path} {folder}), then do the step again.")
    elif reason == "busy":
        text = _("the journal cannot be written: another program holds {path} (a second till on the same "
                 "journal?). The last step was not saved; everything saved before it is kept. Close the other "
                 "program, then do the step again.")
    else:
        text = _("the journal cannot be written: the disk reported an input/output error (full, failing or "
                 "removed?). The last step was not saved; everything saved before it is kept. Check the disk "
                 "that holds {folder}, then do the step again.")
    text = text.format(path=path, folder=folder)
    return JournalWriteError(text, reason)


def check_writable(path: Path) -> None:
    """JournalWriteError when the journal ``path``, its -wal/-shm or its (existing)
    folder cannot be written by the till's user: said so, by name, before SQLite
    calls it anything else (it would say "damaged"). A missing folder is not checked
    (it is created)."""
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise JournalWriteError(
            _("the journal's folder {folder} is read-only for the till's user: the till writes every sale to {name} and its -wal and -shm files there. Nothing is damaged and nothing was changed. Make the folder writable for the till's user (chmod u+rwx {folder}), then start the till again.").format(folder=folder, name=path.name), "read_only")
    for file in (path, *wal_files(path)):
        if file.is_file() and not os.access(file, os.W_OK):
            raise JournalWriteError(
                _("the journal file {file} is read-only for the till's user: the till writes every sale to it. Nothing is damaged and nothing was changed. Make it writable for the till's user (chmod u+rw {file}), then start the till again.").format(file=file), "read_only")


def _damaged(path: Path, why: str) -> str:
    return _("the journal {path} is damaged ({problem}). Do not delete it: it holds the till's sales. Copy it "
             "aside and contact support.").format(path=path, problem=why)


def _tables(version: int) -> list[str]:
    """The tables a journal at schema ``version`` has (created, renamed, dropped)."""
    tables: list[str] = []
    for script in MIGRATIONS[:version]:
        for create, drop, old, new in re.findall(
            r"CREATE TABLE (\w+)|DROP TABLE (\w+)|ALTER TABLE (\w+) RENAME TO (\w+)", script
        ):
            if create:
                tables.append(create)
            elif drop:
                tables.remove(drop)
            else:
                tables[tables.index(old)] = new
    return tables


def _configure(db: sqlite3.Connection, path: Path) -> None:
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    sync = db.execute("PRAGMA synchronous").fetchone()[0]
    if str(mode).lower() != "wal" or sync != 2:
        raise JournalError(
            _('the journal {path} cannot run in WAL mode with synchronous=FULL (got journal_mode={mode}, synchronous={sync}); put it on a local disk').format(path=path, mode=mode, sync=sync)
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
    # Made 0600 before SQLite opens it: its -wal and -shm files take the journal's mode.
    os.close(open_private(temp, os.O_WRONLY))
    db = sqlite3.connect(temp, isolation_level=None)
    try:
        _configure(db, path)
        _migrate(db, 0)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()  # the last connection: the WAL is checkpointed into the file and removed
    try:
        if leftovers[1].exists() and leftovers[1].stat().st_size:
            raise JournalError(_('cannot create the journal {path}: SQLite kept its write-ahead log').format(path=path))
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


def _unclean(path: Path) -> bool:
    """Did the last till on this journal end without closing it (its WAL is left, not empty)?"""
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


def _check_file(path: Path) -> None:
    """JournalError unless the existing ``path`` starts like a SQLite database."""
    if path.is_dir():
        raise JournalError(_('cannot open the journal {path}: it is a folder').format(path=path))
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if not head:
        raise JournalError(
            _("the journal {path} is damaged (the file is empty). Do not delete it: the till would start a new journal and number orders from 1 again. Copy it aside, look for the journal's backup and contact support.").format(path=path)
        )
    if head != SQLITE_HEADER:
        raise JournalError(_damaged(path, _("it is not a SQLite database")))


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
            make_private_dir(path.parent, tighten_existing=False)
        except OSError as exc:
            raise JournalError(_('cannot create the folder {parent} for the journal: {strerror}').format(parent=path.parent, strerror=exc.strerror or exc)) from None
        try:
            check_writable(path)
            if not os.path.lexists(path):
                _create(path)
            _check_file(path)
            for file in (path, *wal_files(path), last_number_path(path)):
                tighten(file)  # a journal from before files were private
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except JournalError:
            raise
        except sqlite3.Error as exc:
            reason = write_failure(exc)
            if reason is not None:
                raise write_error(path, reason) from None
            raise JournalError(_('cannot open the journal {path}: {exc}').format(path=path, exc=exc)) from None
        except OSError as exc:
            raise JournalError(_('cannot open the journal {path}: {strerror}').format(path=path, strerror=exc.strerror or exc)) from None
        try:
            self._setup()
            self._known = read_last_number(path, outlet, till) or 0
            self._check_not_behind()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            reason = write_failure(exc)
            if reason is not None:
                raise write_error(path, reason) from None
            raise JournalError(_damaged(path, str(exc))) from None
        except BaseException:
            self._db.close()
            raise

    # -- set-up ---------------------------------------------------------------
    def _setup(self) -> None:
        """Check the journal before anything is written to it, then upgrade its schema.

        SQLite's quick_check reads the whole file (about half a second at 100,000
        orders), so it runs only after an unclean end: a till that closed its
        journal leaves no write-ahead log behind; one that was killed or lost
        power leaves its log, which this open then replays."""
        db = self._db
        self.checked = _unclean(self.path)
        if self.checked:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise JournalError(
                _('the journal {path} was written by a newer version of the till (schema {version}); update the till software').format(path=self.path, version=version)
            )
        present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0:
            raise JournalError(_damaged(self.path, _("a SQLite database without the journal's tables")))
        missing = [name for name in _tables(version) if name not in present]
        if missing:
            raise JournalError(_damaged(self.path, _("its table {table!r} is missing").format(table=missing[0])))
        _configure(db, self.path)
        with self._lock:
            _migrate(db, version)

    def _check_not_behind(self) -> None:
        """JournalBehindError when this journal has fewer numbered orders than the till
        is known to have given (the last-number file): its latest sales are missing."""
        highest = self.highest_number()
        if self._known > highest:
            raise JournalBehindError(
                behind_message(self.path, self.format_number(highest) if highest else None,
                               self.format_number(self._known)),
                highest, self._known)

    def highest_number(self) -> int:
        """The highest order number this journal has given (0: none yet)."""
        with self._lock:
            seq = self._query(
                "SELECT MAX(value) AS top FROM sequences WHERE outlet=? AND till=? AND name='order_number'",
                self._scope)[0]["top"]
            top = self._query("SELECT MAX(number) AS top FROM orders WHERE outlet=? AND till=?",
                              self._scope)[0]["top"]
        return max(seq or 0, top or 0)

    def known_number(self) -> int:
        """The last order number the till is known to have given (the last-number file)."""
        return self._known

    def _remember(self, number: int) -> None:
        """Keep ``number`` in the last-number file (only ever upwards). A failure is
        logged: the sale is saved, only the guard is behind until the next number."""
        with self._lock:
            if number <= self._known:
                return
            data = {"outlet": self.outlet, "till": self.till, "number": number,
                    "order": self.format_number(number), "at": _now()}
            try:
                write_private_atomic(last_number_path(self.path), (json.dumps(data) + "\n").encode())
            except OSError as exc:
                _log.warning("order number %s could not be kept in %s: %s", self.format_number(number),
                             last_number_path(self.path), exc.strerror or exc)
                return
            self._known = number

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        """One transaction. A failure to write (disk full, read-only, I/O error, locked)
        rolls the whole step back and raises :class:`JournalWriteError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
            try:
                yield _Tx(self._db, self.outlet, self.till)
            except sqlite3.Error as exc:
                self._rollback()
                if write_failure(exc) is None:
                    raise
                raise self._failed(exc) from None
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._failed(exc) from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite rolled back by itself (e.g. after a full disk)
                pass

    def _failed(self, exc: sqlite3.Error) -> JournalError:
        reason = write_failure(exc)
        _log.error("journal write failed (%s): %s", reason or "unexpected", exc)
        if reason is None:
            return JournalError(_('the journal {path} cannot be written: {exc}').format(path=self.path, exc=exc))
        return write_error(self.path, reason)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, args)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def pragma(self, name: str) -> Any:
        return self._query(f"PRAGMA {name}")[0][0]

    @property
    def _scope(self) -> tuple[str, str]:
        return (self.outlet, self.till)

    # -- orders ---------------------------------------------------------------
    def open_order_id(self) -> int | None:
        rows = self._query(
            "SELECT id FROM orders WHERE outlet=? AND till=? AND status='open' ORDER BY id",
            self._scope,
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
        """The number the next order to be numbered will get (nothing is allocated)."""
        rows = self._query("SELECT value FROM sequences WHERE outlet=? AND till=? AND name=?",
                           (*self._scope, "order_number"))
        return (rows[0]["value"] if rows else 0) + 1

    def allocate_number(self, order_id: int) -> int:
        """Give an open order its number (once): the first step of closing it, so a
        capture can carry it. The number stays with the order whatever happens next,
        so the numbers have no gaps (a cancelled order keeps its number)."""
        with self._tx() as tx:
            number = self._allocate(tx, order_id)
        self._remember(number)
        return number

    def _allocate(self, tx: _Tx, order_id: int) -> int:
        row = tx.row("SELECT number, status FROM orders WHERE id=? AND outlet=? AND till=?",
                     (order_id, *self._scope))
        if row is None:
            raise JournalError(_('order {order_id} is not in the journal of this till').format(order_id=order_id))
        number, status = row
        if number is not None:
            return int(number)
        if status != OrderStatus.OPEN.value:
            raise JournalError(_('order {order_id} is not open').format(order_id=order_id))
        number = tx.next("order_number")
        tx.execute("UPDATE orders SET number=? WHERE id=?", (number, order_id))
        tx.event(order_id, "order_numbered", {"number": number})
        return number

    def load_order(self, order_id: int) -> Order:
        rows = self._query("SELECT * FROM orders WHERE id=? AND outlet=? AND till=?",
                           (order_id, *self._scope))
        if not rows:
            raise JournalError(_('order {order_id} is not in the journal of this till').format(order_id=order_id))
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
                    undone=r["undone_at"] is not None,
                    refs=json.loads(r["refs"]),
                    problem=r["problem"],
                    details=json.loads(r["details"]),
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
                    refs=json.loads(r["refs"]),
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
                " provider, free_amount, added_at, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    _json(dict(line.details)),
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
        with self._tx() as tx:
            return self._insert_tender(tx, order_id, tender)

    def _insert_tender(self, tx: _Tx, order_id: int, tender: Tender) -> int:
        def minor(m: Money | None) -> int | None:
            return None if m is None else m.minor

        tender_id = tx.insert(
            "INSERT INTO tenders (order_id, kind, state, amount_minor, given_minor, change_minor,"
            " rounding_minor, code, provider, refs, balance_after_minor, added_at)"
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
                _json(dict(tender.refs)),
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
        reference: Callable[[int], str] | None = None,
        amount: Money | None = None,
        order_id: int | None = None,
        tender_id: int | None = None,
        line_id: int | None = None,
        new_tender: Tender | None = None,
        request: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        before_at: str | None = None,
        settle_by: str | None = None,
        refs: dict[str, str] | None = None,
    ) -> tuple[int, str, int | None]:
        """Commit the intent of a provider call (state ``sent``) before it is made.

        Our reference is made from this till's next reference number by
        ``reference`` (the provider's policy says how it must look). With
        ``new_tender`` the tender the call creates is inserted in the same
        transaction (state pending), so a crash right after leaves both.
        ``before`` is the provider state read just before: what decides a lost
        answer. ``refs`` are the references of what it acts on (a refund: the charge's
        id and order number), kept so a lost answer can be looked up by them.
        Returns (op id, our reference, tender id).
        """
        with self._tx() as tx:
            if new_tender is not None:
                assert order_id is not None
                tender_id = self._insert_tender(tx, order_id, new_tender)
            sequence = tx.next("reference")
            ref = reference(sequence) if reference is not None else f"{self.outlet}-{self.till}-{sequence:06d}"
            op_id = tx.insert(
                "INSERT INTO provider_ops (outlet, till, reference, order_id, tender_id, line_id, provider,"
                " operation, code, amount_minor, currency, request, before, before_at, state, settle_by,"
                " sent_at, refs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (self.outlet, self.till, ref, order_id, tender_id, line_id, provider, operation, code,
                 None if amount is None else amount.minor, currency, _json(request or {}),
                 None if before is None else _json(before), before_at, OpState.SENT, settle_by, _now(),
                 _json(dict(refs or {}))),
            )
            tx.event(order_id, "provider_op_sent", {"op": op_id, "operation": operation, "code": code,
                                                    "amount": None if amount is None else amount.minor,
                                                    "reference": ref})
        return op_id, ref, tender_id

    def reopen_op(self, op_id: int, *, before: dict[str, Any] | None, before_at: str, settle_by: str) -> None:
        """Send a decided "did not happen" operation again under the same reference
        (only for a provider that deduplicates that request by our reference, so a
        first send that still arrives late cannot be applied as well): back to
        ``sent``, with the state read just before and a new settle window. The
        earlier outcome stays in the events."""
        with self._tx() as tx:
            row = tx.row("SELECT order_id, state, result FROM provider_ops WHERE id=? AND outlet=? AND till=?",
                         (op_id, *self._scope))
            if row is None:
                raise JournalError(_('provider operation {op_id} is not in the journal of this till').format(
                    op_id=op_id))
            order_id, state, result = row
            if state != OpState.NOT_DONE:
                raise JournalError(_("operation {op_id} is {state}: only one decided 'not done' is sent again").format(
                    op_id=op_id, state=state))
            tx.execute("UPDATE provider_ops SET state=?, before=?, before_at=?, settle_by=?, error=NULL,"
                       " ended_at=NULL, sent_at=? WHERE id=?",
                       (OpState.SENT, None if before is None else _json(before), before_at, settle_by, _now(), op_id))
            tx.event(order_id, "provider_op_replayed", {"op": op_id, "earlier": json.loads(result or "null")})

    def finish_op(
        self,
        op_id: int,
        state: str,
        *,
        refs: dict[str, str] | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        flag: str | None = None,
        tender: dict[str, Any] | None = None,
        void_tender: bool = False,
        line: dict[str, Any] | None = None,
        clear_error: bool = False,
    ) -> None:
        """Commit the outcome of a provider call and its effect on the tender or
        line, together. ``unknown`` keeps the row open (it is not ended);
        ``clear_error`` empties the error (a decision replaces the last wait).

        ``refs`` are merged into the operation's references; ``tender`` may set
        ``state``, ``balance_after``, ``problem`` and ``refs`` (merged);
        ``line`` may set ``activated``/``undone`` (True stamps the time),
        ``problem`` and ``refs`` (merged).
        """
        with self._tx() as tx:
            row = tx.row("SELECT order_id, tender_id, line_id, refs FROM provider_ops"
                         " WHERE id=? AND outlet=? AND till=?", (op_id, *self._scope))
            if row is None:
                raise JournalError(_('provider operation {op_id} is not in the journal of this till').format(op_id=op_id))
            order_id, tender_id, line_id, old_refs = row
            merged = {**json.loads(old_refs), **(refs or {})}
            ended = None if state == OpState.UNKNOWN else _now()
            tx.execute(
                "UPDATE provider_ops SET state=?, refs=?, result=COALESCE(?, result),"
                " error=CASE WHEN ? THEN ? ELSE COALESCE(?, error) END,"
                " flag=COALESCE(?, flag), ended_at=?, checks=checks + ?, checked_at=? WHERE id=?",
                (state, _json(merged), None if result is None else _json(result), clear_error, error, error,
                 flag, ended, 1 if state == OpState.UNKNOWN else 0,
                 _now() if state == OpState.UNKNOWN else None, op_id),
            )
            if line_id is not None and line:
                self._update_line(tx, line_id, line)
            if tender_id is not None and (tender or void_tender):
                self._update_tender(tx, tender_id, tender or {}, void_tender)
            tx.event(order_id, "provider_op_" + state, {"op": op_id, "tender": tender_id, "line": line_id,
                                                        "error": error, "flag": flag, **(result or {})})

    @staticmethod
    def _update_line(tx: _Tx, line_id: int, changes: dict[str, Any]) -> None:
        if "problem" in changes:
            tx.execute("UPDATE lines SET problem=? WHERE id=?", (changes["problem"], line_id))
        if changes.get("activated"):
            tx.execute("UPDATE lines SET activated_at=COALESCE(activated_at, ?) WHERE id=?", (_now(), line_id))
        if changes.get("undone"):
            tx.execute("UPDATE lines SET undone_at=COALESCE(undone_at, ?) WHERE id=?", (_now(), line_id))
        if changes.get("void"):
            tx.execute("UPDATE lines SET voided_at=COALESCE(voided_at, ?) WHERE id=?", (_now(), line_id))
        if changes.get("refs"):
            old = tx.one("SELECT refs FROM lines WHERE id=?", (line_id,))
            tx.execute("UPDATE lines SET refs=? WHERE id=?",
                       (_json({**json.loads(old), **changes["refs"]}), line_id))

    @staticmethod
    def _update_tender(tx: _Tx, tender_id: int, changes: dict[str, Any], void: bool) -> None:
        updates = {_TENDER_FIELDS[k][0]: _TENDER_FIELDS[k][1](v) for k, v in changes.items() if k != "refs"}
        if changes.get("refs"):
            old = tx.one("SELECT refs FROM tenders WHERE id=?", (tender_id,))
            updates["refs"] = _json({**json.loads(old), **changes["refs"]})
        if void:
            updates["state"] = TenderState.VOIDED.value
            updates["voided_at"] = _now()
        if updates:
            columns = ", ".join(f"{name}=?" for name in updates)
            tx.execute(f"UPDATE tenders SET {columns} WHERE id=?", (*updates.values(), tender_id))

    def flag_op(self, op_id: int, flag: str) -> None:
        """A late contradiction: an operation decided long ago shows otherwise now (F12)."""
        with self._tx() as tx:
            order_id = tx.one("SELECT order_id FROM provider_ops WHERE id=? AND outlet=? AND till=?",
                              (op_id, *self._scope))
            tx.execute("UPDATE provider_ops SET flag=? WHERE id=?", (flag, op_id))
            tx.event(order_id, "provider_op_flagged", {"op": op_id, "flag": flag})

    def set_tender_problem(self, tender_id: int, problem: str | None) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE tenders SET problem=? WHERE id=?", (problem, tender_id))

    def add_line_refs(self, line_id: int, refs: dict[str, str]) -> None:
        """What the provider told later about a created value line (CSQ's additional
        data: instructions, expiry), merged into its references."""
        with self._tx() as tx:
            self._update_line(tx, line_id, {"refs": refs})

    def set_line_problem(self, line_id: int, problem: str | None) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE lines SET problem=? WHERE id=?", (problem, line_id))

    def op(self, op_id: int) -> OpRecord:
        rows = self._query("SELECT * FROM provider_ops WHERE id=? AND outlet=? AND till=?",
                           (op_id, *self._scope))
        if not rows:
            raise JournalError(_('provider operation {op_id} is not in the journal of this till').format(op_id=op_id))
        return _op(rows[0])

    def ops(self, *, tender_id: int | None = None, line_id: int | None = None, code: str | None = None,
            order_id: int | None = None, operation: str | None = None, open_only: bool = False,
            flagged: bool = False) -> list[OpRecord]:
        """This till's provider operations, oldest first, filtered."""
        sql, args = "SELECT * FROM provider_ops WHERE outlet=? AND till=?", list(self._scope)
        for column, value in (("tender_id", tender_id), ("line_id", line_id), ("code", code),
                              ("order_id", order_id), ("operation", operation)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        if open_only:
            sql += " AND state IN (?, ?)"
            args += list(OpState.OPEN)
        if flagged:
            sql += " AND flag IS NOT NULL"
        return [_op(r) for r in self._query(sql + " ORDER BY id", tuple(args))]

    # -- voiding a closed sale ------------------------------------------------------
    def last_closed_order_id(self) -> int | None:
        rows = self._query(
            "SELECT id FROM orders WHERE outlet=? AND till=? AND status='closed' ORDER BY number DESC LIMIT 1",
            self._scope,
        )
        return rows[0]["id"] if rows else None

    def order_voided_at(self, order_id: int) -> str | None:
        rows = self._query("SELECT voided_at FROM orders WHERE id=? AND outlet=? AND till=?",
                           (order_id, *self._scope))
        return rows[0]["voided_at"] if rows else None

    def void_closed_order(self, order_id: int, text: str, data: bytes) -> int:
        """Mark a closed sale voided and store its void receipt, in one transaction."""
        with self._tx() as tx:
            receipt_id = tx.insert_receipt(order_id, "void", text, data)
            changed = tx.execute(
                "UPDATE orders SET voided_at=?, void_receipt_id=? WHERE id=? AND outlet=? AND till=?"
                " AND status='closed' AND voided_at IS NULL",
                (_now(), receipt_id, order_id, *self._scope),
            )
            if changed != 1:
                raise JournalError(_('order {order_id} is not a closed, unvoided sale').format(order_id=order_id))
            tx.event(order_id, "order_voided", {"receipt": receipt_id})
        return receipt_id

    def void_tender(self, order_id: int, tender_id: int) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE tenders SET voided_at=?, state=? WHERE id=? AND order_id=? AND voided_at IS NULL",
                (_now(), TenderState.VOIDED.value, tender_id, order_id),
            )
            tx.event(order_id, "tender_voided", {"tender": tender_id})

    def number_for(self, order_id: int) -> int:
        """The number ``order_id`` has, or will get when it is closed next (nothing is allocated)."""
        rows = self._query("SELECT number FROM orders WHERE id=? AND outlet=? AND till=?", (order_id, *self._scope))
        if rows and rows[0]["number"] is not None:
            return int(rows[0]["number"])
        return self.next_number()

    def close_order(
        self,
        order_id: int,
        render: Callable[[str], tuple[str, bytes]],
        *,
        tender: Tender | None = None,
        next_order: str | None = None,
    ) -> ClosedOrder:
        """Close an order and store its receipt in one transaction.

        The receipt is rendered first, outside the transaction, for the number
        the order has or will get (``render(number_text) -> (text, escpos)``);
        it is committed with the close, so a closed order always has its
        receipt, printed or not. Authorized tenders become captured.

        ``tender``: the payment that settles the order, committed with the
        close (a cash or card payment of an order that needs no provider step
        to close: the till never shows one without the other). ``next_order``:
        the currency of the order that starts now, opened in the same
        transaction. One commit per sale instead of four, and no crash window
        lost: the journal holds either the open order without that payment or
        the closed sale with its receipt and the next order.
        """
        expected = self.number_for(order_id)
        text, data = render(self.format_number(expected))
        with self._tx() as tx:
            if tender is not None:
                self._insert_tender(tx, order_id, tender)
            number = self._allocate(tx, order_id)
            if number != expected:  # another writer numbered meanwhile: the receipt must match
                text, data = render(self.format_number(number))
            changed = tx.execute(
                "UPDATE orders SET status='closed', ended_at=? WHERE id=? AND status='open'",
                (_now(), order_id),
            )
            if changed != 1:
                raise JournalError(_('order {order_id} is not open').format(order_id=order_id))
            tx.execute(
                "UPDATE tenders SET state=? WHERE order_id=? AND state=? AND voided_at IS NULL",
                (TenderState.CAPTURED.value, order_id, TenderState.AUTHORIZED.value),
            )
            receipt_id = tx.insert_receipt(order_id, "sale", text, data)
            tx.event(order_id, "order_closed", {"number": number, "receipt": receipt_id})
            next_id = None
            if next_order is not None:
                next_id = tx.insert(
                    "INSERT INTO orders (outlet, till, currency, status, opened_at) VALUES (?,?,?,?,?)",
                    (self.outlet, self.till, next_order, OrderStatus.OPEN.value, _now()),
                )
                tx.event(next_id, "order_started", {})
        self._remember(number)
        return ClosedOrder(number, receipt_id, next_id)

    def cancel_order(self, order_id: int, receipt: tuple[str, bytes] | None = None) -> int | None:
        """Cancel an open order; ``receipt`` (text, printer bytes), a slip of what was
        given back, is stored in the same transaction. Its id, or None."""
        receipt_id = None
        with self._tx() as tx:
            changed = tx.execute(
                "UPDATE orders SET status='cancelled', ended_at=? WHERE id=? AND outlet=? AND till=?"
                " AND status='open'",
                (_now(), order_id, *self._scope),
            )
            if changed != 1:
                raise JournalError(_('order {order_id} is not open').format(order_id=order_id))
            tx.event(order_id, "order_cancelled", {})
            if receipt is not None:
                receipt_id = tx.insert_receipt(order_id, "cancel", *receipt)
                tx.event(order_id, "receipt_stored", {"receipt": receipt_id, "kind": "cancel"})
        return receipt_id

    # -- receipts -------------------------------------------------------------
    def store_receipt(self, kind: str, text: str, data: bytes, order_id: int | None = None) -> int:
        """A receipt that is not a sale (balance slip, void receipt)."""
        with self._tx() as tx:
            receipt_id = tx.insert_receipt(order_id, kind, text, data)
            tx.event(order_id, "receipt_stored", {"receipt": receipt_id, "kind": kind})
        return receipt_id

    def mark_printed(self, receipt_id: int) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE receipts SET printed_at=?, print_error=NULL WHERE id=? AND outlet=? AND till=?",
                       (_now(), receipt_id, *self._scope))
            tx.event(None, "receipt_printed", {"receipt": receipt_id})

    def mark_print_failed(self, receipt_id: int, error: str) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE receipts SET print_error=? WHERE id=? AND outlet=? AND till=?",
                       (error, receipt_id, *self._scope))
            tx.event(None, "receipt_print_failed", {"receipt": receipt_id, "error": error})

    def receipt(self, receipt_id: int) -> ReceiptRecord:
        rows = self._query("SELECT * FROM receipts WHERE id=? AND outlet=? AND till=?",
                           (receipt_id, *self._scope))
        if not rows:
            raise JournalError(_('receipt {receipt_id} is not in the journal of this till').format(receipt_id=receipt_id))
        return _receipt(rows[0])

    def last_receipt(self) -> ReceiptRecord | None:
        rows = self._query(
            "SELECT * FROM receipts WHERE outlet=? AND till=? AND kind IN ('sale', 'void', 'cancel')"
            " ORDER BY id DESC LIMIT 1",
            self._scope,
        )
        return _receipt(rows[0]) if rows else None

    def unprinted_receipts(self) -> list[ReceiptRecord]:
        """Sale and void receipts not (certainly) printed, oldest first."""
        rows = self._query(  # the partial index holds only these: no scan of every receipt
            "SELECT * FROM receipts INDEXED BY receipts_unprinted WHERE outlet=? AND till=?"
            " AND printed_at IS NULL AND order_id IS NOT NULL ORDER BY id",
            self._scope,
        )
        return [_receipt(r) for r in rows]

    def record(self, kind: str, detail: dict[str, Any], order_id: int | None = None) -> None:
        """An event that is not an order change: drawer opened, no-sale, printer trouble."""
        with self._tx() as tx:
            tx.event(order_id, kind, detail)

    def events(self, order_id: int | None = None) -> list[dict[str, Any]]:
        if order_id is None:
            rows = self._query("SELECT * FROM events WHERE outlet=? AND till=? ORDER BY id", self._scope)
        else:
            rows = self._query("SELECT * FROM events WHERE outlet=? AND till=? AND order_id=? ORDER BY id",
                               (*self._scope, order_id))
        return [
            {"id": r["id"], "at": r["at"], "order_id": r["order_id"], "kind": r["kind"],
             "detail": json.loads(r["detail"])}
            for r in rows
        ]

    # -- reports (X, Z; issue 17) -----------------------------------------------
    # Three hooks a server journal (postgres.PgJournal) answers its own way: the report
    # SQL's connection inside a transaction, the rows of the day (here the running
    # totals the triggers keep; there summed from the rows), and the Z's reset.
    def _reads(self, tx: _Tx) -> Any:
        return self._db

    def _day_rows(self, db: Any, period: Period) -> dict[str, Any]:
        return reporting.totals(db, *self._scope)

    def _reset_day(self, db: Any) -> None:
        reporting.reset_totals(db, *self._scope)

    def report_data(self, period: Period) -> dict[str, Any]:
        """The rows of a report over ``period``, summed from the orders' own rows (see
        :mod:`pos_app.journal.reporting`): dates, and the cross-check of the totals."""
        with self._lock:
            return reporting.raw_figures(self._db, period, *self._scope)

    def store_report_data(self, period: Period) -> dict[str, Any]:
        """The rows of a report over ``period`` (by times) for every till of the outlet
        that journals here: the store report (on a journal server, all its tills)."""
        with self._lock:
            return reporting.raw_figures(self._db, period, self.outlet, None)

    def csv_data(self, period: Period) -> dict[str, Any]:
        """The lines and payments of the sales closed and voided in ``period``."""
        with self._lock:
            return {"sales": reporting.csv_rows(self._db, "order_closed", period, *self._scope),
                    "stornos": reporting.csv_rows(self._db, "order_voided", period, *self._scope)}

    def running_totals(self) -> dict[str, Any]:
        """The rows of a report since the last Z, from the running totals."""
        with self._lock:
            return reporting.totals(self._db, *self._scope)

    def open_state(self) -> dict[str, int]:
        """What stands open now: receipts not printed, undecided provider operations,
        open orders with something on them (a Z is refused while either of the last two)."""
        with self._lock:
            return reporting.now_state(self._db, *self._scope)

    def last_event_id(self) -> int:
        rows = self._query("SELECT MAX(id) FROM events WHERE outlet=? AND till=?", self._scope)
        return int(rows[0][0] or 0)

    def last_z(self) -> ReportRecord | None:
        rows = self._query("SELECT * FROM reports WHERE outlet=? AND till=? AND kind='Z'"
                           " ORDER BY number DESC LIMIT 1", self._scope)
        return _report(rows[0]) if rows else None

    def report(self, kind: str, number: int) -> ReportRecord | None:
        rows = self._query("SELECT * FROM reports WHERE outlet=? AND till=? AND kind=? AND number=?",
                           (*self._scope, kind, number))
        return _report(rows[0]) if rows else None

    def reports(self, kind: str = "Z") -> list[ReportRecord]:
        rows = self._query("SELECT * FROM reports WHERE outlet=? AND till=? AND kind=? ORDER BY number",
                           (*self._scope, kind))
        return [_report(r) for r in rows]

    def save_report(self, kind: str,
                    build: Callable[[int, Period, str | None, str, dict[str, Any]], tuple[str, str, bytes]]
                    ) -> ReportRecord:
        """Make an X or Z report in one transaction: its period runs from the last Z's
        end to this moment; ``build(number, period, period_from, period_to, rows)``
        returns (figures JSON, receipt text, printer bytes), stored with it.

        A Z takes the next number of the till's gap-free 'z_report' sequence and ends
        the day: the next X or Z starts after it. It is refused
        (:class:`DayCloseRefused`, nothing written) while a provider operation is
        undecided or an open order has something on it."""
        with self._tx() as tx:
            db = self._reads(tx)
            if kind == "Z":
                state = reporting.now_state(db, *self._scope)
                if state["undecided"] or state["open_orders"]:
                    raise DayCloseRefused(state["undecided"], state["open_orders"])
            last = db.execute("SELECT to_event, period_to FROM reports WHERE outlet=? AND till=? AND kind='Z'"
                              " ORDER BY number DESC LIMIT 1", self._scope).fetchone()
            after, period_from = (int(last[0]), last[1]) if last else (0, None)
            now = _now()
            number = tx.next("z_report" if kind == "Z" else "x_report")
            tx.event(None, "z_report" if kind == "Z" else "x_report", {"number": number})
            upto = int(tx.one("SELECT MAX(id) FROM events WHERE outlet=? AND till=?", self._scope))
            if period_from is None:
                first = db.execute("SELECT at FROM events WHERE outlet=? AND till=? ORDER BY id LIMIT 1",
                                   self._scope).fetchone()
                period_from = first[0] if first else None
            period = Period(after=after, upto=upto)
            figures, text, data = build(number, period, period_from, now, self._day_rows(db, period))
            if kind == "Z":
                self._reset_day(db)
            receipt_id = tx.insert_receipt(None, "report", text, data)
            report_id = tx.insert(
                "INSERT INTO reports (outlet, till, kind, number, from_event, to_event, period_from, period_to,"
                " figures, receipt_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (*self._scope, kind, number, after, upto, period_from, now, figures, receipt_id, now))
        return ReportRecord(report_id, kind, number, after, upto, period_from, now, figures, receipt_id, now)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def _op(row: sqlite3.Row) -> OpRecord:
    currency = row["currency"]
    return OpRecord(
        id=row["id"],
        outlet=row["outlet"],
        till=row["till"],
        reference=row["reference"],
        order_id=row["order_id"],
        tender_id=row["tender_id"],
        line_id=row["line_id"],
        provider=row["provider"],
        operation=row["operation"],
        code=row["code"],
        amount=_money(row["amount_minor"], currency),
        request=json.loads(row["request"]),
        before=json.loads(row["before"]) if row["before"] else None,
        before_at=row["before_at"],
        state=row["state"],
        refs=json.loads(row["refs"]),
        result=json.loads(row["result"]) if row["result"] else {},
        error=row["error"],
        flag=row["flag"],
        settle_by=row["settle_by"],
        checks=row["checks"],
        checked_at=row["checked_at"],
        sent_at=row["sent_at"],
        ended_at=row["ended_at"],
    )


def _report(row: sqlite3.Row) -> ReportRecord:
    return ReportRecord(
        id=row["id"], kind=row["kind"], number=row["number"], from_event=row["from_event"],
        to_event=row["to_event"], period_from=row["period_from"], period_to=row["period_to"],
        figures=row["figures"], receipt_id=row["receipt_id"], created_at=row["created_at"],
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


def _inserted_table(sql: str) -> str:
    match = re.match(r"\s*INSERT INTO (\w+)", sql)
    return match.group(1) if match else ""


class _Tx:
    """The statements of one open transaction, for one till.

    The store's SQL is written once, with ``?`` placeholders; a backend that
    speaks another dialect (``pos_app.journal.postgres``) overrides ``_run``
    (and ``insert``, which needs the new row's id)."""

    def __init__(self, db: Any, outlet: str = "", till: str = "") -> None:
        self._db = db
        self._outlet = outlet
        self._till = till
        self.created: list[tuple[str, int]] = []  # (table, id) of each row inserted, in order

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        """Run one statement; its cursor."""
        return self._db.execute(sql, args)

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        return self._run(sql, args).rowcount

    def insert(self, sql: str, args: tuple[Any, ...]) -> int:
        cur = self._run(sql, args)
        assert cur.lastrowid is not None
        self.created.append((_inserted_table(sql), cur.lastrowid))
        return cur.lastrowid

    def row(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._run(sql, args).fetchone()

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._run(sql, args).fetchone()[0]

    def next(self, name: str) -> int:
        """The next value of this till's counter ``name`` (in this transaction).

        The UPDATE locks the counter's row until the transaction ends (on a server,
        a second writer of the same till waits for it), and a rollback gives the
        value back: the numbers have no gaps and no duplicates."""
        self._run(
            "INSERT INTO sequences (outlet, till, name, value) VALUES (?,?,?,0)"
            " ON CONFLICT (outlet, till, name) DO NOTHING",
            (self._outlet, self._till, name),
        )
        self._run("UPDATE sequences SET value = value + 1 WHERE outlet=? AND till=? AND name=?",
                  (self._outlet, self._till, name))
        return int(self.one("SELECT value FROM sequences WHERE outlet=? AND till=? AND name=?",
                            (self._outlet, self._till, name)))

    def insert_receipt(self, order_id: int | None, kind: str, text: str, data: bytes) -> int:
        return self.insert(
            "INSERT INTO receipts (outlet, till, order_id, kind, text, escpos, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (self._outlet, self._till, order_id, kind, text, data, _now()),
        )

    def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run statement by statement instead. A
        # statement ends at a ";" that ends it for SQLite (a trigger's body holds several).
        statement = ""
        for piece in script.split(";"):
            statement += piece + ";"
            if sqlite3.complete_statement(statement):
                if statement.strip(" \n;"):
                    self._db.execute(statement)
                statement = ""
        if statement.strip(" \n;"):
            self._db.execute(statement)

    def event(self, order_id: int | None, kind: str, detail: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO events (outlet, till, at, order_id, kind, detail) VALUES (?,?,?,?,?,?)",
            (self._outlet, self._till, _now(), order_id, kind, json.dumps(detail, sort_keys=True)),
        )
