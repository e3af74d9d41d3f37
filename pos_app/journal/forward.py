"""The till journals locally, then forwards to the shop's server (issue 18, offline).

With ``[journal] url`` a till writes every step to its own SQLite journal
first (``ForwardingJournal``: the same store, the same checks, never waiting
on the network), and in the same local transaction to an *outbox*: the store
call itself (its name and arguments, a UUID, the rows it created). A
``Forwarder`` (a thread of the till) replays the outbox on the server, in
order, through the very same store code (``PgJournal``):

* **exactly once**: the server keeps the UUID of every call it applied
  (``forwarded``, primary key) in the transaction that applies it; a call
  sent again (an answer lost, the till killed after the server's commit) is
  skipped there. Local ids are mapped to the server's (``forward_ids``): the
  same code inserts the same rows in the same order on both backends.
* **in order**: by the outbox's sequence; the first call that fails stops
  the run (retried later), nothing after it is sent.
* **numbers**: a till numbers its own orders (per till, gap-free, locally);
  on the server the same calls draw the same numbers from the till's own
  counter, and a replay that would give another number is refused
  (``ForwardConflict``) instead of storing a receipt that disagrees.

While the server cannot be reached the till goes on selling and says it is
offline (``status()``: the dot and F12); voucher payments need the provider,
not the server. What it journaled meanwhile is forwarded when it is back.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pos_app.domain.money import Money
from pos_app.domain.order import Line, LineKind, Tender, TenderKind, TenderState
from pos_app.i18n import _
from pos_app.journal.records import JournalError, JournalWriteError
from pos_app.journal.store import Journal, _Tx, pinned_clock

_log = logging.getLogger(__name__)

# The store calls that change the journal: each is one transaction, forwarded as it was made.
FORWARDED = (
    "start_order", "allocate_number", "add_line", "void_line", "add_tender", "void_tender",
    "set_tender_problem", "set_line_problem", "add_line_refs", "close_order", "cancel_order",
    "void_closed_order", "begin_op", "reopen_op", "finish_op", "flag_op", "store_receipt", "mark_printed",
    "mark_print_failed", "record",
)
# Writing methods the till keeps to itself: an X or Z report is the till's own record, its
# figures summed from its own journal (issue 17), its receipt and printing marks too. A Z
# goes to the server all the same, as its figures (``file_z_report``): the store Z sums them.
LOCAL_ONLY = ("save_report",)
# Arguments that name a row of the journal: mapped from the till's ids to the server's.
ID_ARGS = {"order_id": "orders", "line_id": "lines", "tender_id": "tenders", "op_id": "provider_ops",
           "receipt_id": "receipts"}

OUTBOX_DDL = [
    """CREATE TABLE IF NOT EXISTS outbox (
        seq        INTEGER PRIMARY KEY,
        uuid       TEXT NOT NULL UNIQUE,
        method     TEXT NOT NULL,
        args       TEXT NOT NULL,
        created    TEXT NOT NULL,
        at         TEXT NOT NULL,
        sent_at    TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL",
    "CREATE TABLE IF NOT EXISTS outbox_origin (origin TEXT NOT NULL)",
]

SERVER_DDL = [
    """CREATE TABLE IF NOT EXISTS forwarded (
        uuid     TEXT PRIMARY KEY,
        origin   TEXT NOT NULL,
        outlet   TEXT NOT NULL,
        till     TEXT NOT NULL,
        seq      BIGINT NOT NULL,
        method   TEXT NOT NULL,
        at       TEXT NOT NULL,
        UNIQUE (origin, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS forward_ids (
        origin     TEXT NOT NULL,
        tbl        TEXT NOT NULL,
        local_id   BIGINT NOT NULL,
        server_id  BIGINT NOT NULL,
        PRIMARY KEY (origin, tbl, local_id)
    )""",
]


KEEP_SENT_DAYS = 7  # a forwarded change stays in the outbox this long (to look into), then goes


class ForwardConflict(JournalError):
    """The server would not take a call as the till made it (another number): forwarding stops."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# -- arguments as JSON ----------------------------------------------------------------------
_ENUMS = {cls.__name__: cls for cls in (LineKind, TenderKind, TenderState)}


def encode(value: Any) -> Any:
    if isinstance(value, Money):
        return {"$money": [value.minor, value.currency]}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Enum):
        return {"$enum": [type(value).__name__, value.value]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, (Line, Tender)):
        return {"$" + type(value).__name__.lower(): {f.name: encode(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, dict):
        return {"$dict": [[k, encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    (tag, body), = value.items()
    if tag == "$money":
        return Money(body[0], body[1])
    if tag == "$decimal":
        return Decimal(body)
    if tag == "$enum":
        return _ENUMS[body[0]](body[1])
    if tag == "$bytes":
        return base64.b64decode(body)
    if tag == "$line":
        return Line(**{k: decode(v) for k, v in body.items()})
    if tag == "$tender":
        return Tender(**{k: decode(v) for k, v in body.items()})
    if tag == "$dict":
        return {k: decode(v) for k, v in body}
    raise ValueError(f"unknown tag {tag}")


# -- the till's side: the local journal with its outbox ---------------------------------------------
@dataclass
class _Call:
    method: str
    args: dict[str, Any]
    at: str  # when it was made: every time it writes, here and on the server
    rows: bool = True  # the rows the call creates here are made on the server too (their ids mapped)


class ForwardingJournal(Journal):
    """The till's SQLite journal that also records each change in its outbox, in the
    same transaction, to be forwarded to the server."""

    def __init__(self, path: Path, outlet: str, till: str) -> None:
        super().__init__(path, outlet, till)
        self._call: _Call | None = None
        with self._lock:
            for statement in OUTBOX_DDL:
                self._db.execute(statement)
            row = self._db.execute("SELECT origin FROM outbox_origin").fetchone()
            if row is None:
                self._db.execute("INSERT INTO outbox_origin (origin) VALUES (?)", (str(uuid.uuid4()),))
                row = self._db.execute("SELECT origin FROM outbox_origin").fetchone()
        self.origin = str(row[0])

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        recorded = False
        with super()._tx() as tx:
            yield tx
            call = self._call
            if call is not None:  # in the call's own transaction: both or neither
                self._call = None
                recorded = True
                tx._run("INSERT INTO outbox (uuid, method, args, created, at) VALUES (?,?,?,?,?)",
                        (str(uuid.uuid4()), call.method, json.dumps(encode(call.args)),
                         json.dumps(tx.created if call.rows else []), call.at))
        if recorded and self.forwarder is not None:  # committed: on its way at once
            self.forwarder.wake()

    forwarder: Forwarder | None = None

    def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.stop()
        super().close()

    def is_new(self) -> bool:
        """Nothing journaled here yet (no counter, no change): its counters may be taken over."""
        return not self._query("SELECT 1 AS x FROM sequences LIMIT 1") and \
            not self._query("SELECT 1 AS x FROM outbox LIMIT 1")

    def take_over_counters(self, server: Any) -> dict[str, int]:
        """A new local journal goes on from the till's counters on the server (order
        numbers, references, Z reports), so a till set up again does not number from 1
        again. The counters it took."""
        counters = {"order_number": 0, "reference": 0}  # kept even at 0: taken over once
        counters.update({r["name"]: int(r["value"]) for r in server._query(
            "SELECT name, value FROM sequences WHERE outlet=? AND till=?", (self.outlet, self.till))})
        filed = server._query("SELECT MAX(number) AS n FROM till_z_reports WHERE outlet=? AND till=?",
                              (self.outlet, self.till))
        counters["z_report"] = max(counters.get("z_report", 0), int(filed[0]["n"] or 0))
        with self._lock:
            if not self.is_new():
                raise RuntimeError("the local journal is not new: its counters are its own")
            with self._tx() as tx:
                for name, value in counters.items():
                    tx.execute("INSERT INTO sequences (outlet, till, name, value) VALUES (?,?,?,?)",
                               (self.outlet, self.till, name, value))
        return counters

    def save_report(self, kind: str,
                    build: Callable[[int, Any, str | None, str, dict[str, Any]], tuple[str, str, bytes]]
                    ) -> Any:
        """An X or Z report of this till (its own record). A Z is also filed on the
        server, in the same local transaction as the Z (both or neither): its number,
        period and figures as made here, for the store Z (``file_z_report``)."""
        if kind != "Z":
            return super().save_report(kind, build)
        filed: dict[str, Any] = {}

        def capture(number: int, period: Any, period_from: str | None, period_to: str,
                    rows: dict[str, Any]) -> tuple[str, str, bytes]:
            figures, text, data = build(number, period, period_from, period_to, rows)
            filed.update(number=number, period_from=period_from, period_to=period_to, figures=figures)
            return figures, text, data

        with self._recording("file_z_report", filed, rows=False):
            return super().save_report(kind, capture)

    @contextmanager
    def _recording(self, method: str, args: dict[str, Any], *, rows: bool = True) -> Iterator[None]:
        """The store call in this block is recorded in the outbox as ``method(**args)``
        (in its own transaction, see ``_tx``), every time it writes pinned to one moment."""
        with self._lock, pinned_clock() as at:
            self._call = _Call(method, args, at, rows)
            try:
                yield
            finally:
                self._call = None

    def _local_receipt(self, receipt_id: int) -> bool:
        """A receipt made by a call that is not forwarded (an X or Z report's)."""
        rows = self._query("SELECT kind FROM receipts WHERE id=?", (receipt_id,))
        return bool(rows) and rows[0]["kind"] == "report"

    def backlog(self) -> int:
        """How many changes are not on the server yet."""
        rows = self._query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
        return int(rows[0]["n"])

    def unsent(self, limit: int) -> list[tuple[int, str, str, Any, list[tuple[str, int]], str]]:
        """The oldest changes not forwarded yet: (seq, uuid, method, args, created, at)."""
        rows = self._query("SELECT seq, uuid, method, args, created, at FROM outbox WHERE sent_at IS NULL"
                           " ORDER BY seq LIMIT ?", (limit,))
        return [(r["seq"], r["uuid"], r["method"], decode(json.loads(r["args"])),
                 [tuple(c) for c in json.loads(r["created"])], r["at"]) for r in rows]

    def mark_sent(self, up_to: int) -> None:
        """The changes up to ``up_to`` are on the server. Those sent more than KEEP_SENT_DAYS
        ago are dropped from the outbox (the journal keeps the sales; the last entry stays,
        so its sequence is never given again)."""
        cutoff = (datetime.now(UTC) - timedelta(days=KEEP_SENT_DAYS)).isoformat(timespec="milliseconds")
        with self._lock, self._tx() as tx:  # no call recorded: no outbox row for this one
            tx.execute("UPDATE outbox SET sent_at=? WHERE seq<=? AND sent_at IS NULL", (_now(), up_to))
            tx.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?"
                       " AND seq < (SELECT MAX(seq) FROM outbox)", (cutoff,))


def _recorded(name: str) -> Callable[..., Any]:
    base = getattr(Journal, name)
    signature = inspect.signature(base)

    def method(self: ForwardingJournal, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        if name in ("mark_printed", "mark_print_failed") and self._local_receipt(arguments["receipt_id"]):
            return base(self, **arguments)  # a report's receipt: the server never had it
        with self._lock:
            recorded = dict(arguments)
            if name == "close_order":
                render = arguments["render"]

                def capture(number: str) -> tuple[str, bytes]:
                    text, data = render(number)
                    recorded["render"] = {"number": number, "text": text, "data": data}
                    return text, data

                arguments["render"] = capture
            if name == "begin_op":
                make = arguments["reference"] or (lambda seq: f"{self.outlet}-{self.till}-{seq:06d}")

                def reference(seq: int) -> str:
                    recorded["reference"] = make(seq)
                    return str(recorded["reference"])

                arguments["reference"] = reference
            with self._recording(name, recorded):
                return base(self, **arguments)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


for _name in FORWARDED:
    setattr(ForwardingJournal, _name, _recorded(_name))


# -- the server's side: replaying the calls --------------------------------------------------------------
class _AlreadyForwarded(Exception):
    pass


def replay_store(url: str, outlet: str, till: str, **kwargs: Any) -> Any:
    """A server store that replays a till's outbox (PgJournal with the forwarding tables)."""
    from pos_app.journal.postgres import LOCK_KEY, PgJournal, _PgTx

    class ReplayJournal(PgJournal):
        def __init__(self) -> None:
            super().__init__(url, outlet, till, **kwargs)
            self._entry: tuple[str, str, int, str, list[tuple[str, int]]] | None = None
            self._conn: Any = None
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                for statement in SERVER_DDL:
                    conn.execute(statement)

        @contextmanager
        def batch(self, size: int = 1) -> Iterator[Any]:
            """One server transaction for ``size`` calls (each in its own savepoint)."""
            with self._lock, self._pool.connection() as conn, \
                    self.watch(conn, self.cut_after_s + 0.05 * size), conn.transaction():
                self._conn = conn
                try:
                    yield conn
                finally:
                    self._conn = None

        @contextmanager
        def _tx(self) -> Iterator[_Tx]:
            assert self._conn is not None and self._entry is not None
            origin, key, seq, method, local = self._entry
            with self._conn.transaction():
                tx = _PgTx(self._conn, self.outlet, self.till)
                got = self._conn.execute(
                    "INSERT INTO forwarded (uuid, origin, outlet, till, seq, method, at) VALUES (%s,%s,%s,%s,%s,%s,%s)"
                    " ON CONFLICT (uuid) DO NOTHING RETURNING uuid",
                    (key, origin, self.outlet, self.till, seq, method, _now())).fetchone()
                if got is None:
                    raise _AlreadyForwarded
                yield tx
                if [t for t, _ in local] != [t for t, _ in tx.created]:
                    raise ForwardConflict(_("change {seq} of this till ({method}) would make other rows on the server "
                                            "than here ({theirs} against {ours})").format(
                                                seq=seq, method=method, theirs=tx.created, ours=local))
                for (table, local_id), (_t, server_id) in zip(local, tx.created, strict=True):
                    self._conn.execute("INSERT INTO forward_ids (origin, tbl, local_id, server_id)"
                                       " VALUES (%s,%s,%s,%s)", (origin, table, local_id, server_id))

        def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
            if self._conn is None:
                return super()._query(sql, args)
            from psycopg.rows import dict_row

            from pos_app.journal.postgres import pg_sql

            with self._conn.cursor(row_factory=dict_row) as cur:
                cur.execute(pg_sql(sql), args)
                return cur.fetchall()

        def file_z_report(self, number: int, period_from: str | None, period_to: str, figures: str) -> None:
            """A Z report of the till as the till made it, kept for the store Z. The same
            number with other figures (a till set up again that numbered its Z reports
            anew) is refused: the store Z must not sum two different days as one."""
            with self._tx() as tx:
                tx.execute("INSERT INTO till_z_reports (outlet, till, number, period_from, period_to, figures)"
                           " VALUES (?,?,?,?,?,?) ON CONFLICT (outlet, till, number) DO NOTHING",
                           (self.outlet, self.till, number, period_from, period_to, figures))
                kept = tx.one("SELECT figures FROM till_z_reports WHERE outlet=? AND till=? AND number=?",
                              (self.outlet, self.till, number))
                if kept != figures:
                    raise ForwardConflict(_("Z report {number} of this till is on the server with other figures")
                                          .format(number=number))

        def server_id(self, origin: str, table: str, local_id: int) -> int:
            row = self._conn.execute("SELECT server_id FROM forward_ids WHERE origin=%s AND tbl=%s AND local_id=%s",
                                     (origin, table, local_id)).fetchone()
            if row is None:
                raise ForwardConflict(_("{table} {local_id} of this till is not on the server").format(
                    table=table, local_id=local_id))
            return int(row[0])

    return ReplayJournal()


def apply(server: Any, origin: str, entry: tuple[int, str, str, Any, list[tuple[str, int]], str]) -> bool:
    """Replay one outbox call on ``server`` (inside its batch), at the till's time of the
    call. False: it was there already."""
    seq, key, method, args, created, at = entry
    args = dict(args)
    for name, table in ID_ARGS.items():
        if args.get(name) is not None:
            args[name] = server.server_id(origin, table, args[name])
    number = None
    if method == "close_order":
        receipt = args["render"]
        number = receipt["number"]
        args["render"] = lambda _number: (receipt["text"], receipt["data"])
    if method == "begin_op":
        reference = args["reference"]
        args["reference"] = lambda _seq: reference
    server._entry = (origin, key, seq, method, created)
    try:
        with pinned_clock(at):
            result = getattr(server, method)(**args)
    except _AlreadyForwarded:
        return False
    finally:
        server._entry = None
    if number is not None and server.format_number(result.number) != number:
        raise ForwardConflict(_("order {number} of this till would get number {other} on the server").format(
            number=number, other=server.format_number(result.number)))
    return True


class Forwarder:
    """Forwards a till's outbox to the server: ``forward()`` once, or ``start()`` a thread."""

    def __init__(self, local: ForwardingJournal, connect: Callable[[], Any], *, batch: int = 500,
                 interval_s: float = 0.5, max_backoff_s: float = 10.0) -> None:
        self.local = local
        self._connect = connect
        self._server: Any = None
        self.batch = batch
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.ping_s = 10.0  # idle: a look at the server this often
        self._contact = 0.0
        self.online: bool | None = None  # None: not tried yet
        self.error: str | None = None
        self.conflict: str | None = None
        self.forwarded = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def forward(self) -> int:
        """Send every unsent call, in order; how many the server applied now. Raises
        JournalWriteError (offline) or ForwardConflict; what was sent before stays sent."""
        import psycopg  # a forwarder exists only with [journal] url: the driver is there

        done = 0
        if self._server is None:  # also with nothing to send: the status says what is known
            self._server = self._connect()
            self._contact = time.monotonic()
        while True:
            entries = self.local.unsent(self.batch)
            if not entries:
                if time.monotonic() - self._contact > self.ping_s:  # idle: is it still there?
                    self._server._query("SELECT 1 AS one")
                    self._contact = time.monotonic()
                return done
            try:
                with self._server.batch(len(entries)):
                    for entry in entries:
                        done += apply(self._server, self.local.origin, entry)
            except psycopg.OperationalError as exc:  # the connection lost while committing the batch
                raise JournalWriteError(str(exc), "offline") from None
            self.local.mark_sent(entries[-1][0])
            self.forwarded += len(entries)
            self._contact = time.monotonic()
            self.online, self.error = True, None

    def status(self) -> dict[str, Any]:
        return {"online": self.online, "backlog": self.local.backlog(), "error": self.error,
                "conflict": self.conflict, "forwarded": self.forwarded}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="journal-forwarder", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._server is not None:
            self._server.close()
            self._server = None

    def _drop_server(self) -> None:
        if self._server is not None:
            try:
                self._server.close()
            except (JournalError, OSError) as close_error:  # it is gone anyway
                _log.debug("closing the journal server's pool: %s", close_error)
            self._server = None

    def _run(self) -> None:
        backoff = self.interval_s
        while not self._stop.is_set():
            try:
                self.forward()
                self.online, self.error, backoff = True, None, self.interval_s
            except ForwardConflict as exc:
                self.online, self.conflict = True, str(exc)
                _log.error("journal forwarding stopped: %s", exc)
                return
            except JournalError as exc:  # offline (or refused): said on the status screen, retried
                self.online, self.error = False, str(exc).strip().splitlines()[0] if str(exc) else repr(exc)
                self._drop_server()
                backoff = min(backoff * 2, self.max_backoff_s)
            except Exception:  # noqa: BLE001 - a bug must not end the thread silently: logged, said, retried
                _log.exception("journal forwarding failed")
                self.online, self.error = False, _(
                    "forwarding to the journal server failed unexpectedly (see the log); the till keeps selling "
                    "on its own journal and tries again — if this stays, restart the till")
                self._drop_server()
                backoff = min(backoff * 2, self.max_backoff_s)
            self._wake.wait(backoff if not self.online else self.interval_s)
            self._wake.clear()
        time.sleep(0)


def unsent_count(path: Path) -> int | None:
    """How many changes in the journal file ``path`` are not on the server yet, read
    without writing (None: it has no outbox)."""
    import sqlite3

    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])
    except sqlite3.Error:
        return None
