"""F10: reports. ``x`` makes the X report (figures since the last Z; shown and printed,
nothing else changes); ``z`` closes the day with the Z report, after Enter on the
question, and is refused with the reason while an order is open or a voucher
operation is undecided; Escape closes. Keyboard only."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen

from pos_app.i18n import N_, _
from pos_app.journal import JournalError
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.reports import Made
from pos_app.ui.dialogs import ConfirmDialog
from pos_app.ui.errors import ReportsWorkerErrors, explain
from pos_app.ui.plain import Plain, show


class ReportsScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", N_("Back")),
        Binding("x", "x_report", N_("X report")),
        Binding("z", "z_report", N_("Z report")),
        Binding("r", "reprint", N_("Reprint the last Z report")),
    ]

    def __init__(self, till: Till) -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog status") as box:
            box.border_title = _("Reports")
            with VerticalScroll(id="report-scroll"):
                yield Plain(self._intro(), id="report")
            yield Plain("", id="note")
            yield Plain("", id="error", classes="error")
            yield Plain(_("x X report (print) · z Z report: close the day · r reprint the last Z · Escape back"),
                        classes="keys")

    def _intro(self) -> str:
        last = self.till.journal.last_z()
        lines = [_("X report: the figures since the last Z report; it is printed and changes nothing."),
                 _("Z report: closes the day; the next report starts after it.")]
        if last is not None:
            lines.append(_("Last Z report: {number}").format(number=last.number))
        else:
            lines.append(_("No Z report yet at this till."))
        return "\n".join(lines)

    def _error(self, text: str) -> None:
        show(self.query_one("#error", Plain), Text(text))
        if text:
            self._note("")

    def _note(self, text: str) -> None:
        show(self.query_one("#note", Plain), Text(text))

    def _show(self, made: Made) -> None:
        assert made.record.receipt_id is not None
        text = self.till.journal.receipt(made.record.receipt_id).text
        show(self.query_one("#report", Plain), Text(text))
        self.query_one("#report-scroll", VerticalScroll).scroll_home(animate=False)

    def action_x_report(self) -> None:
        if self.busy:
            return
        self._error("")
        try:
            made = self.till.reports.x_report()
        except CheckoutError as exc:
            self._error(str(exc))
            return
        except JournalError as exc:  # e.g. the disk is full: nothing was made, the till runs on
            self._error(explain(exc))
            self.app.bell()
            return
        self._show(made)
        self.print_report(made.record.receipt_id, _("X report {number} printed").format(number=made.record.number))

    def action_z_report(self) -> None:
        if self.busy:
            return
        self._error("")
        refusal = self.till.reports.refusal()
        if refusal is not None:
            self._error(refusal)
            self.app.bell()
            return
        last = self.till.journal.last_z()
        number = (last.number if last else 0) + 1

        def done(confirmed: bool | None) -> None:
            if not confirmed:
                self._error(_("Day not closed."))
                return
            try:
                made = self.till.reports.z_report()
            except CheckoutError as exc:  # something opened meanwhile
                self._error(str(exc))
                self.app.bell()
                return
            except JournalError as exc:  # e.g. the disk is full: the day is not closed, the till runs on
                self._error(explain(exc))
                self.app.bell()
                return
            self._show(made)
            self.print_report(made.record.receipt_id,
                              _("Z report {number} printed: the day is closed").format(number=made.record.number))

        question = _("Close the day with Z report {number}? The figures since the last Z report are printed "
                     "and the next report starts after it.").format(number=number)
        self.app.push_screen(ConfirmDialog(_("Close the day"), question, _("close the day"), _("back")), done)

    def action_reprint(self) -> None:
        """The last Z report again: its journaled receipt (marked COPY once printed), the
        same numbers as on the day it was made."""
        if self.busy:
            return
        self._error("")
        last = self.till.journal.last_z()
        if last is None or last.receipt_id is None:
            self._error(_("No Z report yet at this till."))
            return
        show(self.query_one("#report", Plain), Text(self.till.journal.receipt(last.receipt_id).text))
        self.print_report(last.receipt_id, _("Z report {number} printed again").format(number=last.number))

    @work(exclusive=True, group="report-print", exit_on_error=False)
    async def print_report(self, receipt_id: int, printed: str) -> None:
        self.busy = True
        try:
            result = await self.till.print_receipt(receipt_id)
        finally:
            self.busy = False
        if result.ok:
            self._note(printed)
        else:
            self._error(result.notice.text)

    def worker_error(self, error: BaseException) -> None:
        self.busy = False
        self._error(explain(error))
