"""F1: sell a third party's digital voucher (CSQ gift cards, prepaid PINs).

The cashier picks a product from a numbered list (1–9, or ↑/↓ and Enter); a
dynamic product lists the provider's products the same way; then the dialog
asks what the customer must give (an account, an e-mail address) and, when
the product has several amounts or a range, the amount. Enter puts the
voucher on the order (VAT 0): it is bought from the provider when the order
is paid (``pos_app/services/digital.py``). Escape goes back a step.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input

from pos_app.domain.money import Money
from pos_app.i18n import N_, _
from pos_app.journal import JournalError
from pos_app.providers import OfferField
from pos_app.services.checkout import CheckoutError, Outcome, Till
from pos_app.services.digital import MAX_FIELD, DigitalOffer
from pos_app.ui.errors import ReportsWorkerErrors, explain
from pos_app.ui.fields import AmountField, _WedgeField
from pos_app.ui.plain import Plain, PlainLabel, show

OFFERS, PRODUCTS, DETAILS = "offers", "products", "details"


class DetailField(_WedgeField):
    """What the customer gives (an account, an e-mail address): typed, or scanned
    (a scan is typed into the field; Enter then adds the voucher)."""


def needs_amount(item: DigitalOffer) -> bool:
    """Must the amount be typed (several amounts, or a range)? A single fixed
    amount (a dynamic product's price included) needs none."""
    offer = item.offer
    return not (len(offer.amounts) == 1 and not (offer.minimum or offer.maximum))


def amount_hint(item: DigitalOffer) -> str:
    offer = item.offer
    if not needs_amount(item):
        return _("Amount {amount}").format(amount=offer.amounts[0].shown_with_currency())
    if offer.amounts:
        return _("Type the amount: {amounts}").format(amounts=", ".join(a.shown() for a in offer.amounts))
    if offer.minimum is not None and offer.maximum is not None:
        return _("Type the amount: {low} to {high}").format(low=offer.minimum.shown(), high=offer.maximum.shown())
    return _("Type the amount")


class DigitalVoucherDialog(ReportsWorkerErrors, ModalScreen[Outcome | None]):
    BINDINGS = [Binding("escape", "back", N_("Back"))]

    def __init__(self, till: Till) -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.step = OFFERS
        self.offers = till.digital.offers()
        self.choices: list[DigitalOffer] = self.offers  # the list on screen
        self.cursor = 0
        self.dynamic_offer: DigitalOffer | None = None  # the dynamic offer whose products are listed
        self.item: DigitalOffer | None = None  # the product whose details are asked
        self.fields: list[OfferField] = []
        self.busy = False  # a provider is being asked (products, fields)
        self._asked: DigitalOffer | None = None  # what the running worker asks about

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = _("Digital vouchers")
            yield Plain("", id="info", classes="info")
            yield Vertical(id="form")
            yield Plain("", id="note")
            yield Plain("", id="error", classes="error")
            yield Plain("", id="keys", classes="keys")

    def on_mount(self) -> None:
        self.query_one("#form").styles.height = "auto"
        self._say()
        self._show_list(OFFERS, self.offers)

    # -- what is shown ------------------------------------------------------------
    def _say(self, note: str = "", error: str = "") -> None:
        show(self.query_one("#note", Plain), note)
        show(self.query_one("#error", Plain), error)
        self.query_one("#note").display = bool(note)
        self.query_one("#error").display = bool(error)

    def _keys(self, text: str) -> None:
        show(self.query_one("#keys", Plain), text)

    def _show_list(self, step: str, choices: list[DigitalOffer], cursor: int = 0) -> None:
        self.step = step
        self.choices = choices
        self.cursor = max(0, min(cursor, len(choices) - 1))
        self.query_one("#form").remove_children()
        self._render_list()
        if not choices:
            self._keys(_("Escape back"))
        else:
            self._keys(_("1–{last} or ↑/↓ Enter choose · Escape back").format(last=min(9, len(choices))))

    def _render_list(self) -> None:
        if self.step == OFFERS:
            heading = _("Choose the product") if self.choices else _("No digital vouchers are set up")
        else:
            assert self.dynamic_offer is not None
            heading = _("Choose the product of {name}").format(name=self.dynamic_offer.offer.name)
        text = Text(heading)
        for index, item in enumerate(self.choices):
            number = str(index + 1) if index < 9 else " "
            row = Text(f"{number}  {item.label}")
            if index == self.cursor:
                row.stylize("reverse")
            text.append("\n")
            text.append_text(row)
        show(self.query_one("#info", Plain), text)

    def _show_details(self, item: DigitalOffer, fields: list[OfferField]) -> None:
        self.step = DETAILS
        self.item = item
        self.fields = fields
        info = Text(_("{name} from {provider}").format(name=item.offer.name, provider=item.display_name),
                    style="bold")
        info.append("\n" + self._amount_hint(item), style="")
        show(self.query_one("#info", Plain), info)
        form = self.query_one("#form")
        form.remove_children()
        widgets: list[PlainLabel | Input] = []
        for index, field in enumerate(fields):
            widgets.append(PlainLabel(field.label))
            widgets.append(DetailField(id=f"field-{index}", max_length=MAX_FIELD))
        if self._wants_amount(item):
            widgets.append(PlainLabel(_("Amount")))
            widgets.append(AmountField(id="amount", restrict=r"[0-9.,'’ \u00a0\u202f]*", max_length=10))
        form.mount_all(widgets)
        inputs = [w for w in widgets if isinstance(w, Input)]
        if inputs:
            self.call_after_refresh(inputs[0].focus)
        self._say()
        self._keys(self._enter_keys())

    def _wants_amount(self, item: DigitalOffer) -> bool:
        return needs_amount(item)

    def _enter_keys(self) -> str:
        return _("Enter adds it to the order · Escape back")

    def _amount_hint(self, item: DigitalOffer) -> str:
        return amount_hint(item)

    def _inputs(self) -> list[Input]:
        return list(self.query_one("#form").query(Input))

    # -- keys ---------------------------------------------------------------------
    def on_key(self, event: events.Key) -> None:
        if self.step == DETAILS:
            if event.key in ("up", "down"):
                event.stop()
                self.focus_previous() if event.key == "up" else self.focus_next()
            elif event.key == "enter" and not self._inputs():  # nothing to type: Enter adds it
                event.stop()
                self._add()
            return
        if self.busy:
            return
        if event.key in ("up", "down") and self.choices:
            event.stop()
            self.cursor = (self.cursor + (1 if event.key == "down" else -1)) % len(self.choices)
            self._render_list()
        elif event.key == "enter" and self.choices:
            event.stop()
            self._choose(self.choices[self.cursor])
        elif event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < min(9, len(self.choices)):
                event.stop()
                self.cursor = index
                self._render_list()
                self._choose(self.choices[index])

    def action_back(self) -> None:
        if self.busy:  # only a question to the provider (nothing is bought here): let it go
            self.workers.cancel_group(self, "digital")
            self.busy = False
            self._asked = None
            self._say()
            self._show_list(self.step, self.choices, self.cursor)
            return
        if self.step == DETAILS:
            assert self.item is not None
            if self.dynamic_offer is not None:
                self._show_list(PRODUCTS, self.choices, self.cursor)
            else:
                self._show_list(OFFERS, self.offers, self.cursor)
            self._say()
            return
        if self.step == PRODUCTS:
            assert self.dynamic_offer is not None
            back_to = self.offers.index(self.dynamic_offer) if self.dynamic_offer in self.offers else 0
            self.dynamic_offer = None
            self._show_list(OFFERS, self.offers, back_to)
            self._say()
            return
        self.dismiss(None)

    # -- asking the provider --------------------------------------------------------
    def _choose(self, item: DigitalOffer) -> None:
        self.busy = True
        self._asked = item
        self._keys(_("Escape back"))
        if item.offer.dynamic:
            self._say(_("Asking {provider} for the products of {name}…").format(
                provider=item.display_name, name=item.offer.name))
            self.run_dynamic(item)
        else:
            self._say(_("Asking {provider} what {name} needs…").format(
                provider=item.display_name, name=item.offer.name))
            self.run_fields(item)

    def _refused(self, error: str) -> None:
        self.busy = False
        self._asked = None
        self._say(error=error)
        self._show_list(self.step, self.choices, self.cursor)
        self.app.bell()

    def worker_error(self, error: BaseException) -> None:
        self._refused(explain(error))

    @work(exclusive=True, group="digital", exit_on_error=False)
    async def run_dynamic(self, item: DigitalOffer) -> None:
        try:
            products = await self.till.digital.dynamic(item)
        except CheckoutError as exc:
            if self._asked is item:
                self._refused(str(exc))
            return
        if self._asked is not item:  # Escape meanwhile
            return
        self.busy = False
        self._asked = None
        self.dynamic_offer = item
        self._say()
        self._show_list(PRODUCTS, products)

    @work(exclusive=True, group="digital", exit_on_error=False)
    async def run_fields(self, item: DigitalOffer) -> None:
        try:
            fields = await self.till.digital.fields(item)
        except CheckoutError as exc:
            if self._asked is item:
                self._refused(str(exc))
            return
        if self._asked is not item:
            return
        self.busy = False
        self._asked = None
        self._show_details(item, fields)

    # -- the details, then the order -----------------------------------------------------
    def _given(self) -> dict[str, str]:
        return {field.name: self.query_one(f"#field-{index}", Input).value
                for index, field in enumerate(self.fields)}

    def _problem(self, widget: Input) -> str | None:
        """What is wrong with one field as typed (None: it is fine)."""
        assert self.item is not None
        try:
            if widget.id == "amount":
                self.till.digital.amount_for(self.item, widget.value)
            elif widget.id and widget.id.startswith("field-"):
                field = self.fields[int(widget.id.removeprefix("field-"))]
                self.till.digital.check_details([field], {field.name: widget.value}, self.item)
        except CheckoutError as exc:
            return str(exc)
        return None

    def _refuse(self, widget: Input, problem: str) -> None:
        self._say(error=problem)
        widget.focus()
        widget.action_select_all()
        self.app.bell()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.step != DETAILS:
            return
        inputs = self._inputs()
        problem = self._problem(event.input)
        if problem is not None:
            self._refuse(event.input, problem)
            return
        later = inputs[inputs.index(event.input) + 1:] if event.input in inputs else []
        empty = next((w for w in later if not w.value.strip()), None)
        if empty is not None:  # this one is fine: on to the next one still to fill
            self._say()
            empty.focus()
            return
        self._add()

    def on_amount_field_scan_refused(self, event: AmountField.ScanRefused) -> None:
        self._say(error=_("That was a scan ({code}), not an amount — type the amount").format(code=event.code[:16]))
        self.app.bell()

    def _add(self) -> None:
        item = self.item
        assert item is not None
        for widget in self._inputs():  # the first one that is not right, with its field focused
            problem = self._problem(widget)
            if problem is not None:
                self._refuse(widget, problem)
                return
        try:
            details = self.till.digital.check_details(self.fields, self._given(), item)
            self._done(item, details)
        except JournalError as exc:  # e.g. the disk is full: nothing was added
            self._say(error=_("Not added — {error}").format(error=exc))
            self.app.bell()
            return
        except CheckoutError as exc:
            self._say(error=str(exc))
            self.app.bell()
            return

    def _done(self, item: DigitalOffer, details: dict[str, str]) -> None:
        """Put it on the order (CheckoutError, JournalError: not added) and close."""
        typed = self.query_one("#amount", Input).value if self._wants_amount(item) else None
        amount: Money = self.till.digital.amount_for(item, typed)
        self.dismiss(self.till.digital.add(item, amount, details))


class StoreCreditDialog(DigitalVoucherDialog):
    """The void of a sale refunded as store credit (F1 in the void question): only
    the customer's details for the voucher (Celbux: the phone); the amount is the
    refund. Enter answers them (the checkout then voids and issues), Escape: nothing."""

    def __init__(self, till: Till, item: DigitalOffer, refund: Money) -> None:
        super().__init__(till)
        self.credit_item = item
        self.refund = refund

    def on_mount(self) -> None:
        self.query_one("#form").styles.height = "auto"
        self.query_one(".dialog").border_title = _("Refund as store credit")
        self._say()
        self._choose(self.credit_item)

    def _wants_amount(self, item: DigitalOffer) -> bool:
        return False

    def _enter_keys(self) -> str:
        return _("Enter voids the sale and issues the voucher · Escape back")

    def _amount_hint(self, item: DigitalOffer) -> str:
        return _("Refund {amount} as store credit").format(amount=self.refund.shown_with_currency())

    def _refused(self, error: str) -> None:  # the provider could not say what it needs
        self.busy = False
        self._asked = None
        self._say(error=error)
        self._keys(_("Escape back"))
        self.app.bell()

    def _done(self, item: DigitalOffer, details: dict[str, str]) -> None:
        self.dismiss(details)  # type: ignore[arg-type]  # the checkout voids and issues

    def action_back(self) -> None:
        if self.busy:
            self.workers.cancel_group(self, "digital")
        self.dismiss(None)
