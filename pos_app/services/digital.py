"""Digital vouchers: third parties' gift cards and prepaid PINs the till sells
(CSQ). The customer pays; at the close of the order, after the payment, the
till buys the voucher (a value line of kind DIGITAL, created through the one
journaled runner) and prints its code and instructions.

The desk is provider-neutral: a provider that sells such vouchers offers them
through the port (``offers``, ``dynamic_offers``, ``offer_fields``); this
module never names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pos_app.domain.money import Money, MoneyError
from pos_app.domain.order import Line, LineKind
from pos_app.i18n import _
from pos_app.providers import Capability, Offer, OfferField, ProviderError
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Notice, Outcome
from pos_app.services.session import Session
from pos_app.services.wording import describe

MAX_FIELD = 120  # characters of one field the customer gives (an e-mail address, an account)


@dataclass(frozen=True, slots=True)
class DigitalOffer:
    """One product on the till's list, with the provider that sells it."""

    provider: str
    display_name: str
    offer: Offer

    @property
    def label(self) -> str:
        """``"City Gift Card (20.00, 50.00, 100.00)"``, ``"E-Gift Card (10.00–200.00)"``."""
        offer = self.offer
        if offer.amounts:
            return f"{offer.name} ({', '.join(a.shown() for a in offer.amounts)})"
        if offer.minimum is not None and offer.maximum is not None:
            return f"{offer.name} ({offer.minimum.shown()}–{offer.maximum.shown()})"
        return offer.name


class DigitalDesk:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _sellers(self) -> list[ProviderSlot]:
        return [slot for slot in self.session.providers.values()
                if slot.client is not None and slot.client.supports(Capability.DIGITAL)]

    @property
    def available(self) -> bool:
        """Does this till sell digital vouchers (a provider with products configured)?"""
        return any(slot.client is not None and slot.client.offers() for slot in self._sellers())

    def offers(self) -> list[DigitalOffer]:
        return [DigitalOffer(slot.name, slot.display_name, offer)
                for slot in self._sellers() for offer in (slot.client.offers() if slot.client else [])]

    async def dynamic(self, item: DigitalOffer) -> list[DigitalOffer]:
        """The products behind a dynamic offer, as the provider lists them now."""
        slot = self.session.slot(item.provider)
        assert slot.client is not None
        try:
            found = await slot.client.dynamic_offers(item.offer.code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        if not found:
            raise CheckoutError(_("{provider} lists no products for {name} now").format(
                provider=slot.display_name, name=item.offer.name))
        return [DigitalOffer(item.provider, item.display_name, offer) for offer in found]

    async def fields(self, item: DigitalOffer) -> list[OfferField]:
        """What the customer must give for ``item`` (asked before it goes on the order)."""
        slot = self.session.slot(item.provider)
        assert slot.client is not None
        try:
            found = await slot.client.offer_fields(item.offer.code)
        except ProviderError as exc:
            slot.mark(exc)
            raise CheckoutError(describe(exc, slot.display_name, key_command=slot.key_command)) from None
        slot.mark(None)
        return found

    def amount_for(self, item: DigitalOffer, typed: str | None) -> Money:
        """The amount the customer pays: the offer's only amount, or the one typed
        (one of its amounts, or within its range)."""
        offer = item.offer
        if len(offer.amounts) == 1 and not (offer.minimum or offer.maximum):
            return offer.amounts[0]
        try:
            amount = Money.parse(typed or "", self.session.currency)
        except MoneyError as exc:
            raise CheckoutError(_("Amount: {problem}").format(problem=exc)) from None
        if not amount.is_positive:
            raise CheckoutError(_("Amount: must be more than zero"))
        if not offer.allows(amount):
            if offer.amounts:
                raise CheckoutError(_("Amount: {name} is sold for {amounts}").format(
                    name=offer.name, amounts=", ".join(a.shown() for a in offer.amounts)))
            assert offer.minimum is not None and offer.maximum is not None
            raise CheckoutError(_("Amount: {name} is sold for {low} to {high}").format(
                name=offer.name, low=offer.minimum.shown(), high=offer.maximum.shown()))
        return amount

    def check_details(self, fields: list[OfferField], given: Mapping[str, str],
                      item: DigitalOffer | None = None) -> dict[str, str]:
        """The customer's answers, cleaned; CheckoutError naming the first that is
        missing or cannot be right (an e-mail address without @; what the provider
        checks itself, such as a phone number, when ``item`` is given)."""
        details: dict[str, str] = {}
        for field in fields:
            value = " ".join((given.get(field.name) or "").split())
            if not value:
                raise CheckoutError(_("{field}: required").format(field=field.label))
            if len(value) > MAX_FIELD:
                raise CheckoutError(_("{field}: at most {limit} characters").format(
                    field=field.label, limit=MAX_FIELD))
            if "mail" in field.name.lower() and ("@" not in value or " " in value):
                raise CheckoutError(_("{field}: not an e-mail address").format(field=field.label))
            if item is not None:
                client = self.session.slot(item.provider).client
                assert client is not None
                try:
                    value = client.check_detail(item.offer.code, field.name, value)
                except ValueError as exc:
                    raise CheckoutError(_("{field}: {problem}").format(field=field.label, problem=exc)) from None
            details[field.name] = value
        return details

    def credit_offers(self) -> list[DigitalOffer]:
        """The vouchers a refund may be given as (store credit: ``Offer.store_credit``)."""
        return [item for item in self.offers() if item.offer.store_credit]

    def add(self, item: DigitalOffer, amount: Money, details: Mapping[str, str]) -> Outcome:
        """Put the digital voucher on the order (VAT 0); it is bought when the order is paid."""
        session = self.session
        client = session.slot(item.provider).client
        assert client is not None
        shown = [client.shown_detail(item.offer.code, name, value) for name, value in details.items()]
        name = " ".join([item.offer.name, *(text for text in shown if text)])  # "Voucher by SMS +27 82 123 4567"
        line = Line(0, item.offer.code, name, 1, amount, Decimal(0), kind=LineKind.DIGITAL,
                    code=item.offer.code, provider=item.provider, free_amount=True, details=dict(details))
        session.guard(lambda: session.order.check_add_line(line))
        session.journal.add_line(session.order_id, line)
        session.reload()
        session.last_closed = None
        return Outcome(Notice(_("Added {name} {amount} — bought from {provider} when the order is paid").format(
            name=name, amount=amount.shown(), provider=item.display_name)))
