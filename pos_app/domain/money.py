"""Money as integer minor units plus an ISO 4217 currency code. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pos_app.i18n import _, ngettext, number

# Minor-unit exponents of the currencies a till here can run in.
EXPONENTS: dict[str, int] = {"CHF": 2, "EUR": 2, "ZAR": 2, "USD": 2, "GBP": 2}


# The largest amount the journal can hold (a signed 64-bit integer of minor
# units). An amount beyond it is refused where it enters (a provider's answer,
# a typed amount), never stored.
MAX_MINOR = 2**63 - 1


class MoneyError(ValueError):
    """An amount that cannot be a sum of money (bad text, wrong currency, ...)."""


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(_('unsupported currency {currency!r}').format(currency=currency)) from None


@dataclass(frozen=True, order=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(_('minor units must be an int, got {minor!r}').format(minor=self.minor))
        if abs(self.minor) > MAX_MINOR:
            raise MoneyError(_("the amount is too large for the till"))
        exponent(self.currency)

    # -- construction -------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str, *, locale: str | None = None) -> Money:
        """An amount as a cashier in the outlet's locale types it.

        ``locale`` (default: the one in use, ``i18n.locale()``) decides what a lone
        separator means: de_DE ``1.234,50`` and ``2,50``; de_CH ``1'234.50``,
        ``1’234.50``; fr ``1 234,50`` (any space, also U+202F and U+00A0); en
        ``1,234.50``. The plain form ``2.50`` is taken everywhere where it cannot
        mean anything else. Text that could mean two amounts (``1,234`` in
        de_CH, ``1.234`` in fr) or whose digit groups are not of three is
        refused with a message saying how to write it.

        More decimals than the currency has are refused, not rounded: a price
        or an amount typed by a cashier is taken exactly or not at all.
        """
        from pos_app.i18n import locale as locale_in_use

        places = exponent(currency)
        digits = _locale_digits(str(text), locale or locale_in_use())
        return cls._from_decimal_text(digits, str(text), places, currency)

    @classmethod
    def parse_plain(cls, text: str, currency: str) -> Money:
        """An amount in the plain machine form, whatever the locale: ``"14.90"``,
        ``"3"``, ``"2,50"``, ``"1'000.00"`` (configuration files, providers'
        answers). A lone ``.`` or ``,`` is always the decimal point here."""
        cleaned = str(text).strip().replace("'", "").replace(",", ".")
        return cls._from_decimal_text(cleaned, str(text), exponent(currency), currency)

    @classmethod
    def _from_decimal_text(cls, cleaned: str, text: str, places: int, currency: str) -> Money:
        if not cleaned:
            raise MoneyError(_("no amount given"))
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise MoneyError(_("{text!r} is not an amount").format(text=text)) from None
        if not value.is_finite():
            raise MoneyError(_("{text!r} is not an amount").format(text=text))
        try:
            scaled = value.scaleb(places)
            whole = scaled == scaled.to_integral_value()
        except ArithmeticError:  # decimal.Overflow and friends: far beyond any amount
            raise MoneyError(_("the amount is too large for the till")) from None
        if not whole:
            raise MoneyError(ngettext("{text!r} has more than {places} decimal",
                                      "{text!r} has more than {places} decimals", places).format(
                text=text, places=places))
        if abs(int(scaled)) > MAX_MINOR:
            raise MoneyError(_("the amount is too large for the till"))
        return cls(int(scaled), currency)

    # -- arithmetic ---------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(_('cannot mix {currency} and {other}').format(currency=self.currency, other=other.currency))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int) or isinstance(factor, bool):
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return self.minor != 0

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    @property
    def is_negative(self) -> bool:
        return self.minor < 0

    def min(self, other: Money) -> Money:
        self._same(other)
        return self if self.minor <= other.minor else other

    # -- rendering ----------------------------------------------------------
    @property
    def decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def amount_str(self) -> str:
        """``"14.90"``, ``"-0.05"`` – the bare number, no currency."""
        places = exponent(self.currency)
        return f"{self.decimal:.{places}f}"

    def shown(self) -> str:
        """The amount as a person reads it, in the outlet's locale: ``1'234.50`` (de_CH),
        ``1.234,50`` (de_DE). For screens and receipts; :meth:`amount_str` is the
        machine form (providers, journal, tests of stored values)."""
        return number(self.decimal, exponent(self.currency))

    def shown_with_currency(self) -> str:
        """``CHF 1'234.50``: :meth:`shown` after the currency code."""
        return f"{self.currency} {self.shown()}"

    def __str__(self) -> str:
        return f"{self.currency} {self.amount_str()}"


# Digit groups a person may type: spaces of every width, apostrophes (straight
# and typographic) and the locale's own group symbol.
_SPACES = " \u00a0\u202f\u2009\u2007"
_APOSTROPHES = "'\u2019"
_MINUS = "-\u2212"
_GROUPED = re.compile(r"\d{1,3}(?:\x00\d{3})+")


def _symbols(locale: str) -> tuple[str, str]:
    """The locale's group and decimal symbols (Babel's CLDR data)."""
    from pos_app.i18n import _number_format

    group, decimal, _minus = _number_format(locale, 2)
    return group, decimal


def _locale_digits(text: str, locale: str) -> str:
    """``text`` as plain digits with ``.`` for the decimal point, read as a person in
    ``locale`` means it; MoneyError for text that is ambiguous or malformed."""
    group, decimal = _symbols(locale)
    raw = text.strip()
    if not raw:
        raise MoneyError(_("no amount given"))
    sign = ""
    if raw[0] in _MINUS:
        sign, raw = "-", raw[1:].lstrip()
    elif raw[0] == "+":
        raw = raw[1:].lstrip()
    if not raw or any(not (c.isdigit() and c.isascii()) and c not in _SPACES + _APOSTROPHES + ".," + group
                      for c in raw):
        raise MoneyError(_("{text!r} is not an amount").format(text=text))
    # Spaces and apostrophes only ever group digits.
    grouping = {c for c in raw if c in _SPACES + _APOSTROPHES}
    marks = [c for c in raw if c in ".,"]
    kinds = set(marks)
    point_char: str | None
    if len(kinds) == 2:
        # Both: the last one is the decimal point, the other groups ("1.234,50", "1,234.50").
        point_char = marks[-1]
        group_chars = grouping | ({".", ","} - {point_char})
        if raw.count(point_char) != 1:
            raise MoneyError(_malformed(text, locale))
    elif len(kinds) == 1:
        mark = marks[0]
        after = raw.rsplit(mark, 1)[1]
        if len(marks) > 1:
            point_char, group_chars = None, grouping | {mark}  # "1,234,567": only digit groups
        elif mark == decimal:
            point_char, group_chars = mark, grouping  # the locale's own decimal point
        elif len(after) != 3 or not after.isdigit():
            point_char, group_chars = mark, grouping  # "14.90" in de_DE: plainly a decimal point
        elif mark == group and not grouping:
            point_char, group_chars = None, {mark}  # "1.234" in de_DE: the locale's digit group
        else:
            raise MoneyError(_ambiguous(text, locale))  # "1,234" in de_CH, "1.234" in fr
    else:
        point_char, group_chars = None, grouping
    whole, _point, fraction = raw.partition(point_char) if point_char else (raw, "", "")
    if len(group_chars) > 1:
        raise MoneyError(_malformed(text, locale))
    if group_chars:
        marked = whole
        for c in group_chars:
            marked = marked.replace(c, "\x00")
        # A space next to a group mark ("1 '234") or groups not of three: malformed.
        if not _GROUPED.fullmatch(marked):
            raise MoneyError(_malformed(text, locale))
        whole = marked.replace("\x00", "")
    if not whole and not fraction or not (whole.isdigit() or not whole) or \
            fraction and not fraction.isdigit():
        raise MoneyError(_malformed(text, locale))
    return f"{sign}{whole or '0'}.{fraction or '0'}"


def _example(locale: str) -> str:
    from pos_app.i18n import _number_format

    group, decimal, _minus = _number_format(locale, 2)
    return f"1{group}234{decimal}50"


def _ambiguous(text: str, locale: str) -> str:
    return _("{text!r} could mean two amounts: write the decimals too, e.g. {example}").format(
        text=text, example=_example(locale))


def _malformed(text: str, locale: str) -> str:
    return _("{text!r} is not an amount: write it like {example} or 1234{decimal}50").format(
        text=text, example=_example(locale), decimal=_symbols(locale)[1])


def sum_money(items: list[Money] | tuple[Money, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total


def round_to(value: Decimal) -> int:
    """Round a Decimal number of minor units half-up to an int."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
