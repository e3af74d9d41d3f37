"""Money as integer minor units plus an ISO 4217 currency code. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

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
        raise MoneyError(f"unsupported currency {currency!r}") from None


@dataclass(frozen=True, order=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(f"minor units must be an int, got {self.minor!r}")
        if abs(self.minor) > MAX_MINOR:
            raise MoneyError("the amount is too large for the till")
        exponent(self.currency)

    # -- construction -------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string such as ``"14.90"``, ``"3"``, ``"2,50"``.

        More decimals than the currency has are refused, not rounded: a
        price or an amount typed by a cashier is taken exactly or not at all.
        """
        cleaned = str(text).strip().replace("'", "").replace(",", ".")
        if not cleaned:
            raise MoneyError("no amount given")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise MoneyError(f"{text!r} is not an amount") from None
        if not value.is_finite():
            raise MoneyError(f"{text!r} is not an amount")
        places = exponent(currency)
        try:
            scaled = value.scaleb(places)
            whole = scaled == scaled.to_integral_value()
        except ArithmeticError:  # decimal.Overflow and friends: far beyond any amount
            raise MoneyError("the amount is too large for the till") from None
        if not whole:
            raise MoneyError(f"{text!r} has more than {places} decimals")
        return cls(int(scaled), currency)

    # -- arithmetic ---------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

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
        from pos_app.i18n import number

        return number(self.decimal, exponent(self.currency))

    def shown_with_currency(self) -> str:
        """``CHF 1'234.50``: :meth:`shown` after the currency code."""
        return f"{self.currency} {self.shown()}"

    def __str__(self) -> str:
        return f"{self.currency} {self.amount_str()}"


def sum_money(items: list[Money] | tuple[Money, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total


def round_to(value: Decimal) -> int:
    """Round a Decimal number of minor units half-up to an int."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
