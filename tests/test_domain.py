"""Domain rules: money, VAT, change and Swiss cash rounding, as properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pos_app.domain.codes import ScanError, mask_code, normalize_voucher_code, parse_scan
from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, Order, OrderError, Tender, TenderKind, cash_round
from pos_app.domain.vat import breakdown, parse_rate, vat_of

RATES = [Decimal("0"), Decimal("2.6"), Decimal("3.8"), Decimal("8.1"), Decimal("19"), Decimal("7.7")]

prices = st.integers(min_value=1, max_value=500_000)
lines_st = st.lists(
    st.tuples(prices, st.integers(min_value=1, max_value=20), st.sampled_from(RATES)),
    min_size=1,
    max_size=12,
)


def make_order(items: list[tuple[int, int, Decimal]], currency: str = "CHF") -> Order:
    order = Order(id=1, currency=currency)
    for i, (price, qty, rate) in enumerate(items, start=1):
        order.lines.append(Line(i, f"ean{i}", f"item {i}", qty, Money(price, currency), rate))
    return order


# -- money -------------------------------------------------------------------
def test_parse_and_format() -> None:
    assert Money.parse("14.90", "CHF") == Money(1490, "CHF")
    assert Money.parse("2,5", "CHF") == Money(250, "CHF")
    assert Money.parse(" 3 ", "EUR") == Money(300, "EUR")
    assert Money.parse("1'250.00", "CHF") == Money(125000, "CHF")
    assert Money(-5, "CHF").amount_str() == "-0.05"
    assert str(Money(5790, "CHF")) == "CHF 57.90"


@pytest.mark.parametrize("text", ["", "abc", "1.234", "NaN", "Infinity", "1e400x", "--1"])
def test_parse_refuses_garbage(text: str) -> None:
    with pytest.raises(MoneyError):
        Money.parse(text, "CHF")


def test_no_mixing_currencies_or_floats() -> None:
    with pytest.raises(MoneyError):
        Money(100, "CHF") + Money(100, "EUR")
    with pytest.raises(MoneyError):
        Money(1.5, "CHF")  # type: ignore[arg-type]


@given(st.integers(-10**9, 10**9))
def test_parse_roundtrip(minor: int) -> None:
    money = Money(minor, "CHF")
    assert Money.parse(money.amount_str(), "CHF") == money


# -- VAT ---------------------------------------------------------------------
def test_vat_examples() -> None:
    assert vat_of(Money(3800, "CHF"), Decimal("8.1")) == Money(285, "CHF")  # 38.00 incl. 8.1 %
    assert vat_of(Money(1990, "CHF"), Decimal("2.6")) == Money(50, "CHF")
    assert parse_rate("8.10") == Decimal("8.1")
    assert parse_rate("19") == Decimal("19")


@given(lines_st)
def test_vat_breakdown_adds_up(items: list[tuple[int, int, Decimal]]) -> None:
    order = make_order(items)
    vat = order.vat_breakdown()
    # one row per distinct rate, each net + VAT == gross, grosses add to the total
    assert sorted(v.rate for v in vat) == sorted({rate for _, _, rate in items})
    assert sum(v.gross.minor for v in vat) == order.total.minor
    for v in vat:
        assert v.net.minor + v.vat.minor == v.gross.minor
        exact = Decimal(v.gross.minor) * v.rate / (100 + v.rate)
        assert abs(Decimal(v.vat.minor) - exact) <= Decimal("0.5")
        assert 0 <= v.vat.minor <= v.gross.minor


def test_breakdown_groups_by_rate() -> None:
    rows = breakdown(
        [(Money(1490, "CHF"), Decimal("2.6")), (Money(500, "CHF"), Decimal("2.6")),
         (Money(3800, "CHF"), Decimal("8.1"))],
        "CHF",
    )
    assert [(r.rate, r.gross.minor, r.vat.minor) for r in rows] == [
        (Decimal("2.6"), 1990, 50),
        (Decimal("8.1"), 3800, 285),
    ]


# -- CHF rounding ------------------------------------------------------------
@pytest.mark.parametrize(
    ("minor", "rounded"),
    [(1000, 1000), (1001, 1000), (1002, 1000), (1003, 1005), (1004, 1005), (1006, 1005),
     (1007, 1005), (1008, 1010), (1009, 1010), (2, 0), (3, 5), (-3, -5), (-2, 0)],
)
def test_swiss_rounding_table(minor: int, rounded: int) -> None:
    assert cash_round(Money(minor, "CHF")) == Money(rounded, "CHF")


@given(st.integers(-10**9, 10**9))
def test_swiss_rounding_properties(minor: int) -> None:
    rounded = cash_round(Money(minor, "CHF")).minor
    assert rounded % 5 == 0
    assert abs(rounded - minor) <= 2
    assert cash_round(Money(minor, "EUR")).minor == minor  # EUR is not rounded


# -- paying ------------------------------------------------------------------
@given(lines_st, st.integers(0, 1_000_000))
def test_cash_in_full_change_adds_up(items: list[tuple[int, int, Decimal]], extra: int) -> None:
    order = make_order(items)
    due = order.cash_due
    given_ = Money(due.minor + extra - extra % 5, "CHF")
    plan = order.plan_cash(given_)
    # the tender pays the order exactly; customer pays the rounded amount
    assert plan.amount == order.total
    assert plan.given.minor - plan.change.minor == due.minor
    assert plan.amount.minor + plan.rounding.minor == due.minor
    assert abs(plan.rounding.minor) <= 2
    assert plan.change.minor >= 0


@given(lines_st, st.data())
def test_mixed_tenders_settle_exactly(items: list[tuple[int, int, Decimal]], data: st.DataObject) -> None:
    order = make_order(items)
    card = data.draw(st.integers(1, order.total.minor))
    order.tenders.append(Tender(1, TenderKind.CARD, order.check_card(Money(card, "CHF"))))
    if order.remaining.minor == 0:
        assert order.is_settled
        return
    plan = order.plan_cash(order.cash_due)
    assume(plan.given.minor > 0)
    order.tenders.append(Tender(2, TenderKind.CASH, plan.amount, plan.given, plan.change, plan.rounding))
    assert order.is_settled
    assert order.paid == order.total
    assert order.change.minor == 0
    assert card + plan.given.minor - order.change.minor == order.total.minor + order.rounding.minor


def test_partial_cash_and_card_limits() -> None:
    order = make_order([(1490, 1, Decimal("2.6")), (250, 2, Decimal("2.6"))])  # 19.90
    plan = order.plan_cash(Money(1000, "CHF"))
    assert (plan.amount.minor, plan.change.minor, plan.rounding.minor) == (1000, 0, 0)
    with pytest.raises(OrderError, match="steps of 0.05"):
        order.plan_cash(Money(1002, "CHF"))
    with pytest.raises(OrderError, match="at most"):
        order.check_card(Money(2000, "CHF"))
    with pytest.raises(OrderError):
        order.check_card(Money(0, "CHF"))


def test_rounding_down_to_nothing_closes_with_zero_cash() -> None:
    order = make_order([(1002, 1, Decimal("8.1"))])
    order.tenders.append(Tender(1, TenderKind.CARD, Money(1000, "CHF")))
    assert order.cash_due == Money(0, "CHF")
    plan = order.plan_cash(Money(0, "CHF"))
    assert (plan.amount.minor, plan.rounding.minor, plan.change.minor) == (2, -2, 0)


def test_void_line_refused_when_payments_exceed_rest() -> None:
    order = make_order([(1490, 1, Decimal("2.6")), (3800, 1, Decimal("8.1"))])
    order.tenders.append(Tender(1, TenderKind.CARD, Money(3000, "CHF")))
    with pytest.raises(OrderError, match="void a payment first"):
        order.check_void_line(2)
    assert order.check_void_line(1).name == "item 1"


# -- codes -------------------------------------------------------------------
def test_scan_parsing() -> None:
    assert parse_scan("7610000000011\r\n") == parse_scan("7610000000011")
    assert parse_scan("3*7610000000028").quantity == 3
    assert parse_scan(" 12 x 761 ").code == "761"
    with pytest.raises(ScanError):
        parse_scan("0*761")
    with pytest.raises(ScanError):
        parse_scan("3*")
    with pytest.raises(ScanError):
        parse_scan("\r\n")


def test_voucher_code_normalisation() -> None:
    assert normalize_voucher_code(" l4fu-5lqt kjr3\r\n") == "L4FU5LQTKJR3"
    assert normalize_voucher_code("L4FU5LQTKJR3\t") == "L4FU5LQTKJR3"
    assert mask_code("L4FU-5LQT-KJR3") == "…KJR3"
