"""``pos report ...``: the day close and the figures for the accountant, from the journal.

* ``pos report x``: the X report (the figures since the last Z); journaled, nothing else changes.
* ``pos report z``: close the day with a Z report (asks first; ``--yes`` for scripts);
  refused while a provider operation is undecided or an order is open.
* ``pos report z --number N [--csv FILE]``: a Z report again, from its journaled
  figures; ``--csv`` writes its receipt lines and payments.
* ``pos report sales --from YYYY-MM-DD --to YYYY-MM-DD [--csv FILE]``: the lines and
  payments of the sales of those days (both included).
* ``pos report liability --from ... --to ...``: vouchers sold or issued, redeemed
  here and net outstanding, per provider, from this outlet's own operations.
* ``pos report store --from ... --to ...``: the figures of every till of the outlet
  (with ``[journal] url``: read on the server, all its tills); changes nothing.
* ``pos report store-z``: close the store's day (journal server): one report adding up
  the Z reports every till made since the last store Z (asks first; ``--yes``);
  ``--number N`` shows store Z N again.

Exit codes: 0 done; 1 refused or failed (said why); 2 usage, configuration or a bad date.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pos_app import i18n
from pos_app.config import Config, ConfigError, default_config_path, load_config, use_outlet_language
from pos_app.files import PRIVATE_UMASK
from pos_app.i18n import _, ngettext
from pos_app.journal import Journal, JournalError
from pos_app.journal.records import NothingToClose
from pos_app.receipts import Receipt, liability_receipt, load_templates
from pos_app.services.reports import ReportDesk, ReportInputError, parse_day
from pos_app.services.results import CheckoutError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SQLITE_MAX = 2**63 - 1  # the largest INTEGER SQLite holds


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` (x, z, sales, liability) on ``pos``'s subparsers."""
    report = subparsers.add_parser(
        "report", help=_("X and Z reports (day close), sales CSV, voucher liability"),
        description=_("Reports from the outlet's journal: the X report, the Z report that closes the "
                      "day, the sales of a period as CSV for the accountant and the voucher liability."),
    )
    actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help=_("outlet configuration (default: $POS_CONFIG, else the demo)"))
    actions.add_parser("x", parents=[common], help=_("the figures since the last Z report (changes nothing)"))
    z = actions.add_parser(
        "z", parents=[common], help=_("close the day with a Z report, or show Z report N again"),
        description=_("Without --number: close the day (asks first). With --number: show that Z report "
                      "again from its journaled figures; --csv writes its lines and payments."))
    z.add_argument("--yes", action="store_true", help=_("close the day without asking (for scripts)"))
    z.add_argument("--number", type=int, metavar="N", help=_("show Z report N again instead of closing the day"))
    z.add_argument("--csv", metavar="FILE", help=_("with --number: write its lines and payments as CSV ('-': "
                                                   "standard output)"))
    store_z = actions.add_parser(
        "store-z", parents=[common],
        help=_("close the store's day: one report adding up every till's Z reports (journal server)"),
        description=_("Adds up the Z reports every till of the outlet made since the last store Z (each "
                      "till closes its own day first, F10 z), numbered per outlet; asks first. With "
                      "--number: show that store Z report again."))
    store_z.add_argument("--yes", action="store_true", help=_("close the store's day without asking (for scripts)"))
    store_z.add_argument("--number", type=int, metavar="N", help=_("show store Z report N again"))
    for name, text in (("sales", _("the lines and payments of the sales of a period, as CSV")),
                       ("liability", _("vouchers sold, redeemed here and outstanding, per provider")),
                       ("store", _("the figures of every till of the outlet over a period (with a journal "
                                   "server: all its tills); changes nothing"))):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                            help=_("the first day (included)"))
        action.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                            help=_("the last day (included)"))
        if name == "sales":
            action.add_argument("--csv", metavar="FILE", default="-",
                                help=_("the CSV file to write (default '-': standard output)"))
        if name == "liability":
            action.add_argument("--store", action="store_true",
                                help=_("of every till of the outlet (with a journal server: all its tills)"))
    return report


def _say(message: str, code: int) -> int:
    print(_("pos report: {message}").format(message=message), file=sys.stderr)
    return code


def _paper(config: Config) -> Any:
    def paper(receipt: Receipt) -> bytes:
        return receipt.escpos(config.printer.profile, config.printer.codepage)
    return paper


def run_report(args: argparse.Namespace) -> int:
    """Run a parsed ``pos report ...`` command; the exit code."""
    os.umask(PRIVATE_UMASK)
    try:
        config = load_config(getattr(args, "config", None) or default_config_path())
        templates = load_templates(config.receipts, config.printer.width, config.printer.codepage)
    except ConfigError as exc:
        return _say(str(exc), EXIT_USAGE)
    use_outlet_language(config)
    # what goes wrong is logged in the till's log (redacted), not printed a second time
    # next to the message (Python's last-resort handler would print bare log lines)
    from pos_app.files import setup_log_file
    from pos_app.providers.base import clean_log_text

    setup_log_file(config.data_dir(), clean=clean_log_text)
    try:
        start = end = None
        if args.report_command in ("sales", "liability", "store"):
            start, end = parse_day(args.start), parse_day(args.end)
            if end < start:
                raise ReportInputError(_("the period ends ({end}) before it starts ({start})").format(
                    start=start.isoformat(), end=end.isoformat()))
        if args.report_command == "z" and args.number is not None and args.number < 1:
            raise ReportInputError(_("a Z report number is 1 or more"))
        if args.report_command == "z" and args.csv and args.number is None:
            raise ReportInputError(_("--csv needs --number N: the CSV of a Z report already made"))
    except ReportInputError as exc:
        return _say(str(exc), EXIT_USAGE)
    if args.report_command == "store-z":
        return _store_z(config, templates, args)
    if config.journal.url and (args.report_command == "store" or getattr(args, "store", False)):
        return _store_from_server(config, templates, start, end, liability=args.report_command == "liability")
    path = config.journal_path()
    csv_file = getattr(args, "csv", None)
    if csv_file and csv_file != "-" and _journal_file(Path(csv_file), path):
        return _say(_("{file} is one of the till's journal files: the CSV would destroy the record of every "
                      "sale. Name another file.").format(file=csv_file), EXIT_USAGE)
    if not path.exists():
        return _say(_("there is no journal at {path} yet: nothing was sold at this till").format(path=path),
                    EXIT_FAILED)
    try:
        journal = _till_journal(config, path)
    except JournalError as exc:
        return _say(str(exc), EXIT_FAILED)
    try:
        desk = ReportDesk(config, journal, templates, _paper(config))
        return _run(args, config, desk, start, end)
    except (JournalError, CheckoutError) as exc:
        return _say(str(exc), EXIT_FAILED)
    except ReportInputError as exc:
        return _say(str(exc), EXIT_USAGE)
    except OSError as exc:  # a write error (disk full, a closed pipe) names no file: the one being written
        written = exc.filename if exc.filename is not None else csv_file or "-"
        return _say(_("cannot write {file}: {problem}").format(file=written, problem=exc.strerror or exc),
                    EXIT_FAILED)
    finally:
        journal.close()


def _store_from_server(config: Config, templates: Any, start: date | None, end: date | None, *,
                       liability: bool = False) -> int:
    """``pos report store`` (or ``liability --store``) with a journal server: every
    till's figures, read on the server."""
    assert start is not None and end is not None

    def show(desk: ReportDesk) -> int:
        if liability:
            _print_liability(desk, config, start, end, store=True)
        else:
            print(desk.render(desk.store_report(start, end))[0], end="")
        return EXIT_OK

    return _on_server(config, templates, show)


def _on_server(config: Config, templates: Any, work: Callable[[ReportDesk], int]) -> int:
    """``work`` with a report desk on the journal server of ``[journal] url``; what goes
    wrong there said in one line (exit 1), the connection closed."""
    try:
        server = _server(config)
    except JournalError as exc:
        return _say(str(exc), EXIT_FAILED)
    try:
        return work(ReportDesk(config, server, templates, _paper(config)))
    except NothingToClose as exc:  # a store Z: another one took them meanwhile
        return _say(_nothing_to_close(exc.last), EXIT_FAILED)
    except (JournalError, ReportInputError) as exc:
        return _say(str(exc), EXIT_FAILED)
    finally:
        server.close()


def _till_journal(config: Config, path: Path) -> Journal:
    """The till's own journal. With a journal server, as the till keeps it: a Z made here
    also waits in its outbox, forwarded by the till (running or at its next start)."""
    if not config.journal.url:
        return Journal(path, config.outlet.id, config.outlet.till)
    from pos_app.journal.forward import ForwardingJournal

    return ForwardingJournal(path, config.outlet.id, config.outlet.till)


def _nothing_to_close(last: int) -> str:
    if last:
        return _("no till has closed its day since store Z report {number}: close each till's day with its Z "
                 "report first (F10, z), then the store's").format(number=last)
    return _("no till has closed its day yet: close each till's day with its Z report first (F10, z), then the "
             "store's")


def _store_z(config: Config, templates: Any, args: argparse.Namespace) -> int:
    """``pos report store-z``: close the store's day on the journal server, or show one again."""
    if not config.journal.url:
        return _say(_("a store Z adds up the Z reports of every till on the journal server: set [journal] url "
                      "(README, \"PostgreSQL journal\"); a single till closes its day with `pos report z`"),
                    EXIT_USAGE)
    if args.number is not None and args.number < 1:
        return _say(_("a store Z report number is 1 or more"), EXIT_USAGE)
    def close(desk: ReportDesk) -> int:
        if args.number is not None:
            record = desk.journal.store_z(args.number) if args.number <= SQLITE_MAX else None  # type: ignore[attr-defined]
            if record is None:
                return _say(_("there is no store Z report number {number} for outlet {outlet}").format(
                    number=args.number, outlet=config.outlet.id), EXIT_FAILED)
            print(desk.store_z_text(record), end="")
            return EXIT_OK
        day = desk.store_day()
        if not day["open"]:
            return _say(_nothing_to_close(day["last"]), EXIT_FAILED)
        if not args.yes and not _confirm_store_z(day, config.outlet.currency):
            print(_("Store day not closed."), file=sys.stderr)
            return EXIT_FAILED
        asked = None if args.yes else tuple((z.till, z.number) for z in day["open"])
        record = desk.store_z_report(asked)
        print(desk.store_z_text(record), end="")
        return EXIT_OK

    return _on_server(config, templates, close)


def _confirm_store_z(day: dict[str, Any], outlet_currency: str) -> bool:
    """The question before a store Z, on stderr (the report alone goes to stdout)."""
    numbers: dict[str, list[str]] = {}
    for z in day["open"]:
        numbers.setdefault(z.till, []).append(str(z.number))
    lines = [_("Close the store's day with store Z report {number}? It adds up:").format(number=day["last"] + 1)]
    lines += [_("  till {till}: Z {numbers}").format(till=till, numbers=", ".join(zs)) for till, zs in numbers.items()]
    for z in day["open"]:
        currency = json.loads(z.figures).get("currency")
        if currency != outlet_currency:
            lines.append(_("  till {till}: Z {number} is in {other}: held by this store Z but not added (this "
                           "outlet counts in {currency})").format(till=z.till, number=z.number, other=currency,
                                                                 currency=outlet_currency))
    for gap in day["gaps"]:
        lines.append(_("  till {till}: {sales} on the server in no Z, before its Z {number} (a till set up again): "
                       "added from the server's rows").format(
                           till=gap["till"], number=gap["before"],
                           sales=ngettext("{count} sale", "{count} sales", gap["raw"]["sales"]["orders"]).format(
                               count=gap["raw"]["sales"]["orders"])))
    if day["not_closed"]:
        lines.append(_("Not in it (sold after their last Z: in a later store Z, once they close their day):"))
        lines += [_("  till {till}: {sales}").format(till=till, sales=ngettext("{count} sale", "{count} sales",
                                                                               count).format(count=count))
                  for till, count in day["not_closed"].items()]
    lines.append(_("[y/N] "))
    return _ask("\n".join(lines), _("No answer: a script closes the store's day with --yes."))


def _ask(question: str, no_answer: str) -> bool:
    """A yes/no question on stderr (with ``report z > z.txt`` it is seen, and only the
    report is in the file); no answer at all (a script without --yes) is a no, said."""
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        print("\n" + no_answer, file=sys.stderr)
        return False
    return answer.strip().lower() in (_("y"), _("yes"), "y", "yes")


def _server(config: Config) -> Any:
    """The journal server of ``[journal] url``, as this till (a report may take a while:
    a minute per statement)."""
    from pos_app.journal.postgres import PgJournal
    from pos_app.services.setup import journal_password

    return PgJournal(config.journal.url or "", config.outlet.id, config.outlet.till,
                     password=journal_password(config), connect_timeout_s=config.journal.connect_timeout_s,
                     statement_timeout_s=max(config.journal.statement_timeout_s, 60.0))


def _journal_file(target: Path, journal: Path) -> bool:
    """Whether ``target`` is the journal or a file the journal keeps next to it (-wal,
    -shm, the last-number file, the lock), also through a link or another spelling."""
    names = [journal, *(journal.with_name(journal.name + tail) for tail in ("-wal", "-shm", "-journal",
                                                                            ".last-number", ".lock"))]
    for name in names:
        try:
            if target.resolve() == name.resolve() or (target.exists() and name.exists()
                                                      and os.path.samefile(target, name)):
                return True
        except OSError:
            continue
    return False


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    with open(target, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _rows(text: str) -> int:
    """The records of a CSV text, its header not counted (a name may hold a line break)."""
    return sum(1 for _row in csv.reader(io.StringIO(text))) - 1


def _run(args: argparse.Namespace, config: Config, desk: ReportDesk, start: date | None,
         end: date | None) -> int:
    command = args.report_command
    if command == "x":
        made = desk.x_report()
        print(desk.journal.receipt(made.record.receipt_id).text, end="")
        return EXIT_OK
    if command == "z" and args.number is not None:
        # a number SQLite cannot hold is no Z report either (not an OverflowError)
        record = desk.journal.report("Z", args.number) if args.number <= SQLITE_MAX else None
        if record is None:
            return _say(_("there is no Z report number {number} at this till").format(number=args.number),
                        EXIT_FAILED)
        if args.csv:
            _write(args.csv, desk.z_csv(args.number))
            if args.csv != "-":
                print(_("Z report {number}: lines and payments written to {file}").format(
                    number=args.number, file=args.csv))
            return EXIT_OK
        print(desk.reprint_text(record)[0], end="")
        return EXIT_OK
    if command == "z":
        refusal = desk.refusal()
        if refusal is not None:
            return _say(refusal, EXIT_FAILED)
        if not args.yes:
            last = desk.journal.last_z()
            number = (last.number if last else 0) + 1
            question = _("Close the day with Z report {number}? The next report starts after it. [y/N] ").format(
                number=number)
            if not _ask(question, _("No answer: a script closes the day with --yes.")):
                print(_("Day not closed."), file=sys.stderr)
                return EXIT_FAILED
        made = desk.z_report()
        print(desk.journal.receipt(made.record.receipt_id).text, end="")
        if config.journal.url:  # it waits in the till's outbox, like its sales
            print(_("Z report {number} goes to the journal server with the till's next forwarding (while the till "
                    "runs, or when it starts again): a till that stays off is not in the store Z.").format(
                        number=made.record.number), file=sys.stderr)
        return EXIT_OK
    assert start is not None and end is not None
    if command == "sales":
        text = desk.sales_csv(start, end)
        _write(args.csv, text)
        if args.csv != "-":
            print(_("Sales {start} to {end}: {count} rows written to {file}").format(
                start=start.isoformat(), end=end.isoformat(), count=_rows(text), file=args.csv))
        return EXIT_OK
    if command == "store":  # a till's own journal: the tills that journal in this file (one)
        print(desk.render(desk.store_report(start, end))[0], end="")
        return EXIT_OK
    _print_liability(desk, config, start, end, store=getattr(args, "store", False))
    return EXIT_OK


def _print_liability(desk: ReportDesk, config: Config, start: date, end: date, *, store: bool) -> None:
    rows = desk.liability(start, end, store=store)
    # the days as the outlet writes a date, like the From and To of the X and Z reports (02.12.2026)
    receipt = liability_receipt(rows, i18n.date(start), i18n.date(end), config, desk.templates, datetime.now())
    print(receipt.text(), end="")
