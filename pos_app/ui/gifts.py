"""F5: sell a gift voucher (scan the printed voucher, amount, add to the order), and
F11: top up a voucher the customer has (scan it, type the amount, add to the order).
Both lines are created at the provider when the order is paid."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from pos_app.i18n import N_, _
from pos_app.journal import JournalError
from pos_app.ui.errors import ReportsWorkerErrors, explain, provider_says
from pos_app.ui.plain import Plain, PlainLabel
from pos_app.domain.codes import mask_code, normalize_voucher_code
from pos_app.services.checkout import CheckoutError, Outcome, Till
from pos_app.services.gifts import GiftCheck, TopUpCheck
from pos_app.ui.fields import AmountField, ScanField


class SellVoucherDialog(ReportsWorkerErrors, ModalScreen[Outcome | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", N_("Back"))]

    def __init__(self, till: Till) -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.check: GiftCheck | TopUpCheck | None = None
        self.busy = False

    def dialog_title(self) -> str:
        return _("Sell gift voucher")

    def dialog_prompt(self) -> str:
        return _("Scan the code printed on the gift voucher")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.dialog_title()
            yield PlainLabel(self.dialog_prompt())
            yield ScanField(id="code", max_length=64)
            yield Plain("", id="result")
            yield PlainLabel(_("Amount"), id="amount-label")
            yield AmountField(id="amount", restrict=r"[0-9.,'’ \u00a0\u202f]*", max_length=10)
            yield Plain("", id="error", classes="error")
            yield Plain(_("Enter check · Escape back"), id="keys", classes="keys")

    def on_mount(self) -> None:
        self._amount_visible(False)
        self.query_one("#code", Input).focus()

    def _amount_visible(self, visible: bool) -> None:
        self.query_one("#amount-label").display = visible
        self.query_one("#amount", Input).display = visible

    def _show(self, result: Text | str = "", error: str = "", keys: str = "") -> None:
        self.query_one("#result", Static).update(result)
        self.query_one("#error", Static).update(error)
        self.query_one("#keys", Static).update(keys or _("Enter check · Escape back"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "code" and self.check is not None \
                and normalize_voucher_code(event.value) != normalize_voucher_code(self.check.code):
            self.check = None
            self._amount_visible(False)
            self._show()

    def accept_scan(self, code: str) -> None:
        if self.busy:
            return
        self.check = None
        self._amount_visible(False)
        self.query_one("#code", Input).value = code
        self.query_one("#code", Input).focus()
        self.busy = True
        self._show(_("Checking {code} with the provider…").format(code=mask_code(code)), keys=_("Escape back"))
        self.run_check(code)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        if event.input.id == "amount" or (self.check is not None and self.check.status.can_create):
            self._add()
            return
        self.busy = True
        self._show(_("Checking {code} with the provider…").format(code=mask_code(event.value)),
                   keys=_("Escape back"))
        self.run_check(event.value)

    def worker_error(self, error: BaseException) -> None:
        self.busy = False
        self.check = None
        self._show(error=explain(error), keys=_("Enter check again · Escape back"))

    async def checked(self, raw: str) -> GiftCheck | TopUpCheck:
        return await self.till.gifts.check(raw)

    def added(self, typed: str | None) -> Outcome:
        assert isinstance(self.check, GiftCheck)
        return self.till.gifts.add(self.check, typed)

    @work(exclusive=True, group="gift-check", exit_on_error=False)
    async def run_check(self, raw: str) -> None:
        try:
            check = await self.checked(raw)
        except CheckoutError as exc:
            self._show(error=str(exc))
            self.query_one("#code", Input).action_select_all()
            self.app.bell()
            return
        finally:
            self.busy = False
        self.check = check
        self.show_checked(check)

    def show_checked(self, check: GiftCheck | TopUpCheck) -> None:
        status = check.status
        text = Text(_("{provider} gift voucher {code}").format(provider=check.display_name, code=check.masked) + "  ")
        if not status.can_create:
            text.append(_("cannot be sold"), style="bold red")
            if status.message:
                text.append("\n")
                text.append_text(provider_says(check.display_name, status.message))
            self._show(text, keys=_("Scan another code · Escape back"))
            self.query_one("#code", Input).action_select_all()
            self.app.bell()
            return
        text.append(_("can be sold"), style="bold green")
        if status.free_amount:
            limit = self.till.max_gift_voucher
            text.append("\n" + _("Free amount: type it (at most {amount})").format(amount=limit.shown()))
            self._show(text, keys=_("Enter adds it · Escape back"))
            self._amount_visible(True)
            self.query_one("#amount", Input).focus()
        else:
            assert status.amount is not None
            text.append("\n" + _("Amount {amount}").format(amount=status.amount.shown_with_currency()), style="bold")
            self._show(text, keys=_("Enter adds it to the order · Escape back"))

    def on_amount_field_scan_refused(self, event: AmountField.ScanRefused) -> None:
        self.query_one("#error", Static).update(
            _("That was a scan ({code}), not an amount — type the amount").format(code=event.code[:16]))
        self.app.bell()

    def _add(self) -> None:
        assert self.check is not None
        typed = self.query_one("#amount", Input).value if self.check.status.free_amount else None
        try:
            outcome = self.added(typed)
        except JournalError as exc:  # e.g. the disk is full: nothing was added
            self.query_one("#error", Static).update(_("Not added — {error}").format(error=exc))
            self.app.bell()
            return
        except CheckoutError as exc:
            self.query_one("#error", Static).update(str(exc))
            if self.check.status.free_amount:
                self.query_one("#amount", Input).action_select_all()
            self.app.bell()
            return
        self.dismiss(outcome)


class TopUpDialog(SellVoucherDialog):
    """F11: add credit to a voucher the customer has (JTL recharge at close)."""

    def dialog_title(self) -> str:
        return _("Top up voucher")

    def dialog_prompt(self) -> str:
        return _("Scan the customer's voucher")

    async def checked(self, raw: str) -> GiftCheck | TopUpCheck:
        return await self.till.gifts.check_top_up(raw)

    def added(self, typed: str | None) -> Outcome:
        assert isinstance(self.check, TopUpCheck)
        return self.till.gifts.add_top_up(self.check, typed)

    def show_checked(self, check: GiftCheck | TopUpCheck) -> None:
        status = check.status
        text = Text(_("{provider} voucher {code}").format(provider=check.display_name, code=check.masked) + "  ")
        if not status.can_create:
            text.append(_("cannot be topped up"), style="bold red")
            if status.message:
                text.append("\n")
                text.append_text(provider_says(check.display_name, status.message))
            self._show(text, keys=_("Scan another code · Escape back"))
            self.query_one("#code", Input).action_select_all()
            self.app.bell()
            return
        text.append(_("can be topped up"), style="bold green")
        text.append("\n" + _("Type the amount to add (at most {amount})").format(
            amount=self.till.max_gift_voucher.shown()))
        self._show(text, keys=_("Enter adds it · Escape back"))
        self._amount_visible(True)
        self.query_one("#amount", Input).focus()
