"""A journal written by the previous version (schema 3) opens in this one: the
provider operations move to neutral words and generic columns, nothing is
lost, and numbering and references continue without reuse."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from pos_app.domain.money import Money
from pos_app.domain.order import Line
from pos_app.journal import Journal, OpState
from pos_app.journal.schema import MIGRATIONS

NOW = "2026-11-30T10:00:00.000+00:00"


def schema_3_journal(path: Path) -> None:
    """What a till of the previous version left: a closed sale paid by a voucher
    (its redemption cancelled by a storno) and a sold gift voucher, then an open
    order with a redemption whose answer was lost."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for index, script in enumerate(MIGRATIONS[:3]):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={index + 1}")
    run = db.execute
    run("INSERT INTO orders (id, outlet, till, currency, status, number, opened_at) "
        "VALUES (1, 'shop', '1', 'CHF', 'closed', 7, ?), (2, 'shop', '1', 'CHF', 'open', NULL, ?)", (NOW, NOW))
    run("INSERT INTO lines (id, order_id, kind, ean, name, quantity, unit_minor, vat_rate, added_at, code,"
        " provider, activated_at) VALUES (1, 1, 'gift_voucher', 'EADSHD24AKS5', 'Gift voucher', 1, 5000, '0',"
        " ?, 'EADSHD24AKS5', 'eguma', ?)", (NOW, NOW))
    run("INSERT INTO tenders (id, order_id, kind, state, amount_minor, code, added_at, provider, token,"
        " balance_after_minor) VALUES (1, 1, 'voucher', 'captured', 3800, 'L4FU5LQTKJR3', ?, 'eguma', 'tok-1', 1200),"
        " (2, 2, 'voucher', 'unknown', 1000, 'B200CHF0FULL', ?, 'eguma', NULL, NULL)", (NOW, NOW))
    ops = [
        (1, "shop-1-000001", 1, 1, None, "redeem", "L4FU5LQTKJR3", 3800, 5000, "ok", "tok-1"),
        (2, "shop-1-000002", 1, None, 1, "activate", "EADSHD24AKS5", 5000, None, "ok", None),
        (3, "shop-1-000003", 1, None, 1, "deactivate", "EADSHD24AKS5", 5000, None, "done", None),
        (4, "shop-1-000004", 1, 1, None, "cancel", "L4FU5LQTKJR3", 3800, 1200, "ok", None),
        (5, "shop-1-000005", 2, 2, None, "redeem", "B200CHF0FULL", 1000, 20000, "unknown", None),
    ]
    for op_id, ref, order_id, tender_id, line_id, operation, code, amount, before, state, token in ops:
        run("INSERT INTO provider_ops (id, reference, order_id, tender_id, line_id, provider, operation, code,"
            " amount_minor, currency, balance_before_minor, state, token, sent_at) VALUES"
            " (?,?,?,?,?,'eguma',?,?,?,'CHF',?,?,?,?)",
            (op_id, ref, order_id, tender_id, line_id, operation, code, amount, before, state, token, NOW))
    run("INSERT INTO events (at, order_id, kind) VALUES (?, 1, 'order_closed'), (?, NULL, 'no_sale')", (NOW, NOW))
    run("INSERT INTO receipts (order_id, kind, text, escpos, created_at) VALUES (1, 'sale', 'r', x'00', ?),"
        " (NULL, 'balance', 'slip', x'00', ?)", (NOW, NOW))
    db.close()


def test_a_schema_3_journal_is_migrated_whole(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    schema_3_journal(path)
    journal = Journal(path, "shop", "1")
    assert journal.pragma("user_version") == len(MIGRATIONS) == 8
    assert journal.pragma("integrity_check") == "ok"
    ops = journal.ops()
    assert [(o.id, o.operation, o.state) for o in ops] == [
        (1, "authorize", "ok"), (2, "create", "ok"), (3, "undo", "done"), (4, "void", "ok"), (5, "authorize", "unknown")]
    first, *_, lost = ops
    assert (first.outlet, first.till, first.reference) == ("shop", "1", "shop-1-000001")
    assert first.refs == {"redeem_token": "tok-1"} and first.before == {"balance": 5000}
    assert lost.refs == {} and lost.before == {"balance": 20000} and lost.is_open
    assert [o.id for o in journal.ops(open_only=True)] == [5]
    sale = journal.load_order(1)
    assert sale.number == "1-0007" and sale.tenders[0].refs == {"redeem_token": "tok-1"}
    assert sale.tenders[0].balance_after == Money(1200, "CHF")
    (line,) = sale.lines
    assert line.activated and line.undone and not line.live  # the deactivation is on the line now
    # numbers and references continue; nothing is taken from MAX(id) + 1
    assert journal.next_number() == 8 and journal.allocate_number(2) == 8
    op_id, reference, _ = journal.begin_op(provider="eguma", operation="authorize", code="X", currency="CHF",
                                           order_id=2)
    assert reference == "shop-1-000006"
    journal.finish_op(op_id, OpState.FAILED, error="refused")
    # every event and receipt now belongs to the till
    assert len(journal.events()) >= 3 and journal.unprinted_receipts()[0].order_id == 1
    journal.add_line(2, Line(0, "7610000000028", "Croissant", 1, Money(250, "CHF"), Decimal("2.6")))
    journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM events WHERE outlet IS NULL OR till IS NULL").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM receipts WHERE outlet IS NULL").fetchone() == (0,)
        columns = [row[1] for row in db.execute("PRAGMA table_info(tenders)")]
        assert "token" not in columns and "refs" in columns
        assert json.loads(db.execute("SELECT before FROM provider_ops WHERE id=5").fetchone()[0]) == {"balance": 20000}


def test_another_till_in_the_same_file_sees_none_of_this_tills_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    schema_3_journal(path)
    Journal(path, "shop", "1").close()
    other = Journal(path, "shop", "2")
    assert other.ops() == [] and other.open_order_id() is None and other.events() == []
    assert other.unprinted_receipts() == [] and other.last_closed_order_id() is None
    assert other.next_number() == 1
    other.close()
