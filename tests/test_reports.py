"""Day close (issue 17) through the real till and journal: the X report's figures,
the Z report (numbered without gaps, once per period, refused while something is
open), its journaled figures and reprint, the CSV and the liability by provider."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pos_app.config import load_config
from pos_app.journal import Journal
from pos_app.journal.schema import MIGRATIONS
from pos_app.providers import registry
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.reports import csv_records, csv_text, liability_rows, load
from tests.conftest import CHOCOLATE, CROISSANT, ESPRESSO, MERLOT, SIM_EGUMA
from tests.test_digital import CSQ, sell as sell_digital, sim as csq_sim
from tests.uihelpers import rows

FIXED = "EADS-HD24-AKS5"  # E-GUMA depot voucher, fixed 50.00
PAID = "L4FU-5LQT-KJR3"  # E-GUMA voucher, balance 50.00


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path],
         till_factory: Callable[..., Till]) -> Iterator[Till]:
    """A till with E-GUMA (vouchers paid and sold) and CSQ (third parties' digital vouchers)."""
    monkeypatch.setitem(registry.PACKAGES, "csq", "pos_app.providers.csq.descriptor")
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=1) + CSQ)))
    csq_sim(till).indexing_delay_s = 0
    yield till


async def a_day(till: Till) -> None:
    """Five sales, a storno, a cancel, a no-sale-worthy day:
    1: espresso + 3 croissants + merlot (60.40), cash 70 -> change 9.60
    2: espresso (14.90), card 1.00 voided, card 1.02 + cash: 13.88 due, 13.90 rounded (rounding 0.02)
    3: gift voucher E-GUMA 50.00 + chocolate 3.95, paid by voucher 3.95 and cash 50
    4: City Gift Card (CSQ) 20.00, cash
    5: merlot 38.00, card -> voided (storno) afterwards
    then: croissant scanned and cancelled; a line voided before the close in 1."""
    till.scan(ESPRESSO)
    till.scan(CHOCOLATE)
    await till.void_line(till.order.lines[-1].id)  # a line voided before the close
    till.scan(f"3*{CROISSANT}")
    till.scan(MERLOT)
    assert (await till.pay_cash(till.parse_amount("70"))).closed
    till.scan(ESPRESSO)
    await till.pay_card(till.parse_amount("1.00"))
    await till.void_tender(till.order.active_tenders[0].id)  # a payment voided before the close
    await till.pay_card(till.parse_amount("1.02"))
    assert (await till.pay_cash(till.parse_amount("13.90"))).closed
    till.gifts.add(await till.gifts.check(FIXED))
    till.scan(CHOCOLATE)
    assert (await till.vouchers.pay(await till.vouchers.check(PAID))).closed is None
    assert (await till.pay_cash(till.parse_amount("50"))).closed
    await sell_digital(till, "City Gift Card", "20")
    assert (await till.pay_cash(till.parse_amount("20"))).closed
    till.scan(MERLOT)
    assert (await till.pay_card(till.parse_amount("38"))).closed
    await till.storno.run()
    till.scan(CROISSANT)
    await till.cancel_order()
    till.journal.record("no_sale", {"reason": "no_sale"})


async def test_x_report_figures_of_a_day(shop: Till) -> None:
    till = shop
    await a_day(till)
    made = till.reports.x_report()
    f = made.figures
    sales, stornos = f["sales"], f["stornos"]
    assert sales["orders"] == 5 and stornos["orders"] == 1
    # products only, by rate: 2.6 %: 14.90 + 7.50 + 14.90 + 3.95 = 41.25; 8.1 %: 38.00 + 38.00
    assert {r: v[2] for r, v in sales["vat"].items()} == {"2.6": 4125, "8.1": 7600}
    assert {r: v[2] for r, v in stornos["vat"].items()} == {"8.1": 3800}
    assert f["net_vat"]["8.1"] == [3515, 285, 3800]  # net, VAT, gross: the storno is taken off
    assert f["net_vat"]["2.6"][1] == 38 + 19 + 38 + 10  # VAT of each receipt, summed (not of the sum)
    assert sales["liability"] == {"eguma": {"sold": [1, 5000]}}  # not revenue, apart
    assert sales["digital"] == {"csq": [1, 2000]}  # a third party's goods
    assert sales["tenders"] == {"cash:": [4, 6040 + 1388 + 5000 + 2000], "card:": [2, 102 + 3800],
                                "voucher:eguma": [1, 395]}
    assert stornos["tenders"] == {"card:": [1, 3800]}
    assert sales["rounding"] == 2
    assert sales["lines_voided"] == [1, 395] and sales["payments_voided"] == [1, 100]
    assert f["cancels"] == [1, 250] and f["no_sales"] == 1
    assert f["undecided"] == 0 and f["open_orders"] == 0
    # journaled with its figures and its receipt
    assert json.loads(made.record.figures) == f
    text = till.journal.receipt(made.record.receipt_id).text
    for expected in ("X REPORT 1", "Sales closed (5)", "Stornos (1)", "E-GUMA sold (1)",
                     "Voucher E-GUMA (1)", "Cash rounding", "Payments voided (1)", "Orders cancelled (1)", "CSQ (1)"):
        assert expected in text, expected
    assert max(len(line) for line in text.splitlines()) <= till.config.printer.width


def same_rows(journal: Journal) -> None:
    """The running totals since the last Z are the sums of the orders' own rows."""
    from pos_app.journal.reporting import Period

    last = journal.last_z()
    period = Period(after=last.to_event if last else 0, upto=journal.last_event_id())
    assert journal.running_totals() == journal.report_data(period)


async def test_payments_tie_out_with_sales_vouchers_and_third_parties(shop: Till) -> None:
    till = shop
    await a_day(till)
    same_rows(till.journal)
    f = till.reports.x_report().figures
    for block in (f["sales"], f["stornos"]):
        paid = sum(a for _c, a in block["tenders"].values())
        assert paid == block["total"] + block["paid_back"]
        assert block["total"] == block["gross"] + sum(
            a for p in block["liability"].values() for _c, a in p.values()) + sum(
            a for _c, a in block["digital"].values())
    # every figure re-derived from the orders the journal holds
    closed = [r[0] for r in rows(till.journal.path, "SELECT id FROM orders WHERE status='closed'")]
    orders = [till.journal.load_order(i) for i in closed]
    gross = sum(v.gross.minor for o in orders for v in o.vat_breakdown())
    vat = sum(v.vat.minor for o in orders for v in o.vat_breakdown())
    assert gross == f["sales"]["gross"] and vat == sum(v[1] for v in f["sales"]["vat"].values())


async def test_z_closes_the_day_numbered_without_gaps(shop: Till) -> None:
    till = shop
    till.scan(ESPRESSO)
    await till.pay_cash(till.parse_amount("15"))
    same_rows(till.journal)
    z1 = till.reports.z_report()
    same_rows(till.journal)
    assert till.journal.running_totals()["sales"]["orders"] == 0
    assert (z1.record.kind, z1.record.number, z1.figures["sales"]["orders"]) == ("Z", 1, 1)
    x = till.reports.x_report()
    assert x.figures["sales"]["orders"] == 0  # the next day starts after the Z
    till.scan(MERLOT)
    await till.pay_cash(till.parse_amount("40"))
    z2 = till.reports.z_report()
    assert z2.record.number == 2 and z2.figures["sales"]["orders"] == 1
    assert z2.figures["sales"]["gross"] == 3800
    assert z2.record.from_event == z1.record.to_event
    assert [r.number for r in till.journal.reports("Z")] == [1, 2]
    assert rows(till.journal.path, "SELECT name, value FROM sequences WHERE name='z_report'") == [("z_report", 2)]
    # a period is closed once: a second Z starting where Z 1 started is refused by the journal
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        with sqlite3.connect(till.journal.path) as db:
            db.execute("INSERT INTO reports (outlet, till, kind, number, from_event, to_event, period_to, figures,"
                       " created_at) VALUES ('test-outlet', '1', 'Z', 3, ?, ?, 'x', '{}', 'x')",
                       (z1.record.from_event, z2.record.to_event))


async def test_z_is_refused_while_an_order_is_open_or_an_operation_undecided(shop: Till) -> None:
    till = shop
    till.scan(ESPRESSO)
    with pytest.raises(CheckoutError, match="an order is open"):
        till.reports.z_report()
    await till.pay_cash(till.parse_amount("15"))
    op_id, _ref, _ = till.journal.begin_op(provider="eguma", operation="authorize", code="L4FU5LQTKJR3",
                                           currency="CHF")
    with pytest.raises(CheckoutError, match="1 voucher operation is still undecided"):
        till.reports.z_report()
    assert till.journal.reports("Z") == []  # nothing written, no number used
    till.journal.finish_op(op_id, "failed", error="test")
    assert till.reports.z_report().record.number == 1


async def test_a_reprint_shows_the_journaled_figures_even_after_a_template_change(shop: Till) -> None:
    till = shop
    till.scan(MERLOT)
    await till.pay_cash(till.parse_amount("40"))
    z = till.reports.z_report()
    first = till.journal.receipt(z.record.receipt_id).text
    # the journal's sales change behind the report's back: its figures do not
    with __import__("sqlite3").connect(till.journal.path) as db:
        db.execute("UPDATE lines SET unit_minor = 1")
    record = till.journal.report("Z", 1)
    assert record is not None and load(record)["sales"]["gross"] == 3800
    text, data = till.reports.reprint_text(record)
    assert "38.00" in text and text.splitlines()[4:] == first.splitlines()[4:]  # same numbers, same lines
    assert b"Z REPORT 1" in data


async def test_csv_ties_out_with_the_report(shop: Till) -> None:
    till = shop
    await a_day(till)
    z = till.reports.z_report()
    text = till.reports.z_csv(1)
    records = list(csv.DictReader(io.StringIO(text)))
    assert list(records[0]) == ["z_number", "order", "time", "type", "kind", "provider", "ean", "name", "quantity",
                                "unit_price", "amount", "vat_rate", "vat", "net", "currency"]
    assert all("e" not in r["amount"].lower() and r["amount"].count(".") == 1 for r in records)  # decimals
    f = z.figures
    by_rate: dict[str, list[Decimal]] = {}
    for r in records:
        if r["kind"] == "product":
            slot = by_rate.setdefault(r["vat_rate"], [Decimal(0)] * 3)
            slot[0] += Decimal(r["net"])
            slot[1] += Decimal(r["vat"])
            slot[2] += Decimal(r["amount"])
    assert {k: [int(x * 100) for x in v] for k, v in by_rate.items()} == f["net_vat"]
    pays = sum(Decimal(r["amount"]) for r in records if r["type"] in ("payment", "storno_payment"))
    tenders = sum(a for _c, a in f["sales"]["tenders"].values()) - sum(a for _c, a in f["stornos"]["tenders"].values())
    assert int(pays * 100) == tenders
    lines = sum(Decimal(r["amount"]) for r in records if r["type"] in ("sale", "storno"))
    assert int(lines * 100) == f["sales"]["total"] - f["stornos"]["total"]
    assert {r["z_number"] for r in records} == {"1"}
    today = date.today()
    sales = list(csv.DictReader(io.StringIO(till.reports.sales_csv(today, today))))
    assert [dict(r, z_number="1") for r in sales] == records  # the same rows by date


async def test_liability_per_provider(shop: Till) -> None:
    till = shop
    await a_day(till)
    today = date.today()
    rows_ = till.reports.liability(today, today)
    assert rows_["providers"] == {"eguma": {"sold": 5000, "redeemed": 395, "count": 1, "outstanding": 4605}}
    assert rows_["digital"] == {"csq": 2000}
    from pos_app.receipts import liability_receipt

    text = liability_receipt(rows_, "2026-12-01", "2026-12-02", till.config, till.templates, till.clock()).text()
    assert "E-GUMA" in text and "46.05" in text and "authoritative" in text
    assert max(len(line) for line in text.splitlines()) <= till.config.printer.width


def test_csv_amounts_are_decimal_strings_signed_for_a_storno() -> None:
    data = {"sales": {"lines": [[3, "t", "CHF", 1, "product", "", "761", "Wine", 2, 1995, "8.1"]],
                      "tenders": [[3, "t", "CHF", 1, "cash", "", 3990, 0]]},
            "stornos": {"lines": [[3, "u", "CHF", 1, "product", "", "761", "Wine", 2, 1995, "8.1"]],
                        "tenders": [[3, "u", "CHF", 1, "cash", "", 3990, 0]]}}
    out = list(csv.DictReader(io.StringIO(csv_text(csv_records(data, lambda n: f"1-{n:04d}")))))
    assert [(r["type"], r["quantity"], r["amount"], r["vat"], r["net"]) for r in out] == [
        ("sale", "2", "39.90", "2.99", "36.91"), ("payment", "", "39.90", "", ""),
        ("storno", "-2", "-39.90", "-2.99", "-36.91"), ("storno_payment", "", "-39.90", "", "")]


def test_liability_rows_subtract_stornos() -> None:
    block = {"liability": {"jtl": {"sold": [2, 10000], "topped_up": [1, 2000]}}, "digital": {},
             "tenders": {"voucher:jtl": [1, 3000], "cash:": [1, 9000]}}
    back = {"liability": {"jtl": {"sold": [1, 5000]}}, "digital": {}, "tenders": {"voucher:jtl": [1, 1000]}}
    result = liability_rows({"currency": "CHF", "sales": block, "stornos": back})
    assert result["providers"] == {"jtl": {"sold": 7000, "redeemed": 2000, "count": 2, "outstanding": 5000}}


def test_migration_7_from_a_schema_6_journal(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for index, script in enumerate(MIGRATIONS[:6]):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={index + 1}")
    now = "2026-11-30T10:00:00.000+00:00"
    db.execute("INSERT INTO orders (id, outlet, till, currency, status, number, opened_at, ended_at)"
               " VALUES (1, 'shop', '1', 'CHF', 'closed', 1, ?, ?)", (now, now))
    db.execute("INSERT INTO lines (order_id, kind, ean, name, quantity, unit_minor, vat_rate, added_at)"
               " VALUES (1, 'product', '761', 'Wine', 1, 3800, '8.1', ?)", (now,))
    db.execute("INSERT INTO tenders (order_id, kind, state, amount_minor, added_at) VALUES (1, 'cash', 'captured',"
               " 3800, ?)", (now,))
    db.execute("INSERT INTO sequences VALUES ('shop', '1', 'order_number', 1)")
    db.execute("INSERT INTO events (outlet, till, at, order_id, kind) VALUES ('shop', '1', ?, 1, 'order_closed')",
               (now,))
    db.close()
    journal = Journal(path, "shop", "1")
    try:
        assert journal.pragma("user_version") == len(MIGRATIONS) == 8
        assert journal.pragma("integrity_check") == "ok"
        assert journal.reports("Z") == [] and journal.last_z() is None
        # a sale from before the upgrade is in the first Z
        from pos_app.journal.reporting import Period

        data = journal.report_data(Period(after=0, upto=journal.last_event_id()))
        assert data["sales"]["orders"] == 1 and data["sales"]["vat"] == [["8.1", 3800, 285, 1]]
        assert journal.running_totals() == data  # the upgrade filled the running totals from the history
    finally:
        journal.close()


def test_a_voucher_a_provider_issues_is_a_liability_a_third_partys_is_not() -> None:
    from pos_app.services.reports import build_figures, issuers

    assert {"eguma", "jtl", "celbux"} <= issuers() and "csq" not in issuers()
    empty = {"orders": 0, "tenders_voided": [0, 0], "vat": [], "lines": [], "tenders": []}
    raw = {"sales": {"orders": 2, "tenders_voided": [0, 0], "vat": [],
                     "lines": [["digital", "celbux", False, 1, 10000], ["digital", "csq", False, 1, 2000],
                               ["top_up", "jtl", False, 1, 3000]],
                     "tenders": [["cash", "", 2, 15000, 0]]},
           "stornos": empty, "cancels": [0, 0], "no_sales": 0, "unprinted": 0, "undecided": 0, "open_orders": 0}
    f = build_figures(raw, currency="ZAR", kind="X", number=1, period_from=None, period_to="t",
                      issuer_names=issuers())
    assert f["sales"]["liability"] == {"celbux": {"issued": [1, 10000]}, "jtl": {"topped_up": [1, 3000]}}
    assert f["sales"]["digital"] == {"csq": [1, 2000]}
    assert liability_rows(f)["providers"]["celbux"] == {"sold": 10000, "redeemed": 0, "count": 1,
                                                        "outstanding": 10000}


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv() -> None:
    data = {"sales": {"lines": [[1, "t", "CHF", 1, "product", "", "=1+1", '=HYPERLINK("http://x","y")', 1, 100,
                                 "2.6"], [1, "t", "CHF", 2, "product", "", "761", "-5% Rabatt", 1, 100, "2.6"]],
                      "tenders": []},
            "stornos": {"lines": [], "tenders": []}}
    out = list(csv.DictReader(io.StringIO(csv_text(csv_records(data, str)))))
    assert [(r["ean"], r["name"], r["amount"]) for r in out] == [
        ("'=1+1", "'=HYPERLINK(\"http://x\",\"y\")", "1.00"), ("761", "'-5% Rabatt", "1.00")]


def test_the_csv_shows_a_sold_or_topped_up_vouchers_code_by_its_last_characters() -> None:
    """A gift voucher's code spends its value: the accountant's file holds …AKS5, like the
    line's name; a product's barcode and a third party's product code stay whole."""
    data = {"sales": {"lines": [[1, "t", "CHF", 1, "gift_voucher", "eguma", "EADSHD24AKS5", "Gift voucher …AKS5", 1,
                                 5000, "0"],
                                [1, "t", "CHF", 2, "top_up", "jtl", "a1b2c3d4e5f600000001", "Top-up …0001", 1, 2000,
                                 "0"],
                                [1, "t", "CHF", 3, "digital", "csq", "4101", "City Gift Card", 1, 2000, "0"],
                                [1, "t", "CHF", 4, "product", "", "7610000000035", "Merlot", 1, 3800, "8.1"]],
                      "tenders": []},
            "stornos": {"lines": [[1, "u", "CHF", 1, "gift_voucher", "eguma", "EADSHD24AKS5", "Gift voucher …AKS5",
                                   1, 5000, "0"]], "tenders": []}}
    text = csv_text(csv_records(data, str))
    assert "EADSHD24AKS5" not in text and "a1b2c3d4e5f600000001" not in text
    out = list(csv.DictReader(io.StringIO(text)))
    assert [r["ean"] for r in out] == ["…AKS5", "…0001", "4101", "7610000000035", "…AKS5"]


def test_the_csv_keeps_no_customers_phone_or_e_mail() -> None:
    """What a customer gave for a digital voucher is in its line's name (the receipt
    needs it); the accountant's file keeps the last 4 digits and an e-mail's domain."""
    data = {"sales": {"lines": [[1, "t", "ZAR", 1, "digital", "celbux", "sms", "Voucher by SMS +27 82 123 4567", 1,
                                 10000, "0"],
                                [1, "t", "CHF", 2, "digital", "csq", "4102", "E-Gift Card anna.muster@example.com",
                                 1, 2000, "0"],
                                [1, "t", "CHF", 3, "product", "", "7610000000035", "Merlot 2019 0.75 l", 1, 3800,
                                 "8.1"]],
                      "tenders": []},
            "stornos": {"lines": [], "tenders": []}}
    text = csv_text(csv_records(data, str))
    assert "123 4567" not in text and "anna.muster" not in text
    out = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in out] == ["Voucher by SMS …4567", "E-Gift Card …@example.com", "Merlot 2019 0.75 l"]


async def test_a_z_report_shown_again_is_dated_when_it_was_made(shop: Till) -> None:
    from datetime import datetime, timedelta

    from pos_app import i18n

    till = shop
    till.scan(MERLOT)
    await till.pay_cash(till.parse_amount("40"))
    made = till.reports.z_report()
    later = datetime.now() + timedelta(days=40)
    till.reports.clock = lambda: later  # shown again forty days on
    text, _data = till.reports.reprint_text(made.record)
    assert i18n.date(later.date()) not in text
    at = datetime.fromisoformat(made.record.created_at).astimezone()
    assert text.splitlines()[5].startswith(f"{i18n.date(at.date())} {at:%H:%M} ")  # when it was made
