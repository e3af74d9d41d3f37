"""Modal dialogs: an amount prompt, a yes/no confirmation and a numbered choice. Escape closes each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from pos_app.i18n import N_, _
from pos_app.ui.errors import ReportsWorkerErrors, explain
from pos_app.ui.plain import Plain, PlainLabel
from pos_app.ui.fields import AmountField


class AmountDialog(ReportsWorkerErrors, ModalScreen[bool]):
    """Ask for an amount; ``submit(text)`` returns an error to show, or None when done."""

    BINDINGS = [Binding("escape", "back", N_("Back"))]
    KEYS = N_("Enter confirm · Escape back")

    def __init__(self, title: str, prompt: str, default: str, info: str,
                 submit: Callable[[str], Awaitable[str | None]]) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._prompt = prompt
        self._default = default
        self._info = info
        self._submit = submit
        self.busy = False  # the payment is being taken (it may close the order)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Plain(self._info, classes="info")
            yield PlainLabel(self._prompt)
            yield AmountField(value=self._default, id="amount", restrict=r"[0-9.,'’ \u00a0\u202f]*", max_length=12)
            yield Plain("", id="error", classes="error")
            yield Plain(_(self.KEYS), id="keys", classes="keys")

    def on_mount(self) -> None:
        field = self.query_one("#amount", Input)
        field.focus()
        field.action_select_all()

    def on_amount_field_scan_refused(self, event: AmountField.ScanRefused) -> None:
        self.query_one("#error", Static).update(
            _("That was a scan ({code}), not an amount — type the amount, "
              "or Escape and scan at the checkout").format(code=event.code[:16]))
        self.app.bell()

    def action_back(self) -> None:
        if self.busy:
            self.query_one("#error", Static).update(_("Please wait — the payment is being taken"))
            return
        self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        self.busy = True
        self.query_one("#error", Static).update("")
        self.query_one("#keys", Static).update(_("Please wait — closing the order may ask the provider…"))
        self.run_submit(event.value)

    def worker_error(self, error: BaseException) -> None:
        self.busy = False
        self.query_one("#keys", Static).update(_(self.KEYS))
        self.query_one("#error", Static).update(explain(error) + " " + _("Check the order before trying again."))

    @work(exclusive=True, group="amount", exit_on_error=False)
    async def run_submit(self, value: str) -> None:
        """In the background: closing the order may activate gift vouchers (a provider call)."""
        try:
            error = await self._submit(value)
        finally:
            self.busy = False
        if error is None:
            self.dismiss(True)
            return
        self.query_one("#keys", Static).update(_(self.KEYS))
        self.query_one("#error", Static).update(error)
        self.query_one("#amount", Input).action_select_all()  # retype replaces it
        self.app.bell()


class ConfirmDialog(ModalScreen["bool | str"]):
    """Enter: yes (True), Escape: no (False); ``other`` = (key, what it does): a third
    answer, that key's name (the void of a sale: F1 refunds it as store credit)."""

    BINDINGS = [
        Binding("escape", "dismiss(False)", N_("No")),
        Binding("enter", "dismiss(True)", N_("Yes")),
    ]

    def __init__(self, title: str, question: str, yes: str, no: str, *,
                 other: tuple[str, str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._question = question
        self._other = other
        if other is None:
            self._keys = _("Enter {yes} · Escape {no}").format(yes=yes, no=no)
        else:
            self._keys = _("Enter {yes} · {key} {other} · Escape {no}").format(
                yes=yes, key=other[0].upper(), other=other[1], no=no)

    def on_key(self, event: events.Key) -> None:
        if self._other is not None and event.key == self._other[0]:
            event.stop()
            self.dismiss(self._other[0])

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Plain(self._question, classes="info")
            yield Plain(self._keys, classes="keys")


class ChooseDialog(ModalScreen["str | None"]):
    """Choose one of a few options by its number (1–9); Escape chooses none.
    Used when a scanned code fits several providers' code patterns."""

    BINDINGS = [Binding("escape", "dismiss(None)", N_("Back"))]

    def __init__(self, title: str, question: str, options: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._question = question
        self._options = options[:9]  # (value, label)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            lines = [self._question, ""]
            lines += [f"{number}  {label}" for number, (_value, label) in enumerate(self._options, start=1)]
            yield Plain("\n".join(lines), classes="info")
            yield Plain(_("1–{last} choose · Escape back").format(last=len(self._options)), classes="keys")

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self._options):
                event.stop()
                self.dismiss(self._options[index][0])
