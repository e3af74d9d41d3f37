"""VAT on gross (VAT-inclusive) prices, broken down per rate.

Shelf prices in Switzerland and the EU include VAT. The VAT of a rate is
computed once on the gross sum of that rate (not per line, which would
accumulate rounding errors): ``vat = gross * rate / (100 + rate)``, rounded
half-up to the minor unit; ``net = gross - vat``, so net + VAT == gross,
always, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pos_app.domain.money import Money, round_to
from pos_app.i18n import _, number


class VatError(ValueError):
    pass


def parse_rate(text: str | Decimal) -> Decimal:
    """A VAT rate in percent: ``"8.1"`` -> Decimal("8.1"). 0 <= rate < 100."""
    try:
        rate = Decimal(str(text).strip())
    except InvalidOperation:
        raise VatError(_("{text!r} is not a VAT rate").format(text=text)) from None
    if not rate.is_finite() or rate < 0 or rate >= 100:
        raise VatError(_("VAT rate {text!r} must be between 0 and 100 percent").format(text=text))
    return rate.normalize() if rate != rate.to_integral_value() else rate.quantize(Decimal(1))


def format_rate(rate: Decimal) -> str:
    """``8.1%`` — with the decimal sign of the outlet's locale (``8,1%`` in de_DE)."""
    exponent = rate.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{number(rate, places, grouping=False)}%"


@dataclass(frozen=True, slots=True)
class VatLine:
    rate: Decimal
    gross: Money
    vat: Money

    @property
    def net(self) -> Money:
        return self.gross - self.vat


def vat_of(gross: Money, rate: Decimal) -> Money:
    if rate == 0:
        return Money.zero(gross.currency)
    value = Decimal(gross.minor) * rate / (Decimal(100) + rate)
    return Money(round_to(value), gross.currency)


def breakdown(items: list[tuple[Money, Decimal]], currency: str) -> list[VatLine]:
    """Group (gross, rate) pairs by rate, highest rate last.

    Items excluded from VAT altogether (sold gift vouchers) must not be
    passed in: a 0 % rate here still shows as a VAT line.
    """
    by_rate: dict[Decimal, Money] = {}
    for gross, rate in items:
        by_rate[rate] = by_rate.get(rate, Money.zero(currency)) + gross
    return [VatLine(rate, gross, vat_of(gross, rate)) for rate, gross in sorted(by_rate.items())]


def letter(index: int) -> str:
    """``0`` -> ``"A"``, ``25`` -> ``"Z"``, ``26`` -> ``"AA"``: the code of the index-th rate."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def vat_letters(outlet_rates: Iterable[Decimal], receipt_rates: Iterable[Decimal] = ()) -> dict[Decimal, str]:
    """The letter of each VAT rate, fixed for the outlet: its rates (the catalog's) in
    ascending order get A, B, C, …, so one rate has one letter on every receipt of
    the outlet. A rate of ``receipt_rates`` the outlet does not have (a product
    since taken out of the catalog) gets the next letters after them, in order."""
    known = sorted(set(outlet_rates))
    extra = sorted(set(receipt_rates) - set(known))
    return {rate: letter(i) for i, rate in enumerate([*known, *extra])}
