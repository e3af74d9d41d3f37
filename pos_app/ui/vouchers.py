"""Voucher payment dialog (F2, or a voucher code scanned at the checkout) and
the balance check screen (F6)."""

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
from pos_app.services.vouchers import AmbiguousCode, BalanceChanged, ProviderOff, VoucherCheck
from pos_app.ui.dialogs import ChooseDialog
from pos_app.ui.fields import ScanField


async def routed_check(screen: ModalScreen, till: Till, raw: str, for_payment: bool = True) -> VoucherCheck | None:
    """The balance check of a scanned code; a code several providers' patterns fit
    asks the cashier which provider first (None: the cashier chose none)."""
    try:
        return await till.vouchers.check(raw, for_payment=for_payment)
    except AmbiguousCode as exc:
        options = [(name, till.providers[name].display_name) for name in exc.providers]
        chosen = await screen.app.push_screen_wait(
            ChooseDialog(_("Which provider?"), str(exc), options))
        if chosen is None:
            return None
        return await till.vouchers.check(raw, for_payment=for_payment, provider=chosen)


def describe_check(check: VoucherCheck) -> Text:
    b = check.balance
    text = Text()
    text.append(_("{provider} voucher {code}").format(provider=check.display_name, code=check.masked) + "  ")
    if b.redeemable:
        text.append(_("redeemable"), style="bold green")
    else:
        text.append(_("NOT redeemable"), style="bold red")
    unknown = not b.redeemable and not b.balance and not (b.total and b.total.is_positive)
    if not unknown:  # an unknown code has no balance worth showing ("0.00 of 0.00")
        text.append("\n")
        if b.total is not None:
            text.append(_("Balance {currency} {amount} of {total}").format(
                currency=b.currency, amount=b.balance.shown(), total=b.total.shown()))
        else:
            text.append(_("Balance {currency} {amount}").format(currency=b.currency, amount=b.balance.shown()))
    if b.message:
        text.append("\n")
        text.append_text(provider_says(check.display_name, b.message))
    for flag in check.flags:  # a redemption decided "did not happen" that this read shows applied
        text.append(f"\n! {flag}", style="bold red")
    return text


def without_provider_words(reason: str, message: str | None) -> str:
    """``reason`` without the lines that repeat the provider's ``message``, which
    :func:`describe_check` shows already (labelled as the provider's words)."""
    words = (message or "").strip()
    if not words:
        return reason.strip()
    return "\n".join(line for line in reason.splitlines() if words not in line and line.strip() != words).strip()


class VoucherDialog(ReportsWorkerErrors, ModalScreen[Outcome | None]):
    """Scan or type → Balance → Enter redeems ``min(remaining, balance)``."""

    BINDINGS = [Binding("escape", "back", N_("Back"))]

    def __init__(self, till: Till, code: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.initial = code
        self.check: VoucherCheck | None = None
        self.checked_text: str | None = None
        self.busy: str | None = None  # "checking" | "redeeming"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = _("Voucher payment")
            yield Plain(_("Remaining {amount}").format(amount=self.till.order.remaining.shown_with_currency()),
                        classes="info")
            yield PlainLabel(_("Voucher code (scan or type)"))
            yield ScanField(value=self.initial, id="code", max_length=64)
            yield Plain("", id="result")
            yield Plain("", id="error", classes="error")
            yield Plain(_("Enter check · Escape back"), id="keys", classes="keys")

    def on_mount(self) -> None:
        self.query_one("#code", Input).focus()
        if self.initial:
            self.start_check(self.initial)

    def _show(self, result: Text | str = "", error: str = "", keys: str | None = None) -> None:
        self.query_one("#result", Static).update(result)
        self.query_one("#error", Static).update(error)
        if keys is not None:
            self.query_one("#keys", Static).update(keys)

    def accept_scan(self, code: str) -> None:
        if self.busy:
            return
        self.query_one("#code", Input).value = code
        self.start_check(code)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.check is not None and normalize_voucher_code(event.value) != self.checked_text:
            self.check = None
            self._show(keys=_("Enter check · Escape back"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return  # an Enter while waiting (a scanner's second suffix) does nothing
        if self.check is not None and self.check.amount is not None:
            self.redeem(self.check)
        else:
            self.start_check(event.value)

    def worker_error(self, error: BaseException) -> None:
        """Never left on "Redeeming… please wait": free the dialog and say what happened
        (a redemption that may have gone out is settled by reconciliation)."""
        self.busy = None
        self.check = None
        self._show(error=explain(error), keys=_("Escape back — the order shows what happened"))

    def start_check(self, raw: str) -> None:
        self.busy = "checking"
        self.check = None
        self.checked_text = normalize_voucher_code(raw)
        self._show(_("Checking {code} with the provider…").format(code=mask_code(raw)), keys=_("Escape back"))
        self.run_check(raw)

    @work(exclusive=True, group="voucher-check", exit_on_error=False)
    async def run_check(self, raw: str) -> None:
        try:
            check = await routed_check(self, self.till, raw)
        except CheckoutError as exc:
            # A provider that is off stays off until it is fixed: no "check again" then.
            keys = _("Escape back") if isinstance(exc, ProviderOff) else _("Enter check again · Escape back")
            self._show(error=str(exc), keys=keys)
            self.query_one("#code", Input).action_select_all()  # the next scan replaces it
            self.app.bell()
            return
        finally:
            self.busy = None
        if check is None:
            self._show(error=_("No provider chosen — scan the voucher again"), keys=_("Escape back"))
            return
        self._show_check(check)

    def _show_check(self, check: VoucherCheck, note: str = "") -> None:
        self.check = check
        result = describe_check(check)
        if note:
            result.append(f"\n{note}", style="bold yellow")
        if check.amount is not None:
            if check.capped:  # less than the balance and what is left: the services say why
                result.append(f"\n{check.capped}", style="bold yellow")
            result.append("\n\n" + _("Pay {amount}").format(amount=check.amount.shown_with_currency()), style="bold")
            self._show(result, keys=_("Enter redeem · Escape back"))
        else:
            reason = without_provider_words(check.reason or "", check.balance.message)
            if reason:
                result.append(f"\n{reason}", style="bold red")
            self._show(result, keys=_("Scan another code · Escape back"))
            self.query_one("#code", Input).action_select_all()  # the next scan replaces it
            self.app.bell()

    def redeem(self, check: VoucherCheck) -> None:
        self.busy = "redeeming"
        amount = check.amount.shown_with_currency() if check.amount is not None else ""
        self._show(describe_check(check).append("\n\n" + _("Redeeming {amount}…").format(amount=amount), style="bold"),
                   keys=_("Please wait…"))
        self.run_redeem(check)

    @work(exclusive=True, group="voucher-redeem", exit_on_error=False)
    async def run_redeem(self, check: VoucherCheck) -> None:
        try:
            outcome = await self.till.vouchers.pay(check)
        except BalanceChanged as exc:  # the dialog's read was old and the voucher moved meanwhile
            self.busy = None
            self._show_check(exc.check, note=str(exc))
            self.app.bell()
            return
        except CheckoutError as exc:
            self.busy = None
            self.check = None
            self._show(error=str(exc), keys=_("Enter check again · Escape back"))
            self.app.bell()
            return
        self.busy = None
        self.dismiss(outcome)

    def action_back(self) -> None:
        if self.busy == "redeeming":
            self.app.bell()  # never walk away from money in flight
            self._show(error=_("Redeeming — wait for the answer"))
            return
        self.dismiss(None)


class SlipCodeInput(ScanField):
    """The balance screen's code field: lets a lone 'p' through as "print slip"
    when a result is shown and the field is empty (scanned codes are upper case)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        screen = self.screen
        if key == "p" and not self.value and isinstance(screen, BalanceScreen) and screen.check is not None:
            return False
        return super().check_consume_key(key, character)


class BalanceScreen(ReportsWorkerErrors, ModalScreen[None]):
    """F6: check a voucher's balance; 'p' prints a slip. Never touches the order."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", N_("Back")),
        Binding("p", "print_slip", N_("Print slip"), priority=True),
    ]

    def __init__(self, till: Till) -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.check: VoucherCheck | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = _("Balance check")
            yield PlainLabel(_("Voucher code (scan or type)"))
            yield SlipCodeInput(id="code", max_length=64)
            yield Plain("", id="result")
            yield Plain("", id="error", classes="error")
            yield Plain(_("Enter check · Escape back"), id="keys", classes="keys")

    def on_mount(self) -> None:
        self.query_one("#code", Input).focus()

    def _show(self, result: Text | str = "", error: str = "", keys: str = "") -> None:
        self.query_one("#result", Static).update(result)
        self.query_one("#error", Static).update(error)
        self.query_one("#keys", Static).update(keys or _("Enter check · Escape back"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "print_slip":
            # 'p' prints only with a result shown and an empty field; otherwise it is typed.
            return self.check is not None and not self.query_one("#code", Input).value
        return True

    def worker_error(self, error: BaseException) -> None:
        self.check = None
        self._show(error=explain(error))

    def accept_scan(self, code: str) -> None:
        self._show(_("Checking…"))
        self.run_check(code)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._show(_("Checking…"))
            self.run_check(event.value)

    @work(exclusive=True, group="balance", exit_on_error=False)
    async def run_check(self, raw: str) -> None:
        field = self.query_one("#code", Input)
        try:
            check = await routed_check(self, self.till, raw, for_payment=False)
        except CheckoutError as exc:
            self.check = None
            self._show(error=str(exc))
            self.app.bell()
            return
        if check is None:
            self.check = None
            self._show(error=_("No provider chosen — scan the voucher again"))
            return
        self.check = check
        field.clear()  # ready for the next scan
        self._show(describe_check(check), keys=_("p print slip · scan another · Escape back"))

    def action_print_slip(self) -> None:
        assert self.check is not None
        try:
            receipt_id = self.till.store_balance_slip(self.check)
        except JournalError as exc:
            self._show(describe_check(self.check), error=_("No slip — {error}").format(error=exc))
            return
        self._show(describe_check(self.check), keys=_("Printing…"))
        self.print_slip(receipt_id)

    @work(exclusive=False, group="print", exit_on_error=False)
    async def print_slip(self, receipt_id: int) -> None:
        result = await self.till.print_receipt(receipt_id)
        assert self.check is not None
        if result.ok:
            self._show(describe_check(self.check), keys=_("Slip printed · scan another · Escape back"))
        else:
            self._show(describe_check(self.check), error=result.notice.text)
