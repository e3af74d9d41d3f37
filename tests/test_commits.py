"""Commits per sale: each is an fsync of the journal (synchronous=FULL), and the
till makes as few as it can without losing a crash window (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest

from pos_app.services.checkout import Till
from tests.conftest import CHOCOLATE, CROISSANT, ESPRESSO, MERLOT

PRODUCTS = [ESPRESSO, CROISSANT, MERLOT, CHOCOLATE]


def counting(till: Till) -> list[str]:
    """Every COMMIT the journal's connection runs from now on."""
    commits: list[str] = []
    db: Any = till.journal._db  # noqa: SLF001 - the store's own connection

    def trace(statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            commits.append(statement)

    db.set_trace_callback(trace)
    return commits


@pytest.mark.parametrize("lines", [1, 3, 10])
async def test_an_n_line_cash_sale_makes_n_plus_2_commits(till: Till, lines: int) -> None:
    till.scan(CROISSANT)  # a first sale: the till's own start-up commits are not counted
    await till.pay_cash(till.parse_amount("2.50"))
    commits = counting(till)
    for index in range(lines):
        till.scan(PRODUCTS[index % len(PRODUCTS)])
    outcome = await till.pay_cash(till.order.cash_due)
    assert outcome.closed is not None and outcome.closed.number == "1-0002"
    assert (await till.print_receipt(outcome.closed.receipt_id)).ok
    # a commit per line, one for the payment with the close, its receipt and the next
    # order, one for "printed"
    assert len(commits) == lines + 2
    assert till.order.is_empty and not till.order.number  # the next order is open


async def test_a_card_sale_closes_with_its_payment_in_one_commit(till: Till) -> None:
    till.scan(MERLOT)
    commits = counting(till)
    outcome = await till.pay_card(till.parse_amount("38.00"))
    assert outcome.closed is not None and len(commits) == 1
    closed = till.journal.load_order(till.journal.last_closed_order_id() or 0)
    assert [(t.kind.value, t.amount.minor, t.state.value) for t in closed.tenders] == [("card", 3800, "captured")]


async def test_a_part_payment_is_committed_on_its_own(till: Till) -> None:
    till.scan(MERLOT)
    commits = counting(till)
    outcome = await till.pay_cash(till.parse_amount("20"))
    assert outcome.closed is None and len(commits) == 1
    assert [t.amount.minor for t in till.order.active_tenders] == [2000]


def test_a_journal_closed_cleanly_is_not_read_whole_at_start(till_factory: Any) -> None:
    """quick_check reads the whole journal: only after an unclean end (a WAL left behind)."""
    till = till_factory()
    till.scan(CROISSANT)
    path = till.journal.path
    assert till.journal.checked is False  # a new journal
    till.journal.close()
    again = till_factory()
    assert again.journal.checked is False and again.journal.path == path  # closed cleanly: no WAL left
    again.scan(MERLOT)  # killed with this in its WAL: the copy keeps the log, as a power cut would
    copy = path.with_name("copy.sqlite")
    for suffix in ("", "-wal"):
        copy.with_name(copy.name + suffix).write_bytes(path.with_name(path.name + suffix).read_bytes())
    from pos_app.journal import Journal

    after_crash = Journal(copy, "test-outlet", "1")
    assert after_crash.checked is True
    order = after_crash.load_order(after_crash.open_order_id() or 0)
    assert [line.ean for line in order.active_lines] == [CROISSANT, MERLOT]
    after_crash.close()


def test_unprinted_receipts_are_found_through_their_index(till: Till) -> None:
    plan = till.journal._query(  # noqa: SLF001
        "EXPLAIN QUERY PLAN SELECT * FROM receipts INDEXED BY receipts_unprinted WHERE outlet=? AND till=?"
        " AND printed_at IS NULL AND order_id IS NOT NULL ORDER BY id", ("test-outlet", "1"))
    assert till.journal.unprinted_receipts() == []
    assert any("receipts_unprinted" in str(tuple(row)) for row in plan), [tuple(r) for r in plan]


def test_the_last_receipt_is_found_through_an_index(till: Till) -> None:
    plan = till.journal._query(  # noqa: SLF001
        "EXPLAIN QUERY PLAN SELECT * FROM receipts WHERE outlet=? AND till=? AND kind IN ('sale', 'void')"
        " ORDER BY id DESC LIMIT 1", ("test-outlet", "1"))
    assert any("receipts_last" in str(tuple(row)) for row in plan), [tuple(r) for r in plan]
