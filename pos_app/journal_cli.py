"""``pos journal init``, ``backup DEST`` and ``check``: the journal created, safely copied and checked.

* ``pos [--config PATH] journal init`` creates the journal or upgrades its
  schema: the SQLite file, or with ``[journal] url`` the tables on the shop's
  PostgreSQL server (issue 18). Safe to run again.

* ``pos [--config PATH] journal backup DEST`` copies the outlet's journal
  through SQLite's online backup API, also while the till runs: the copy
  holds every sale, also those still in the journal's ``-wal`` file, is
  checked (integrity, the same orders) and is private (0600). ``DEST`` is a
  new file, or a folder (the copy is named after the journal and the time).
* ``pos [--config PATH] journal check`` reads the journal without changing
  it: SQLite's integrity check, the orders and the last order number, that
  number against the one the till keeps outside the journal (a journal
  copied without its ``-wal`` has fewer), receipts not printed, provider
  operations not settled.

Exit codes: 0 done (check: the journal can be trusted); 1 failed (check:
a problem, each line starting with ``PROBLEM:``); 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pos_app.config import ConfigError, default_config_path, load_config, use_outlet_language
from pos_app.files import PRIVATE_UMASK
from pos_app.i18n import _, ngettext
from pos_app.journal import JournalError
from pos_app.journal.backup import backup_journal, inspect_journal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2


def add_journal_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``journal`` (with ``backup`` and ``check``) on ``pos``'s subparsers."""
    journal = subparsers.add_parser(
        "journal", help=_("back up or check the outlet's journal (also while the till runs)"),
        description=_("The journal is the record of every sale: a SQLite file and its -wal file. "
                      "Never copy the file alone; use `pos journal backup`."),
    )
    actions = journal.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `pos --config X journal ...` keeps working (a None default would overwrite it).
    common.add_argument("--config", "-c", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help=_("outlet configuration (default: $POS_CONFIG, else the demo)"))
    backup = actions.add_parser(
        "backup", parents=[common], help=_("copy the journal consistently, also while the till runs"),
        description=_("Copy the journal through SQLite's online backup API (the sales in its -wal "
                      "file included), check the copy and make it readable by the till's user only."),
    )
    backup.add_argument("dest", metavar="DEST",
                        help=_("a new file, or a folder (one that exists or a name ending in /): the copy "
                               "is then named after the journal and the time"))
    actions.add_parser(
        "init", parents=[common], help=_("create or upgrade the journal's tables (a PostgreSQL server's too)"),
        description=_("Create the journal, or upgrade its schema, without selling: the SQLite file of this "
                      "till, or with [journal] url the tables on the shop's PostgreSQL server (its password "
                      "from the keyring: `pos keys set --journal`). Safe to run again."),
    )
    actions.add_parser(
        "check", parents=[common], help=_("check the journal (integrity, orders, last order number)"),
        description=_("Read the journal without changing it: SQLite's integrity check, the orders, the "
                      "last order number (also against the one the till keeps outside the journal), "
                      "receipts not printed and provider operations not settled. Exit code 1 if "
                      "anything is wrong."),
    )
    return journal


def run_journal(args: argparse.Namespace) -> int:
    """Run a parsed ``pos journal ...`` command; the exit code."""
    os.umask(PRIVATE_UMASK)
    try:
        config = load_config(getattr(args, "config", None) or default_config_path())
    except ConfigError as exc:
        return _say(str(exc), EXIT_SETUP)
    use_outlet_language(config)
    path, outlet, till = config.journal_path(), config.outlet.id, config.outlet.till
    if args.journal_command == "init":
        return _init(config)
    if args.journal_command == "backup":
        try:
            result = backup_journal(path, args.dest, outlet, till)
        except JournalError as exc:
            return _say(str(exc), EXIT_FAILED)
        text = ngettext("Journal {path} copied to {copy}: {count} order, the last {last}; copy checked.",
                        "Journal {path} copied to {copy}: {count} orders, the last {last}; copy checked.",
                        result.orders) if result.highest else \
            ngettext("Journal {path} copied to {copy}: {count} order; copy checked.",
                     "Journal {path} copied to {copy}: {count} orders; copy checked.", result.orders)
        print(text.format(path=path, copy=result.path, count=result.orders, last=result.highest))
        return EXIT_OK
    report = inspect_journal(path, outlet, till)
    if config.journal.url and report.read:  # forward mode: what the server does not have yet
        from pos_app.journal.forward import unsent_count

        waiting = unsent_count(path)
        if waiting is not None:
            report.notes.append(ngettext("{count} change not forwarded to the journal server yet",
                                         "{count} changes not forwarded to the journal server yet",
                                         waiting).format(count=waiting))
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _init(config: Any) -> int:
    """``pos journal init``: the journal created or its schema upgraded."""
    from pos_app.journal import Journal
    from pos_app.journal.schema import MIGRATIONS

    if not config.journal.url:
        path = config.journal_path()
        try:
            journal = Journal(path, config.outlet.id, config.outlet.till)
        except JournalError as exc:
            return _say(str(exc), EXIT_FAILED)
        journal.close()
        print(_("Journal {path}: schema {version}, ready.").format(path=path, version=len(MIGRATIONS)))
        return EXIT_OK
    from pos_app.journal.postgres import init_server, shown_url
    from pos_app.services.setup import journal_password

    try:
        before, after = init_server(config.journal.url, journal_password(config), config.journal.connect_timeout_s)
    except JournalError as exc:
        return _say(str(exc), EXIT_FAILED)
    url = shown_url(config.journal.url)
    if before == after:
        print(_("Journal on {url}: schema {version}, already up to date.").format(url=url, version=after))
    elif before == 0:
        print(_("Journal on {url}: tables created (schema {version}).").format(url=url, version=after))
    else:
        print(_("Journal on {url}: schema upgraded from {before} to {after}.").format(url=url, before=before,
                                                                                   after=after))
    return EXIT_OK


def _say(message: str, code: int) -> int:
    print(_("pos journal: {message}").format(message=message), file=sys.stderr)
    return code
