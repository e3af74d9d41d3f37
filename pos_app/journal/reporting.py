"""The SQL behind the X and Z reports, the sales CSV and the liability report.

Every figure is summed by SQLite (GROUP BY over the rows of a period), never by
a Python loop over the orders: a Z over 100,000 orders stays well under the
300 ms target (tests/bench/bench_reports.py). A period is a set of events of
one till: the orders *closed* in it (event ``order_closed``), the sales
*voided* in it (``order_voided``, a storno: counted when it happens, not on
the day of the sale) and the orders *cancelled* in it (``order_cancelled``).
It is given either as event ids (``after < id <= upto``: the X and Z reports,
exact, no two reports share an event) or as times (``start <= at < end``:
``pos report sales`` and ``liability`` by dates).

What comes back is plain rows (minor units, text); the services turn them
into figures (:mod:`pos_app.services.reports`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from pos_app.journal.schema import VAT_SQL as _VAT

OPEN_OP_STATES = ("sent", "unknown")


@dataclass(frozen=True, slots=True)
class Period:
    """Events of one till: by ids (``after < id <= upto``) or by times (``start <= at < end``)."""

    after: int | None = None
    upto: int | None = None
    start: str | None = None
    end: str | None = None

    def where(self) -> tuple[str, tuple[Any, ...]]:
        if self.start is not None and self.end is not None:
            return "at >= ? AND at < ?", (self.start, self.end)
        assert self.after is not None and self.upto is not None
        return "id > ? AND id <= ?", (self.after, self.upto)


def _set(kind: str, period: Period, outlet: str, till: str | None) -> tuple[str, tuple[Any, ...]]:
    """The orders with event ``kind`` in ``period`` of one till (``till`` None: of every
    till of the outlet, the store report over a journal server; by times only)."""
    where, args = period.where()
    if till is None:
        return (f"s AS (SELECT order_id, at FROM events WHERE outlet=? AND kind='{kind}' AND {where})",
                (outlet, *args))
    return (f"s AS (SELECT order_id, at FROM events INDEXED BY events_kind WHERE outlet=? AND till=?"
            f" AND kind='{kind}' AND {where})", (outlet, till, *args))


def block(db: sqlite3.Connection, kind: str, period: Period, outlet: str, till: str | None) -> dict[str, Any]:
    """The sums of the orders with event ``kind`` in ``period``: orders, VAT by rate
    (gross, VAT, lines), value lines and tenders by kind and provider, lines and payments
    voided before the close."""
    cte, args = _set(kind, period, outlet, till)
    orders = db.execute(f"WITH {cte} SELECT COUNT(*) FROM s", args).fetchone()[0]
    vat = db.execute(
        # BIGINT: an integer on both backends (PostgreSQL's SUM of integers is numeric, and
        # the VAT below needs integer division)
        f"WITH {cte}, g AS (SELECT l.order_id, l.vat_rate AS rate, CAST(SUM(l.quantity * l.unit_minor) AS BIGINT)"
        f" AS gross, COUNT(*) AS n"
        f" FROM s JOIN lines l ON l.order_id = s.order_id WHERE l.voided_at IS NULL AND l.kind = 'product'"
        f" GROUP BY l.order_id, l.vat_rate)"
        f" SELECT g.rate, SUM(g.gross), SUM({_VAT}), SUM(g.n) FROM g GROUP BY g.rate", args).fetchall()
    lines = db.execute(
        f"WITH {cte} SELECT l.kind, COALESCE(l.provider, ''), l.voided_at IS NOT NULL, COUNT(*),"
        f" SUM(l.quantity * l.unit_minor) FROM s JOIN lines l ON l.order_id = s.order_id"
        f" WHERE l.kind != 'product' OR l.voided_at IS NOT NULL GROUP BY 1, 2, 3", args).fetchall()
    tenders = db.execute(
        f"WITH {cte} SELECT t.kind, COALESCE(t.provider, ''), COUNT(*), SUM(t.amount_minor),"
        f" SUM(COALESCE(t.rounding_minor, 0)) FROM s JOIN tenders t ON t.order_id = s.order_id"
        f" WHERE t.voided_at IS NULL AND t.state IN ('captured', 'authorized') GROUP BY 1, 2", args).fetchall()
    voided = db.execute(
        f"WITH {cte} SELECT COUNT(*), COALESCE(SUM(t.amount_minor), 0) FROM s JOIN tenders t"
        f" ON t.order_id = s.order_id WHERE t.voided_at IS NOT NULL", args).fetchone()
    return {
        "orders": orders,
        "tenders_voided": [voided[0], voided[1]],
        "vat": [[rate, gross, vat, count] for rate, gross, vat, count in vat],
        "lines": [[k, p, bool(v), n, a] for k, p, v, n, a in lines],
        "tenders": [[k, p, n, a, r] for k, p, n, a, r in tenders],
    }


def cancelled(db: sqlite3.Connection, period: Period, outlet: str, till: str | None) -> tuple[int, int]:
    """Orders cancelled in ``period``: how many, and the total of their lines."""
    cte, args = _set("order_cancelled", period, outlet, till)
    count = db.execute(f"WITH {cte} SELECT COUNT(*) FROM s", args).fetchone()[0]
    total = db.execute(f"WITH {cte} SELECT COALESCE(SUM(l.quantity * l.unit_minor), 0) FROM s"
                       f" JOIN lines l ON l.order_id = s.order_id WHERE l.voided_at IS NULL", args).fetchone()[0]
    return count, total


def count_events(db: sqlite3.Connection, kind: str, period: Period, outlet: str, till: str | None) -> int:
    cte, args = _set(kind, period, outlet, till)
    return int(db.execute(f"WITH {cte} SELECT COUNT(*) FROM s", args).fetchone()[0])


def now_state(db: sqlite3.Connection, outlet: str, till: str | None) -> dict[str, int]:
    """What stands open at this moment: receipts of sales, voids and cancels not printed
    (what F7 prints first), provider operations not decided, open orders with something
    on them (``till`` None: at every till of the outlet)."""
    if till is None:
        return {"unprinted": _one(db, "SELECT COUNT(*) FROM receipts WHERE outlet=? AND printed_at IS NULL"
                                      " AND order_id IS NOT NULL", (outlet,)),
                "undecided": _one(db, "SELECT COUNT(*) FROM provider_ops WHERE outlet=? AND state IN (?, ?)",
                                  (outlet, *OPEN_OP_STATES)),
                "open_orders": _one(db, "SELECT COUNT(*) FROM orders o WHERE o.outlet=? AND o.status='open' AND"
                                        " EXISTS (SELECT 1 FROM lines l WHERE l.order_id = o.id"
                                        " AND l.voided_at IS NULL)", (outlet,))}
    unprinted = db.execute(
        "SELECT COUNT(*) FROM receipts INDEXED BY receipts_unprinted WHERE outlet=? AND till=?"
        " AND printed_at IS NULL AND order_id IS NOT NULL", (outlet, till)).fetchone()[0]
    undecided = db.execute(
        "SELECT COUNT(*) FROM provider_ops WHERE outlet=? AND till=? AND state IN (?, ?)",
        (outlet, till, *OPEN_OP_STATES)).fetchone()[0]
    open_orders = db.execute(
        "SELECT COUNT(*) FROM orders o WHERE o.outlet=? AND o.till=? AND o.status='open' AND ("
        " EXISTS (SELECT 1 FROM lines l WHERE l.order_id = o.id AND l.voided_at IS NULL) OR"
        " EXISTS (SELECT 1 FROM tenders t WHERE t.order_id = o.id AND t.voided_at IS NULL"
        " AND t.state != 'voided'))", (outlet, till)).fetchone()[0]
    return {"unprinted": unprinted, "undecided": undecided, "open_orders": open_orders}


def _one(db: Any, sql: str, args: tuple[Any, ...]) -> int:
    return int(db.execute(sql, args).fetchone()[0])


def raw_figures(db: Any, period: Period, outlet: str, till: str | None) -> dict[str, Any]:
    """Every row a report is made of, for ``period``."""
    count, total = cancelled(db, period, outlet, till)
    return {
        "sales": block(db, "order_closed", period, outlet, till),
        "stornos": block(db, "order_voided", period, outlet, till),
        "cancels": [count, total],
        "no_sales": count_events(db, "no_sale", period, outlet, till),
        **now_state(db, outlet, till),
    }


def csv_rows(db: sqlite3.Connection, kind: str, period: Period, outlet: str, till: str) -> dict[str, list[Any]]:
    """The lines (not voided) and the payments (counting) of the orders with event ``kind``
    in ``period``, with the order's number and the event's time, in order."""
    cte, args = _set(kind, period, outlet, till)
    lines = db.execute(
        f"WITH {cte} SELECT o.number, s.at, o.currency, l.id, l.kind, COALESCE(l.provider, ''), l.ean, l.name,"
        f" l.quantity, l.unit_minor, l.vat_rate FROM s JOIN orders o ON o.id = s.order_id"
        f" JOIN lines l ON l.order_id = s.order_id WHERE l.voided_at IS NULL ORDER BY s.at, o.number, l.id",
        args).fetchall()
    tenders = db.execute(
        f"WITH {cte} SELECT o.number, s.at, o.currency, t.id, t.kind, COALESCE(t.provider, ''),"
        f" t.amount_minor, COALESCE(t.rounding_minor, 0) FROM s JOIN orders o ON o.id = s.order_id"
        f" JOIN tenders t ON t.order_id = s.order_id WHERE t.voided_at IS NULL"
        f" AND t.state IN ('captured', 'authorized') ORDER BY s.at, o.number, t.id", args).fetchall()
    return {"lines": [list(r) for r in lines], "tenders": [list(r) for r in tenders]}


def empty_rows() -> dict[str, Any]:
    """The rows of a period with nothing in it (no orders, no events, nothing open)."""
    return {**{name: {"orders": 0, "tenders_voided": [0, 0], "vat": [], "lines": [], "tenders": []}
               for name in ("sales", "stornos")},
            "cancels": [0, 0], "no_sales": 0, "unprinted": 0, "undecided": 0, "open_orders": 0}


def totals(db: sqlite3.Connection, outlet: str, till: str) -> dict[str, Any]:
    """The same rows as :func:`raw_figures` for the period since the last Z, read from
    the running totals the journal's triggers keep (schema migration 7): a few rows,
    however many orders the day had."""
    empty = empty_rows()
    blocks: dict[str, dict[str, Any]] = {name: empty[name] for name in ("sales", "stornos")}
    cancels, no_sales = empty["cancels"], 0
    rows = db.execute("SELECT section, kind, provider, rate, voided, count, amount, vat, rounding"
                      " FROM report_totals WHERE outlet=? AND till=? ORDER BY section, kind, provider, rate, voided",
                      (outlet, till)).fetchall()
    for section, kind, provider, rate, voided, count, amount, vat, rounding in rows:
        if section == "cancels":
            cancels = [count, amount]
        elif section == "no_sales":
            no_sales = count
        elif section in blocks:
            block = blocks[section]
            if kind == "orders":
                block["orders"] = count
            elif kind.startswith("tender:") and voided:
                block["tenders_voided"][0] += count
                block["tenders_voided"][1] += amount
            elif kind.startswith("tender:"):
                block["tenders"].append([kind.removeprefix("tender:"), provider, count, amount, rounding])
            elif kind == "product" and not voided:
                block["vat"].append([rate, amount, vat, count])
            else:
                block["lines"].append([kind, provider, bool(voided), count, amount])
    for block in blocks.values():  # product lines voided of several rates: one row, as raw_figures has it
        merged: dict[tuple[str, str, bool], list[int]] = {}
        for kind, provider, voided, count, amount in block["lines"]:
            slot = merged.setdefault((kind, provider, voided), [0, 0])
            slot[0] += count
            slot[1] += amount
        block["lines"] = [[k, p, v, c, a] for (k, p, v), (c, a) in sorted(merged.items())]
    return {"sales": blocks["sales"], "stornos": blocks["stornos"], "cancels": cancels, "no_sales": no_sales,
            **now_state(db, outlet, till)}


def reset_totals(db: sqlite3.Connection, outlet: str, till: str) -> None:
    """The day is closed: the running totals start again from zero."""
    db.execute("DELETE FROM report_totals WHERE outlet=? AND till=?", (outlet, till))
