"""The cross-check (issue 17): random days of sales, line and payment voids, stornos, cancels,
no-sales, voucher payments and gift vouchers sold, made through the real till,
journal and E-GUMA simulator, closed by Z reports at random moments. Then:

* every Z's figures are the sums of its period's own rows (the running totals the
  journal's triggers keep are re-derived from the orders, lines and payments);
* within each report the sums tie out (payments = goods + vouchers + third parties
  + overpayment handed back; net + VAT = gross per rate);
* each Z's CSV ties out with the Z (by VAT rate, payments, lines);
* the sum of the Z reports is the sum of all closed orders (and, stornos taken
  off, of the closed orders not voided).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_app.config import PROJECT_ROOT, load_config
from pos_app.journal.reporting import Period
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.reports import build_figures, load
from pos_app.services.setup import open_till
from tests.conftest import DEMO_CATALOG, SIM_EGUMA

PRODUCTS = ["7610000000011", "7610000000028", "7610000000035", "7610000000042", "7610000000059",
            "7610000000066", "7610000000073", "7610000000080"]
VOUCHER = "B200-CHF0-FULL"  # E-GUMA, 200.00
GIFT = "EADS-HD24-AKS5"  # E-GUMA depot voucher, 50.00 (sold once)

items = st.lists(st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 4)), min_size=1, max_size=4)
sale = st.tuples(st.just("sale"), items, st.sampled_from(["cash", "card", "split", "voucher"]), st.booleans(),
                 st.booleans())
step = st.one_of(sale, sale, sale, st.tuples(st.just("storno")), st.tuples(st.just("cancel"), items),
                 st.tuples(st.just("no_sale")), st.tuples(st.just("z")))


def make_till(folder: Path) -> Till:
    path = folder / "outlet.toml"
    path.write_text(textwrap.dedent(f"""\
        receipts = "{(PROJECT_ROOT / 'receipts').as_posix()}"

        [outlet]
        id = "prop-outlet"
        name = "Property Shop"
        till = "1"
        currency = "CHF"

        [catalog]
        path = "{DEMO_CATALOG.as_posix()}"

        [printer]
        kind = "dummy"
        """) + SIM_EGUMA.format(timeout=1), encoding="utf-8")
    return open_till(load_config(path))


async def run_day(till: Till, steps: list[tuple[Any, ...]]) -> None:
    gift_sold = False
    for action, *args in steps:
        if action == "sale":
            lines, pay, void_one, gift = args
            for code, quantity in lines:
                till.scan(f"{quantity}*{code}" if quantity > 1 else code)
            if void_one and len(lines) > 1:
                await till.void_line(till.order.active_lines[0].id)
            if gift and not gift_sold:
                till.gifts.add(await till.gifts.check(GIFT))
                gift_sold = True
            if pay == "voucher":
                try:
                    await till.vouchers.pay(await till.vouchers.check(VOUCHER))
                except CheckoutError:
                    pass  # used up: the rest in cash
            if pay in ("card", "split") and till.order.remaining.is_positive:
                part = till.order.remaining if pay == "card" else till.parse_amount("1.01")
                await till.pay_card(part.min(till.order.remaining))
                if void_one and pay == "split":  # a payment voided before the close
                    card = [t for t in till.order.active_tenders if t.kind.value == "card"][-1]
                    await till.void_tender(card.id)
            if till.order.remaining.is_positive:
                await till.pay_cash(till.order.cash_due)
            assert till.order.is_empty, "the sale closed"
        elif action == "storno":
            try:
                till.storno.plan()
            except CheckoutError:
                continue
            await till.storno.run()
        elif action == "cancel":
            for code, quantity in args[0]:
                till.scan(f"{quantity}*{code}" if quantity > 1 else code)
            await till.cancel_order()
        elif action == "no_sale":
            till.journal.record("no_sale", {"reason": "no_sale"})
        else:
            till.reports.z_report()
    till.reports.z_report()  # the day ends with a Z


def ties_out(figures: dict[str, Any]) -> None:
    for block in (figures["sales"], figures["stornos"]):
        paid = sum(a for _c, a in block["tenders"].values())
        values = sum(a for p in block["liability"].values() for _c, a in p.values())
        third = sum(a for _c, a in block["digital"].values())
        assert paid == block["gross"] + values + third + block["paid_back"]
        assert block["total"] == block["gross"] + values + third
        for net, vat, gross, _lines in block["vat"].values():
            assert net + vat == gross
    for rate, (net, vat, gross) in figures["net_vat"].items():
        s = figures["sales"]["vat"].get(rate, [0, 0, 0, 0])
        v = figures["stornos"]["vat"].get(rate, [0, 0, 0, 0])
        assert (net, vat, gross) == (s[0] - v[0], s[1] - v[1], s[2] - v[2])


def csv_ties_out(till: Till, number: int, figures: dict[str, Any]) -> None:
    records = list(csv.DictReader(io.StringIO(till.reports.z_csv(number))))
    cents = lambda values: int(sum((Decimal(v) for v in values), Decimal(0)) * 100)  # noqa: E731
    for rate, (net, vat, gross) in figures["net_vat"].items():
        mine = [r for r in records if r["kind"] == "product" and r["vat_rate"] == rate]
        assert (cents(r["net"] for r in mine), cents(r["vat"] for r in mine), cents(r["amount"] for r in mine)) == \
            (net, vat, gross)
    lines = cents(r["amount"] for r in records if r["type"] in ("sale", "storno"))
    assert lines == figures["sales"]["total"] - figures["stornos"]["total"]
    payments = cents(r["amount"] for r in records if r["type"] in ("payment", "storno_payment"))
    assert payments == sum(a for _c, a in figures["sales"]["tenders"].values()) - sum(
        a for _c, a in figures["stornos"]["tenders"].values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=12))
def test_reports_tie_out_with_the_journal(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory(prefix="pos-prop-") as folder:
        before = os.environ.get("POS_DATA_DIR")
        os.environ["POS_DATA_DIR"] = str(Path(folder) / "data")
        till = make_till(Path(folder))
        try:
            asyncio.run(run_day(till, steps))
            journal = till.journal
            zs = journal.reports("Z")
            assert [z.number for z in zs] == list(range(1, len(zs) + 1))  # no gaps
            total = net = 0
            for z in zs:
                figures = load(z)
                again = build_figures(journal.report_data(Period(after=z.from_event, upto=z.to_event)),
                                      currency="CHF", kind="Z", number=z.number, period_from=z.period_from,
                                      period_to=z.period_to)
                now = ("unprinted", "undecided", "open_orders")  # the state when it was made, not of its rows
                assert {k: v for k, v in again.items() if k not in now} == \
                    {k: v for k, v in figures.items() if k not in now}, f"Z {z.number}: totals differ from the rows"
                ties_out(figures)
                csv_ties_out(till, z.number, figures)
                total += figures["sales"]["total"]
                net += figures["sales"]["total"] - figures["stornos"]["total"]
            ids = [r[0] for r in journal._query("SELECT id FROM orders WHERE status='closed'")]
            orders = [journal.load_order(i) for i in ids]
            assert total == sum(o.total.minor for o in orders)
            assert net == sum(o.total.minor for o, i in zip(orders, ids, strict=True)
                              if not journal.order_voided_at(i))
            assert journal.running_totals()["sales"]["orders"] == 0  # the last Z emptied them
        finally:
            till.journal.close()
            if before is None:
                os.environ.pop("POS_DATA_DIR", None)
            else:
                os.environ["POS_DATA_DIR"] = before
