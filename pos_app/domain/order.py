"""The order aggregate: lines, tenders, totals, VAT, change and cash rounding.

Pure rules, no I/O. The services layer journals every change *before* it
applies it here, so the in-memory order is always what the journal says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pos_app.domain.money import Money, sum_money
from pos_app.domain.vat import VatLine, breakdown
from pos_app.i18n import N_, _

# Smallest cash step per currency. Swiss 5-Rappen rounding: cash totals are
# rounded to 0.05; cards and vouchers are paid to the cent.
CASH_STEP: dict[str, int] = {"CHF": 5}


class OrderError(ValueError):
    """A request that the rules refuse; the message is for the cashier."""


class OrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class LineKind(StrEnum):
    PRODUCT = "product"
    GIFT_VOUCHER = "gift_voucher"
    TOP_UP = "top_up"  # credit added to a voucher the customer has (created at close, like a gift voucher)
    DIGITAL = "digital"  # a third party's voucher bought for the customer at close (CSQ)

    @property
    def is_value(self) -> bool:
        """A value line: not revenue (VAT 0), not payable with a voucher, created at close."""
        return self is not LineKind.PRODUCT


class TenderKind(StrEnum):
    CASH = "cash"
    CARD = "card"
    VOUCHER = "voucher"

    @property
    def label(self) -> str:
        """The payment method as a person reads it: "Cash", "Bargeld"."""
        return _(TENDER_NAMES[self])


TENDER_NAMES = {TenderKind.CASH: N_("Cash"), TenderKind.CARD: N_("Card"), TenderKind.VOUCHER: N_("Voucher")}


class TenderState(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    UNKNOWN = "unknown"


def cash_round(amount: Money) -> Money:
    """Round to the currency's cash step, half up (CHF: 0.01/0.02 down, 0.03/0.04 up)."""
    step = CASH_STEP.get(amount.currency, 1)
    if step == 1:
        return amount
    sign = -1 if amount.minor < 0 else 1
    units, rest = divmod(abs(amount.minor), step)
    if rest * 2 >= step:
        units += 1
    return Money(sign * units * step, amount.currency)


@dataclass(slots=True)
class Line:
    id: int
    ean: str
    name: str
    quantity: int
    unit_price: Money
    vat_rate: Decimal
    kind: LineKind = LineKind.PRODUCT
    voided: bool = False
    code: str | None = None  # a sold gift voucher's code (printed in full on the receipt)
    provider: str | None = None  # who activates it ("eguma")
    free_amount: bool = False  # the cashier chose the amount (sent with Activate)
    activated: bool = False  # created at the provider (at close): E-GUMA activation
    undone: bool = False  # taken back at the provider since (E-GUMA deactivation)
    refs: dict[str, str] = field(default_factory=dict)  # the provider's references
    problem: str | None = None  # why the last activation failed
    details: dict[str, str] = field(default_factory=dict)  # what the customer gave (a digital voucher's e-mail)

    @property
    def live(self) -> bool:
        """A value line that exists at the provider now (activated, not undone)."""
        return self.activated and not self.undone

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity

    @property
    def in_vat(self) -> bool:
        """Sold gift vouchers are multi-purpose vouchers: not revenue, no VAT line."""
        return not self.kind.is_value


@dataclass(slots=True)
class Tender:
    id: int
    kind: TenderKind
    amount: Money  # what this tender pays of the order
    given: Money | None = None  # cash handed over
    change: Money | None = None  # cash handed back
    rounding: Money | None = None  # cash rounding difference (+ customer paid more)
    state: TenderState = TenderState.CAPTURED
    code: str | None = None  # voucher code (full, journal only; screens mask it)
    voided: bool = False
    provider: str | None = None  # voucher provider name ("eguma")
    refs: dict[str, str] = field(default_factory=dict)  # what a void needs (E-GUMA redeem_token); empty if lost
    balance_after: Money | None = None  # the voucher's balance after this payment
    problem: str | None = None  # why the last void or check of this tender failed

    @property
    def active(self) -> bool:
        """Shown on the order: not voided (pending and unknown ones are shown too)."""
        return not self.voided and self.state is not TenderState.VOIDED

    @property
    def counts(self) -> bool:
        """Pays part of the order: only money that certainly moved."""
        return self.active and self.state in (TenderState.AUTHORIZED, TenderState.CAPTURED)

    @property
    def unresolved(self) -> bool:
        """Sent to a provider, outcome not (yet) known: blocks paying and closing."""
        return self.active and self.state in (TenderState.PENDING, TenderState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class CashPlan:
    amount: Money
    given: Money
    change: Money
    rounding: Money


@dataclass(slots=True)
class Order:
    id: int
    currency: str
    status: OrderStatus = OrderStatus.OPEN
    number: str | None = None
    lines: list[Line] = field(default_factory=list)
    tenders: list[Tender] = field(default_factory=list)

    # -- views ----------------------------------------------------------------
    @property
    def active_lines(self) -> list[Line]:
        return [line for line in self.lines if not line.voided]

    @property
    def active_tenders(self) -> list[Tender]:
        return [t for t in self.tenders if t.active]

    @property
    def is_empty(self) -> bool:
        return not self.active_lines and not self.active_tenders

    @property
    def total(self) -> Money:
        return sum_money([line.total for line in self.active_lines], self.currency)

    @property
    def paid(self) -> Money:
        return sum_money([t.amount for t in self.active_tenders if t.counts], self.currency)

    @property
    def unresolved_tenders(self) -> list[Tender]:
        return [t for t in self.active_tenders if t.unresolved]

    @property
    def remaining(self) -> Money:
        """Still to pay; negative when a removed gift voucher left the order overpaid."""
        return self.total - self.paid

    @property
    def product_total(self) -> Money:
        """What vouchers may pay for: everything except sold gift vouchers."""
        return sum_money([line.total for line in self.active_lines if line.in_vat], self.currency)

    @property
    def paid_by_vouchers(self) -> Money:
        return sum_money(
            [t.amount for t in self.active_tenders if t.counts and t.kind is TenderKind.VOUCHER],
            self.currency,
        )

    @property
    def overpaid(self) -> Money:
        """Money to give back beyond the cash change (a gift voucher removed after payment)."""
        zero = Money.zero(self.currency)
        return zero - self.remaining if self.remaining.is_negative else zero

    @property
    def gift_vouchers(self) -> list[Line]:
        """The value lines: gift vouchers sold and vouchers topped up (created at close)."""
        return [line for line in self.active_lines if line.kind.is_value]

    @property
    def change(self) -> Money:
        """Cash handed back: the change of cash tenders plus any overpayment."""
        cash = sum_money([t.change for t in self.active_tenders if t.counts and t.change], self.currency)
        return cash + self.overpaid

    @property
    def rounding(self) -> Money:
        return sum_money([t.rounding for t in self.active_tenders if t.counts and t.rounding], self.currency)

    @property
    def cash_due(self) -> Money:
        return cash_round(self.remaining)

    @property
    def is_settled(self) -> bool:
        return (
            bool(self.active_lines)
            and self.total.is_positive
            and self.remaining.minor <= 0
            and not self.unresolved_tenders
        )

    def vat_breakdown(self) -> list[VatLine]:
        items = [(line.total, line.vat_rate) for line in self.active_lines if line.in_vat]
        return breakdown(items, self.currency)

    def line(self, line_id: int) -> Line:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise OrderError(_('no line {line_id} on this order').format(line_id=line_id))

    def tender(self, tender_id: int) -> Tender:
        for tender in self.tenders:
            if tender.id == tender_id:
                return tender
        raise OrderError(_('no tender {tender_id} on this order').format(tender_id=tender_id))

    # -- rules ----------------------------------------------------------------
    def _require_open(self) -> None:
        if self.status is not OrderStatus.OPEN:
            raise OrderError(_('the order is closed') if self.status is OrderStatus.CLOSED
                             else _('the order is cancelled'))

    def check_add_line(self, line: Line) -> None:
        self._require_open()
        if line.quantity < 1:
            raise OrderError(_('quantity must be at least 1'))
        if line.unit_price.currency != self.currency:
            raise OrderError(_('price in {currency}, order in {order_currency}').format(
                currency=line.unit_price.currency, order_currency=self.currency))

    def check_void_line(self, line_id: int) -> Line:
        self._require_open()
        line = self.line(line_id)
        if line.voided:
            raise OrderError(_('{name} is already voided').format(name=line.name))
        if self.unresolved_tenders:
            raise OrderError(_('resolve the open voucher payment first (select it, F8)'))
        if line.kind.is_value:
            # Not yet activated: removing it sends nothing; what was paid for it
            # becomes change due.
            if line.live:
                raise OrderError(_('{name} is already activated: F9 cancels the order and deactivates it').format(
                    name=line.name))
            return line
        if line.in_vat and (self.product_total - line.total).minor < self.paid_by_vouchers.minor:
            raise OrderError(
                _('vouchers already pay more than the products without {name}: void a voucher payment '
                  'first').format(name=line.name)
            )
        if (self.total - line.total).minor < self.paid.minor:
            raise OrderError(
                _('payments already cover more than the order without {name}: void a payment '
                  'first').format(name=line.name)
            )
        return line

    def check_void_tender(self, tender_id: int) -> Tender:
        self._require_open()
        tender = self.tender(tender_id)
        if not tender.active:
            raise OrderError(_('that payment is already voided'))
        return tender

    def _require_payable(self) -> None:
        self._require_open()
        if not self.active_lines:
            raise OrderError(_('the order is empty: scan a product first'))
        if self.unresolved_tenders:
            raise OrderError(
                _('a voucher payment is not resolved yet: select it and press Void (F8) to check it again')
            )
        if not self.remaining.is_positive:
            raise OrderError(_('nothing left to pay'))

    def voucher_amount(self, balance: Money) -> Money:
        """What a voucher pays: ``min(remaining, balance)``, computed, never typed.

        A voucher cannot buy a gift voucher: vouchers together pay at most
        the products of the order.
        """
        self._require_payable()
        if balance.currency != self.currency:
            raise OrderError(_('the voucher is in {currency}, the order in {order_currency}').format(
                currency=balance.currency, order_currency=self.currency))
        if not balance.is_positive:
            raise OrderError(_('the voucher has no balance left'))
        room = self.product_total - self.paid_by_vouchers
        if not room.is_positive:
            raise OrderError(
                _('a voucher cannot buy a gift voucher: take cash or card for the {amount} left').format(
                    amount=self.remaining.shown_with_currency())
            )
        return self.remaining.min(balance).min(room)

    def check_add_gift_voucher(self, code: str) -> None:
        self._require_open()
        if any(line.code == code for line in self.gift_vouchers if line.kind is LineKind.GIFT_VOUCHER):
            raise OrderError(_('this gift voucher is already on the order'))

    def check_add_top_up(self, code: str) -> None:
        self._require_open()
        if any(line.code == code for line in self.gift_vouchers if line.kind is LineKind.TOP_UP):
            raise OrderError(_('this voucher is already topped up on the order: void that line (F8) to change '
                               'the amount'))

    def plan_cash(self, given: Money) -> CashPlan:
        """What a cash tender of ``given`` does: pays, rounds, gives change.

        If ``given`` covers the rounded cash due, the order is paid in full:
        the tender pays the exact remaining amount, the difference between
        the remaining amount and the rounded cash due is the rounding, and
        the rest is change. Otherwise it is a part payment, taken exactly.
        """
        self._require_payable()
        if given.currency != self.currency:
            raise OrderError(_('cash in {currency}, order in {order_currency}').format(
                currency=given.currency, order_currency=self.currency))
        if given.is_negative:
            raise OrderError(_('the amount given cannot be negative'))
        step = CASH_STEP.get(self.currency, 1)
        if given.minor % step:
            raise OrderError(
                _('cash in {currency} comes in steps of {step}').format(
                    currency=self.currency, step=Money(step, self.currency).shown())
            )
        zero = Money.zero(self.currency)
        due = self.cash_due
        if given.minor >= due.minor:
            return CashPlan(self.remaining, given, given - due, due - self.remaining)
        if not given.is_positive:
            raise OrderError(_('enter the amount the customer gave'))
        return CashPlan(given, given, zero, zero)

    def check_card(self, amount: Money) -> Money:
        self._require_payable()
        if amount.currency != self.currency:
            raise OrderError(_('card amount in {currency}, order in {order_currency}').format(
                currency=amount.currency, order_currency=self.currency))
        if not amount.is_positive:
            raise OrderError(_('the card amount must be more than zero'))
        if amount.minor > self.remaining.minor:
            raise OrderError(_('a card pays at most the remaining {amount}').format(
                amount=self.remaining.shown_with_currency()))
        return amount

    def check_close(self) -> None:
        self._require_open()
        if self.unresolved_tenders:
            raise OrderError(_('a voucher payment is not resolved yet'))
        if not self.is_settled:
            raise OrderError(_('{amount} still to pay').format(amount=self.remaining.shown_with_currency()))

    def check_cancel(self) -> None:
        self._require_open()
