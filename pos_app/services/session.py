"""What a till's use cases share: configuration, journal, providers, the open
order and the provider lock. The desks (tenders, value lines, closing,
storno, reconciliation) each get the session and whatever else they need
passed in, so none of them imports another or the Till."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from pos_app.config import Config
from pos_app.domain.order import Order, OrderError
from pos_app.i18n import _
from pos_app.journal.api import JournalStore
from pos_app.services.providers import ProviderSlot
from pos_app.services.results import CheckoutError, Closed

T = TypeVar("T")


class Session:
    def __init__(
        self,
        config: Config,
        journal: JournalStore,
        providers: dict[str, ProviderSlot],
        clock: Callable[[], datetime] = datetime.now,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.journal = journal
        self.providers = providers
        self.clock = clock  # local time, for receipts
        self.utcnow = utcnow  # for settle deadlines (the journal's times are UTC)
        self.monotonic = monotonic  # for the age of a dialog's balance read
        self.currency = config.outlet.currency
        self.provider_lock = asyncio.Lock()  # one provider conversation at a time (inflight.py)
        self.calls_in_flight = 0  # holders of the lock: 0 or 1
        # What a long provider step is waiting for, for the screen (the checkout sets it).
        self.progress: Callable[[str], None] = lambda text: None
        self.last_closed: Closed | None = None
        recovered = journal.open_order_id()
        self.recovered = recovered is not None
        self._order_id = recovered if recovered is not None else journal.start_order(self.currency)
        self.order: Order = journal.load_order(self._order_id)

    @property
    def order_id(self) -> int:
        return self._order_id

    def reload(self) -> Order:
        """Read the current order back from the journal (the source of truth)."""
        self.order = self.journal.load_order(self._order_id)
        return self.order

    def start_new_order(self) -> None:
        self._order_id = self.journal.start_order(self.currency)
        self.reload()

    def switch_to(self, order_id: int) -> None:
        """The open order is now ``order_id`` (started with the close of the last one)."""
        self._order_id = order_id
        self.reload()

    def slot(self, name: str | None) -> ProviderSlot:
        """A provider that can be asked now; CheckoutError says why not."""
        slot = self.providers.get(name or "")
        if slot is None or slot.client is None:
            reason = slot.problem if slot is not None else \
                _("provider {name!r} is not configured").format(name=name)
            raise CheckoutError(reason or _("provider {name!r} cannot be used").format(name=name))
        return slot

    def display_name(self, name: str | None) -> str:
        slot = self.providers.get(name or "")
        return slot.display_name if slot is not None else (name or _("the provider"))

    def where(self, order_id: int | None) -> str:
        """How the cashier knows an order: its number, or "the open order"."""
        if order_id is None:
            return _("no order")
        if order_id == self._order_id:
            return _("the open order")
        order = self.journal.load_order(order_id)
        return _("order {number}").format(number=order.number) if order.number else _("an earlier order")

    @staticmethod
    def guard(check: Callable[[], T]) -> T:
        """Run a domain check; its refusal becomes a CheckoutError for the cashier."""
        try:
            return check()
        except OrderError as exc:
            message = str(exc)
            raise CheckoutError(message[:1].upper() + message[1:]) from None
