"""Backing up and checking a journal, also while the till runs.

A journal is the file *and* its ``-wal``: the latest sales may be only in the
``-wal`` until SQLite copies them into the file (a checkpoint). A copy of the
file alone can miss them, or every order. :func:`backup_journal` copies
through SQLite's online backup API, which reads the journal as the till sees
it (the ``-wal`` included) in one consistent snapshot, without stopping the
till; the copy is a single file, checked (``integrity_check``, the same
orders) and private (0600). :func:`inspect_journal` reads a journal without
changing it and says whether it can be trusted.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pos_app.domain.codes import mask_code
from pos_app.files import make_private_dir, open_private
from pos_app.i18n import N_, _
from pos_app.journal.records import JournalError, OpState
from pos_app.journal.store import (
    SQLITE_HEADER,
    behind_message,
    last_number_path,
    read_last_number,
    wal_files,
)

__all__ = ["BackupResult", "JournalReport", "backup_journal", "inspect_journal"]


def _number(till: str, number: int) -> str:
    return f"{till}-{number:04d}"


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes the journal (a running till keeps writing it)."""
    uri = path.resolve().as_uri() + "?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    db.execute("PRAGMA busy_timeout=5000")
    return db


@dataclass
class _Counts:
    orders: dict[str, int]
    highest: int

    @property
    def total(self) -> int:
        return sum(self.orders.values())


def _counts(db: sqlite3.Connection, outlet: str, till: str) -> _Counts:
    orders = {status: count for status, count in db.execute(
        "SELECT status, COUNT(*) FROM orders WHERE outlet=? AND till=? GROUP BY status", (outlet, till))}
    seq = db.execute("SELECT MAX(value) FROM sequences WHERE outlet=? AND till=? AND name='order_number'",
                     (outlet, till)).fetchone()[0]
    top = db.execute("SELECT MAX(number) FROM orders WHERE outlet=? AND till=?", (outlet, till)).fetchone()[0]
    return _Counts(orders, max(seq or 0, top or 0))


def _integrity(db: sqlite3.Connection) -> list[str]:
    """SQLite's integrity_check: [] when the journal is sound, else its findings."""
    rows = [row[0] for row in db.execute("PRAGMA integrity_check(20)")]
    return [] if rows == ["ok"] else rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- backup -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupResult:
    path: Path
    orders: int
    highest: str | None  # the highest order number in the copy


def backup_destination(journal: Path, dest: Path | str, now: datetime | None = None) -> Path:
    """``dest`` itself, or — for a folder (one that exists, or a name ending in ``/``,
    created 0700) — a new file in it named after the journal and the time."""
    folder = str(dest).endswith(("/", os.sep))
    dest = Path(dest)
    if folder or dest.is_dir():
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        return dest / f"{journal.stem}-{stamp}{journal.suffix or '.sqlite'}"
    return dest


def backup_journal(journal: Path, dest: Path | str, outlet: str, till: str) -> BackupResult:
    """Copy ``journal`` (with what its ``-wal`` holds) to ``dest`` (a new file, or a
    folder: see :func:`backup_destination`), consistently, while the till may be writing; the copy is checked and
    0600. Raises JournalError with what went wrong; a failed copy is removed."""
    if not journal.is_file():
        raise JournalError(_('there is no journal at {journal}: check --config (or POS_CONFIG) and [journal] path').format(journal=journal))
    target = backup_destination(journal, dest)
    if os.path.lexists(target):
        raise JournalError(_('{target} already exists: name a new file, or a folder (the copy is then named after the journal and the time)').format(target=target))
    if target.resolve() in {journal.resolve(), *(p.resolve() for p in wal_files(journal))}:
        raise JournalError(_('{target} is the journal itself: name another file or a folder').format(target=target))
    partial = target.with_name(target.name + ".partial")
    leftovers = [partial, *wal_files(partial)]
    try:
        make_private_dir(target.parent, tighten_existing=False)
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        os.close(open_private(partial, os.O_WRONLY | os.O_TRUNC))  # 0600 before SQLite writes it
        counts = _copy(journal, partial, outlet, till)
        _verify(partial, counts, outlet, till)
        _fsync(partial)
        try:
            os.link(partial, target)  # never replaces a file that appeared meanwhile
        except FileExistsError:
            raise JournalError(_('{target} already exists: name a new file or a folder').format(target=target)) from None
        except OSError:  # no hard links here
            if os.path.lexists(target):
                raise JournalError(_('{target} already exists: name a new file or a folder').format(target=target)) from None
            os.rename(partial, target)
        _fsync(target.parent)
    except sqlite3.Error as exc:
        raise JournalError(_('the backup of {journal} to {target} failed: {exc}').format(journal=journal, target=target, exc=exc)) from None
    except OSError as exc:
        raise JournalError(_('the backup of {journal} to {target} failed: {strerror} ({filename})').format(journal=journal, target=target, strerror=exc.strerror or exc, filename=exc.filename or target)) from None
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
    return BackupResult(target, counts.total, _number(till, counts.highest) if counts.highest else None)


def _copy(journal: Path, partial: Path, outlet: str, till: str) -> _Counts:
    """The online backup, in one step, inside one read transaction: the orders counted
    are those of the snapshot copied."""
    _check_header(journal)
    source = _read_only(journal)
    try:
        source.execute("BEGIN")
        counts = _counts(source, outlet, till)  # starts the read snapshot
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(target, pages=-1)
            # One self-contained file: reading the copy later makes no -wal beside it.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
        source.execute("COMMIT")
    finally:
        source.close()
    return counts


def _verify(copy: Path, expected: _Counts, outlet: str, till: str) -> None:
    db = sqlite3.connect(copy, isolation_level=None)
    try:
        problems = _integrity(db)
        got = _counts(db, outlet, till)
    finally:
        db.close()  # the last connection: a -wal it made is folded back in and removed
    if problems:
        raise JournalError(_("the copy {copy} failed SQLite's integrity check ({problems}); nothing was kept. Run `pos journal check` on the journal").format(copy=copy, problems=problems[0]))
    if (got.orders, got.highest) != (expected.orders, expected.highest):
        raise JournalError(_("the copy {copy} does not hold the journal's orders ({total} instead of {expected}); nothing was kept").format(copy=copy, total=got.total, expected=expected.total))


def _check_header(journal: Path) -> None:
    with journal.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        why = _("the file is empty") if not head else _("it is not a SQLite database")
        raise JournalError(_("the journal {journal} is damaged ({problem}): run `pos journal check`").format(
            journal=journal, problem=why))


# -- check ------------------------------------------------------------------------------
# The order states as ``pos journal check`` counts them (the journal's words, marked).
ORDER_STATES = {"open": N_("open"), "closed": N_("closed"), "cancelled": N_("cancelled"), "voided": N_("voided")}


@dataclass
class JournalReport:
    """What ``pos journal check`` says; ``problems`` empty means the journal can be trusted."""

    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    orders: dict[str, int] = field(default_factory=dict)
    highest: str | None = None
    known: str | None = None
    unprinted: int = 0
    open_ops: list[str] = field(default_factory=list)
    read: bool = False  # the journal could be read (else only the problem is said)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report, one line each; ``PROBLEM:`` starts a problem's line in every
        language (scripts look for it)."""
        out = [_("journal: {path}").format(path=self.path)]
        if not self.read:
            return out + [f"PROBLEM: {problem}" for problem in self.problems] + [_("journal NOT OK")]
        counts = ", ".join(_("{count} {status}").format(count=n, status=_(ORDER_STATES.get(status, status)))
                           for status, n in sorted(self.orders.items())) or _("none")
        out.append(_("orders: {count} ({counts})").format(count=sum(self.orders.values()), counts=counts))
        out.append(_("last order number in the journal: {number}").format(number=self.highest or _("none yet")))
        out.append(_("last order number the till gave: {number} ({file})").format(
            number=self.known or _("not recorded"), file=last_number_path(self.path).name))
        out.append(_("receipts not printed: {count}").format(count=self.unprinted))
        out.append(_("open provider operations: {count}").format(count=len(self.open_ops)))
        out += [f"  {op}" for op in self.open_ops]
        out += [_("note: {note}").format(note=note) for note in self.notes]
        out += [f"PROBLEM: {problem}" for problem in self.problems]
        out.append(_("journal OK") if self.ok else _("journal NOT OK"))
        return out


def inspect_journal(journal: Path, outlet: str, till: str) -> JournalReport:
    """Check ``journal`` without writing it: integrity, orders, the last order number
    against the one kept outside SQLite, unprinted receipts, open provider operations."""
    report = JournalReport(journal)
    if not journal.is_file():
        report.problems.append(_("there is no journal at {journal}").format(journal=journal))
        return report
    try:
        _check_header(journal)
    except JournalError as exc:
        report.problems.append(str(exc))
        return report
    except OSError as exc:
        report.problems.append(_("{journal} cannot be read: {problem}").format(journal=journal,
                                                                                problem=exc.strerror or exc))
        return report
    try:
        db = _read_only(journal)
    except sqlite3.Error as exc:
        report.problems.append(_("{journal} cannot be opened: {problem}").format(journal=journal, problem=exc))
        return report
    try:
        findings = _integrity(db)
        if findings:
            report.problems.append(_("SQLite's integrity check failed: {findings}").format(
                findings="; ".join(findings[:3])))
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"orders", "sequences", "receipts", "provider_ops"} <= tables:
            report.problems.append(_("it is not a journal of the till (its tables are missing)"))
            return report
        counts = _counts(db, outlet, till)
        report.read = True
        report.orders = counts.orders
        report.highest = _number(till, counts.highest) if counts.highest else None
        report.unprinted = db.execute(
            "SELECT COUNT(*) FROM receipts WHERE outlet=? AND till=? AND printed_at IS NULL"
            " AND order_id IS NOT NULL", (outlet, till)).fetchone()[0]
        for op, provider, operation, code, amount, currency, sent_at, state in db.execute(
            "SELECT id, provider, operation, code, amount_minor, currency, sent_at, state FROM provider_ops"
            " WHERE outlet=? AND till=? AND state IN (?, ?) ORDER BY id", (outlet, till, *OpState.OPEN)):
            money = "" if amount is None else f" {currency} {amount / 100:.2f}"
            report.open_ops.append(_("#{id} {provider} {operation} {code}{amount}, sent {sent_at}, {state} (the till "
                                     "settles it at its next start)").format(
                id=op, provider=provider, operation=operation, code=mask_code(code), amount=money, sent_at=sent_at,
                state=state))
        known = read_last_number(journal, outlet, till)
        report.known = _number(till, known) if known else None
        if known and known > counts.highest:
            report.problems.append(behind_message(journal, report.highest, _number(till, known)))
    except sqlite3.Error as exc:
        report.problems.append(_("{journal} cannot be read: {problem}").format(journal=journal, problem=exc))
    finally:
        db.close()
    wal = wal_files(journal)[0]
    if wal.exists() and wal.stat().st_size:
        report.notes.append(_("{wal} holds sales not yet in {journal} (the till is running, or did not close "
                              "cleanly): copy the journal only with `pos journal backup`").format(
            wal=wal.name, journal=journal.name))
    return report
