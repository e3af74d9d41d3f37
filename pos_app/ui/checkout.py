"""The checkout screen: order, totals, tenders, scan field, status line, F-keys."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from rich.console import Console
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input

from pos_app.i18n import N_, _, ngettext, number
from pos_app.journal import JournalError
from pos_app.ui.errors import ReportsWorkerErrors
from pos_app.ui.plain import Plain, same, show
from pos_app.domain.codes import mask_code
from pos_app.domain.money import Money, exponent
from pos_app.domain.order import Tender, TenderKind, TenderState
from pos_app.domain.vat import format_rate
from pos_app.providers import OpKind
from pos_app.services.checkout import CheckoutError, Level, Notice, Outcome, Till
from pos_app.services.journal_server import server_state
from pos_app.services.results import Confirm
from pos_app.services.digital import DigitalOffer
from pos_app.ui.dialogs import AmountDialog, ConfirmDialog
from pos_app.ui.fields import ScanField
from pos_app.ui.digital import DigitalVoucherDialog, StoreCreditDialog
from pos_app.ui.footer import TillFooter
from pos_app.ui.gifts import SellVoucherDialog, TopUpDialog
from pos_app.ui.reports import ReportsScreen
from pos_app.ui.status import StatusScreen
from pos_app.ui.textual_caches import release_discarded_styles
from pos_app.ui.vouchers import BalanceScreen, VoucherDialog

def now() -> datetime:
    """The clock of the title (tests freeze it)."""
    return datetime.now()


# Keys of DESIGN.md whose screens come in later versions: pressing one says so.
NOT_YET: dict[str, str] = {}



def _bindings() -> list[Binding]:
    # Labels are marked here and translated where the footer shows them (TillFooter).
    spec = [
        ("f1", "digital", N_("Digital")),
        ("f2", "voucher", N_("Voucher")),
        ("f3", "cash", N_("Cash")),
        ("f4", "card", N_("Card")),
        ("f5", "sell_voucher", N_("Sell")),
        ("f6", "balance", N_("Balance")),
        ("f7", "reprint", N_("Reprint")),
        ("f8", "void", N_("Void")),
        ("f9", "cancel", N_("Cancel")),
        ("f10", "reports", N_("Reports")),
        ("f11", "top_up", N_("Top up")),
        ("f12", "status", N_("Status")),
    ]
    bindings = [Binding(key, action, label, id=action, priority=True) for key, action, label in spec]
    bindings += [
        Binding("up", "select(-1)", N_("Select up"), show=False),
        Binding("down", "select(1)", N_("Select down"), show=False),
    ]
    return bindings


# Column widths of the order table (no cell padding: the numbers are right-aligned in
# columns wider than they are, which makes the gaps). The name takes what is left.
QTY_WIDTH, PRICE_WIDTH, TOTAL_WIDTH, VAT_WIDTH = 4, 9, 10, 6
AMOUNT_WIDTH = 10  # the tenders' amount column
MIN_NAME_WIDTH = 12


def pane_widths(screen_width: int) -> tuple[int, int]:
    """(width of the "To pay" pane, width left for the order's name column and the
    number columns) for a screen: 28 and 49 at 80 columns, 36 and 81 at 120."""
    pay = max(28, min(44, screen_width * 3 // 10))
    return pay, screen_width - pay - 2 - 1  # the order pane's border, its scroll bar


def column_widths(room: int, headers: list[str]) -> list[int]:
    """Widths of the order's columns (quantity, name, price, total, VAT) in ``room``:
    each number column as wide as its numbers or its translated header and a space,
    the name column the rest."""
    minimum = [QTY_WIDTH, 0, PRICE_WIDTH, TOTAL_WIDTH, VAT_WIDTH]
    widths = [max(least, len(header) + 1) for least, header in zip(minimum, headers, strict=True)]
    widths[1] = 0
    widths[1] = max(MIN_NAME_WIDTH, room - sum(widths))
    return widths


def typed_form(amount: Money) -> str:
    """``amount`` as a cashier would type it in the outlet's locale: ``17,40`` (de_DE),
    ``17.40`` (de_CH); no grouping, which ``Money.parse`` would not take in every locale."""
    return number(amount.decimal, exponent(amount.currency), grouping=False)


def pair(label: str, amount: str, width: int) -> str:
    """``label`` left and ``amount`` right on one line of ``width`` (at least one space)."""
    return f"{label}{' ' * max(1, width - len(label) - len(amount))}{amount}"


def wrapped(text: str | Text, width: int, style: str = "") -> Text:
    """A table cell's text folded to its column (a problem must be read whole, not cut)."""
    cell = text.copy() if isinstance(text, Text) else Text(text, style=style)
    lines = cell.wrap(Console(width=width), width)
    for line in lines:
        line.rstrip()
    return Text("\n").join(lines)


Row = tuple[str, tuple[str | Text, ...], int]  # key, cells, height


def sync_rows(table: DataTable[str | Text], rows: list[Row]) -> None:
    """Make ``table`` show ``rows``, touching only what changed: cells are updated in
    place (no new layout); rows are removed and added only from the first row whose
    key or height differs (a new line, a void), which changes the table's height."""
    current = list(table.rows.values())
    keep = 0
    while (keep < min(len(current), len(rows)) and current[keep].key.value == rows[keep][0]
           and current[keep].height == rows[keep][2]):
        keep += 1
    if not keep and current:
        table.clear()
    else:
        for row in current[keep:]:
            table.remove_row(row.key)
    for key, cells, _height in rows[:keep]:
        for column, cell in zip(table.columns, cells, strict=True):
            if not same(table.get_cell(key, column), cell):
                table.update_cell(key, column, cell)
    for key, cells, height in rows[keep:]:
        table.add_row(*cells, key=key, height=height)


class CheckoutScreen(ReportsWorkerErrors, Screen[None]):
    BINDINGS = _bindings()

    def __init__(self, till: Till) -> None:
        super().__init__()
        self.till = till
        self.selected: tuple[str, int] | None = None
        self.provider_busy = False  # a cashier step is talking to a provider
        self._reconciling = False
        self._retry_timer: Timer | None = None
        self._reported_waiting = False  # the cashier was told what is waited for
        self._retry_due = 0.0  # when the pending background check runs (monotonic)
        self._order_number = ""
        self._widths = (0, 0)  # (pay pane, name column): set for the screen's width
        self._qty_width = QTY_WIDTH
        self._pending_confirm: Confirm | None = None  # a question for when no dialog is on top

    # -- layout ---------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Plain(id="title")
        with Horizontal(id="main"):
            with VerticalScroll(id="order-pane") as order_pane:
                order_pane.border_title = _("Order")
                yield DataTable(id="lines", cursor_type="row", zebra_stripes=False, cell_padding=0)
                yield Plain(id="last-receipt")
            with Vertical(id="pay-pane") as pay_pane:
                pay_pane.border_title = _("To pay")
                yield Plain(id="totals")
                yield DataTable(id="tenders", cursor_type="row", show_header=False, cell_padding=0)
                yield Plain(id="tender-notes")
                yield Plain(id="balance")
        with Horizontal(id="bottom"):
            yield ScanField(placeholder=_("Scan or type a barcode (3*code for 3 pieces)"), id="scan",
                            max_length=128)
            yield Plain(id="health")
        yield Plain(id="status")
        yield TillFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.till.session.progress = lambda text: self.say(Notice(text))  # a long provider step's wait
        for table in self.query(DataTable):
            table.can_focus = False
        self._lay_out(self.app.size.width)
        self.query_one("#scan", Input).focus()
        self.set_interval(1.0, self._tick)
        self.refresh_order()
        notice = self.till.startup_notice()
        self.say(notice or Notice(_("Ready — scan a product")))
        if self.till.recovery.open_ops():
            self.say(Notice(_("Checking unfinished provider operations…"), Level.WARNING))
            self.reconcile()

    def on_resize(self, event: events.Resize) -> None:
        if self._lay_out(event.size.width):
            self.refresh_order()

    def _lay_out(self, screen_width: int) -> bool:
        """Size the panes and columns for the screen's width: the name column and the
        "To pay" pane take what the screen has beyond 80 columns. True if it changed."""
        pay, room = pane_widths(screen_width)
        headers = [_("Qty"), _("Item"), _("Price"), _("Total"), _("VAT")]
        widths = column_widths(room, headers)
        if (pay, widths[1]) == self._widths:
            return False
        self._widths = (pay, widths[1])
        self.query_one("#pay-pane").styles.width = pay
        lines = self.query_one("#lines", DataTable)
        lines.clear(columns=True)  # refresh_order adds the rows again
        for key, header, width in zip(("qty", "name", "price", "total", "vat"), headers, widths, strict=True):
            label = header if key == "name" else header.rjust(width - 1 if key == "qty" else width)
            lines.add_column(Text(label), key=key, width=width)
        self._qty_width = widths[0]
        tenders = self.query_one("#tenders", DataTable)
        tenders.clear(columns=True)
        tenders.add_column(Text(_("Tender")), key="name", width=self._tender_width)
        tenders.add_column(Text(_("Amount")), key="amount", width=AMOUNT_WIDTH)
        return True

    @property
    def _name_width(self) -> int:
        return self._widths[1]

    @property
    def _pay_inner(self) -> int:
        """Characters on a line of the "To pay" pane (inside its border and padding)."""
        return self._widths[0] - 4

    @property
    def _tender_width(self) -> int:
        return self._pay_inner - AMOUNT_WIDTH

    def on_screen_resume(self) -> None:
        """Back from a dialog: let go of what Textual still keeps of its widgets, and
        ask a question the till kept while the dialog was open (``_ask``)."""
        self.call_after_refresh(release_discarded_styles)
        if self._pending_confirm is not None:
            self.call_after_refresh(self._ask_pending)

    def schedule_reconcile(self, again: bool = False) -> None:
        """Look again by itself while any provider operation is undecided: when its
        settle window ends, or every 30 s while the provider cannot tell. A check
        already due sooner is kept (``again``: the last one just ran)."""
        delay = self.till.recovery.next_check_in()
        if delay is None:
            if self._retry_timer is not None:
                self._retry_timer.stop()
                self._retry_timer = None
            return
        due = time.monotonic() + delay
        if self._retry_timer is not None and not again and self._retry_due <= due + 0.5:
            return
        if self._retry_timer is not None:
            self._retry_timer.stop()
        self._retry_due = due
        self._retry_timer = self.set_timer(delay, self.reconcile)

    @work(exclusive=True, group="recovery", exit_on_error=False)
    async def reconcile(self) -> None:
        """Settle provider calls whose outcome the journal does not know (start-up, then
        by itself in the background until each is decided)."""
        if self._reconciling:
            return
        self._reconciling = True  # the cashier carries on meanwhile: each operation takes its
        try:                      # turn under the till's provider lock (services/inflight.py)
            results = await self.till.recovery.run()
        finally:
            self._reconciling = False
        self.refresh_order()
        decided = [r for r in results if r.resolved]
        if decided or (results and self.till.recovery.open_ops() and not self._reported_waiting):
            unresolved = [r for r in results if not r.resolved]
            text = " · ".join(r.text for r in results)
            if unresolved:
                text += " — " + _("the till checks again by itself; F12 shows them")
            self._reported_waiting = bool(unresolved)
            self.say(Notice(text, Level.ERROR if unresolved else Level.WARNING))
            if self.till.order.is_settled and not any(r.operation == "undo" for r in results):
                self.say(Notice(text + " — " + _("the order is paid: Enter closes it"), Level.WARNING))
        self.schedule_reconcile(again=True)

    def worker_error(self, error: BaseException) -> None:
        """A failed step or reconciliation frees the checkout (the app says what happened)."""
        self.provider_busy = False
        self._reconciling = False

    # -- rendering ------------------------------------------------------------
    def _tick(self) -> None:
        """The clock: redraws the title from what refresh_order read (no journal query),
        and the health line when the journal server came or went (read from memory)."""
        self._render_title()
        server = server_state(self.till.journal, self.till.config.journal.url)
        if (None if server is None else (server.online, server.conflict)) != getattr(self, "_server_shown", None):
            self._render_health()

    def _render_title(self) -> None:
        cfg = self.till.config
        left = _("{outlet} · Till {till} · Order {number}").format(
            outlet=cfg.outlet.name, till=cfg.outlet.till, number=self._order_number)
        if cfg.demo:
            left += " · " + _("DEMO")
        right = f"{self.till.currency}   {now():%H:%M}"
        title = self.query_one("#title", Plain)
        room = title.size.width - 2
        if room > len(right) + 1 and len(left) + len(right) + 1 > room:  # a long outlet name
            left = left[:room - len(right) - 2] + "…"
        width = max(room, len(left) + len(right) + 1)
        show(title, left + " " * (width - len(left) - len(right)) + right)  # once a minute

    def refresh_order(self) -> None:
        order = self.till.order
        items = self._selectable()
        if self.selected not in items:
            self.selected = items[-1] if items else None
        self._order_number = self.till.next_number  # changes only when an order closes
        self._render_title()

        line_rows: list[Row] = []
        for line in order.active_lines:
            vat = format_rate(line.vat_rate) if line.in_vat else "—"
            line_rows.append((f"line-{line.id}", (
                f"{line.quantity:>{self._qty_width - 1}} ", Text(line.name, no_wrap=True, overflow="ellipsis"),
                Text(line.unit_price.shown(), justify="right"),
                Text(line.total.shown(), justify="right"), Text(vat, justify="right")), 1))
            if line.problem and not line.activated:
                problem = wrapped(f"! {line.problem}", self._name_width, "bold red")
                line_rows.append((f"line-{line.id}-problem", ("", problem, "", "", ""),
                                  len(problem.plain.splitlines())))
        sync_rows(self.query_one("#lines", DataTable), line_rows)
        tender_rows: list[Row] = []
        for tender in order.active_tenders:
            for index, (label, amount) in enumerate(self._tender_rows(tender)):
                key = f"tender-{tender.id}" if index == 0 else f"tender-{tender.id}-{index}"
                label = wrapped(label, self._tender_width - 1)
                tender_rows.append((key, (label, Text(amount, justify="right")), len(label.plain.splitlines())))
        sync_rows(self.query_one("#tenders", DataTable), tender_rows)
        notes = [note for tender in order.active_tenders for note in self._tender_notes(tender)]
        widget = self.query_one("#tender-notes", Plain)
        widget.display = bool(notes)
        show(widget, Text("\n").join(notes))
        self._render_selection()

        width = self._pay_inner
        totals = [pair(_("Total"), order.total.shown(), width)]
        for vat in order.vat_breakdown():
            totals.append(pair(" " + _("VAT {rate}").format(rate=format_rate(vat.rate)), vat.vat.shown(), width))
        show(self.query_one("#totals", Plain), "\n".join(totals))
        show(self.query_one("#balance", Plain), self._balance_text())
        self._render_last_receipt()
        self._render_health()

    def _tender_rows(self, tender: Tender) -> list[tuple[str | Text, str]]:
        if tender.kind is TenderKind.CASH and tender.given is not None:
            rows: list[tuple[str | Text, str]] = [(_("Cash given"), f"-{tender.given.shown()}")]
            if tender.rounding:
                rows.append(("  " + _("rounding"), tender.rounding.shown()))
            return rows
        label = tender.kind.label
        if tender.code:
            label += f" {mask_code(tender.code)}"
        amount = tender.amount.shown()
        if tender.state is TenderState.PENDING:
            return [(Text(_("{tender} sending…").format(tender=label), style="yellow"), f"({amount})")]
        if tender.state is TenderState.UNKNOWN:
            return [(Text(_("? {tender} not decided").format(tender=label), style="bold red"), f"({amount})")]
        rows = [(label, f"-{amount}")]
        if tender.state is TenderState.AUTHORIZED and self._holds(tender):
            rows.append((Text("  " + _("reserved"), style="yellow"), ""))
        if tender.balance_after is not None:
            rows.append(("  " + _("new balance"), tender.balance_after.shown()))
        return rows

    def _holds(self, tender: Tender) -> bool:
        """A voucher payment held at a provider that charges it when the order closes (JTL)."""
        slot = self.till.providers.get(tender.provider or "")
        return slot is not None and slot.descriptor is not None and slot.descriptor.policy.captures

    @staticmethod
    def _tender_notes(tender: Tender) -> list[Text]:
        """What the cashier must know about a payment, under the payments at the pane's
        full width (in the table's narrow name column a note wrapped word by word)."""
        who = mask_code(tender.code) if tender.code else tender.kind.label
        notes = []
        if tender.state is TenderState.UNKNOWN:
            notes.append(Text(f"{who} · {_('checked again by itself · F8 now')}", style="red"))
        if tender.problem:
            notes.append(Text(f"! {who} · {tender.problem}", style="bold red"))
        return notes

    def _balance_text(self) -> str:
        order = self.till.order
        closed = self.till.last_closed
        width = self._pay_inner
        if order.is_empty and closed is not None:
            text = _("Order {number} paid").format(number=closed.number)
            if closed.change:
                text += "\n" + pair(_("CHANGE"), closed.change.shown(), width)
            return text
        if not order.active_lines:
            return ""
        text = pair(_("Remaining"), order.remaining.shown(), width)
        if order.cash_due != order.remaining:
            text += "\n" + pair(" " + _("cash (rounded)"), order.cash_due.shown(), width)
        return text

    def _render_last_receipt(self) -> None:
        widget = self.query_one("#last-receipt", Plain)
        text = None
        if self.till.config.demo and self.till.order.is_empty:
            text = self.till.last_receipt_text()
        widget.display = text is not None
        if text is not None:
            show(widget, Text(_("Last receipt (demo)") + "\n\n" + text))

    def _render_health(self) -> None:
        def dot(ok: bool | None) -> str:
            return "green" if ok else ("red" if ok is False else "grey50")

        health = Text()
        for slot in self.till.providers.values():
            health.append(f"{slot.display_name} ")
            health.append("● ", style=dot(False if slot.problem else slot.healthy))
        health.append(_("Printer") + " ")
        health.append("●", style=dot(self.till.printer_ok))
        scanner = getattr(self.app, "scanner_state", None)
        if scanner is not None:
            health.append(" " + _("Scanner") + " ")
            health.append("●", style=dot(scanner[0]))
        server = server_state(self.till.journal, self.till.config.journal.url)
        self._server_shown = None if server is None else (server.online, server.conflict)
        if server is not None:  # red: offline, selling on the local journal (F12 says more)
            health.append(" " + (_("Server") if server.online is not False else _("Offline")) + " ")
            health.append("●", style=dot(False if server.conflict else server.online))
        show(self.query_one("#health", Plain), health)

    def _selectable(self) -> list[tuple[str, int]]:
        order = self.till.order
        return [("line", l.id) for l in order.active_lines] + [("tender", t.id) for t in order.active_tenders]

    def _render_selection(self) -> None:
        lines = self.query_one("#lines", DataTable)
        tenders = self.query_one("#tenders", DataTable)
        lines.show_cursor = tenders.show_cursor = False
        if self.selected is None:
            return
        kind, ident = self.selected
        table = lines if kind == "line" else tenders
        key = f"{kind}-{ident}"
        table.show_cursor = True
        table.move_cursor(row=table.get_row_index(key))

    def say(self, notice: Notice) -> None:
        status = self.query_one("#status", Plain)
        status.set_classes(notice.level.value)
        show(status, Text(notice.text))

    # -- scanning -------------------------------------------------------------
    def accept_scan(self, code: str) -> None:
        """A scan from a serial scanner: as if scanned into the scan field."""
        self._scanned(code)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "scan":
            return
        event.input.clear()
        self._scanned(event.value)

    def _scanned(self, value: str) -> None:
        if not value.strip():
            if self.till.order.is_settled and self._idle():  # paid, closing failed before
                self.say(Notice(_("Closing the order…")))
                self._step(self.till.finish())
            return
        if self.provider_busy:  # e.g. the order is being cancelled: the scan would land in it
            self.say(Notice(_("Not added — wait until the provider has answered, then scan {code} again")
                            .format(code=repr(value.strip()[:32])), Level.WARNING))
            self.app.bell()
            return
        try:
            outcome = self.till.scan(value)
        except CheckoutError as exc:
            self.say(Notice(str(exc), Level.ERROR))
            self.app.bell()
            return
        except JournalError as exc:  # e.g. the disk is full: nothing was added
            self.say(Notice(_("Not added — {error}").format(error=exc), Level.ERROR))
            self.app.bell()
            return
        self._after(outcome, select_last="line")

    def _after(self, outcome: Outcome | None, select_last: str | None = None) -> None:
        if outcome is None:  # a dialog closed without doing anything
            self.refresh_order()
            return
        if outcome.voucher_code is not None:
            self.say(outcome.notice)
            self._open_voucher(outcome.voucher_code)
            return
        if outcome.confirm is not None:
            self._ask(outcome)
            return
        if select_last:
            items = [i for i in self._selectable() if i[0] == select_last]
            self.selected = items[-1] if items else None
        self.refresh_order()
        self.say(outcome.notice)
        self.schedule_reconcile()
        if outcome.closed is not None:
            self.print_receipts([*outcome.print_first, outcome.closed.receipt_id], closing=outcome.notice,
                                drawer=outcome.closed.number if outcome.closed.cash else None)
        elif outcome.receipt_id is not None or outcome.print_first:
            ids = [*outcome.print_first, *([outcome.receipt_id] if outcome.receipt_id is not None else [])]
            self.print_receipts(ids, closing=outcome.notice)

    def _ask(self, outcome: Outcome) -> None:
        """A step the till proposes (a lapsed hold taken again): shown, then asked.
        With a dialog still on top (the cash dialog whose payment led here closes
        after this), the question waits until the checkout is back on screen."""
        assert outcome.confirm is not None
        self.refresh_order()
        self.say(outcome.notice)
        self._pending_confirm = outcome.confirm
        if self.app.screen is self:
            self._ask_pending()

    def _ask_pending(self) -> None:
        confirm = self._pending_confirm
        if confirm is None or self.app.screen is not self:
            return
        self._pending_confirm = None

        def done(yes: bool | None) -> None:
            if yes and self._idle():
                self._step(confirm.step())

        self.app.push_screen(ConfirmDialog(confirm.title, confirm.question, confirm.yes, confirm.no), done)

    # -- actions --------------------------------------------------------------
    def action_select(self, step: int) -> None:
        items = self._selectable()
        if not items:
            return
        index = items.index(self.selected) if self.selected in items else len(items) - 1
        self.selected = items[max(0, min(len(items) - 1, index + step))]
        self._render_selection()

    def _idle(self) -> bool:
        """No provider call of this till is running; otherwise say so and refuse."""
        if self.provider_busy:
            self.say(Notice(_("Wait — the provider is still answering"), Level.WARNING))
            self.app.bell()
            return False
        return True

    def _not_yet(self, action: str) -> None:
        self.say(Notice(_(NOT_YET[action]), Level.WARNING))

    def _open_voucher(self, code: str = "") -> None:
        if not self._idle() or not self._payable():
            return
        self.app.push_screen(VoucherDialog(self.till, code),
                             lambda outcome: self._after(outcome, select_last="tender"))

    def action_voucher(self) -> None:
        self._open_voucher()

    def action_sell_voucher(self) -> None:
        if not self._idle():
            return
        self.app.push_screen(SellVoucherDialog(self.till), lambda outcome: self._after(outcome, select_last="line"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F11 (top-up) only where a provider of this till can top up a voucher:
        otherwise it is neither in the footer nor does it do anything."""
        if action == "top_up":
            return self.till.gifts.can_top_up
        if action == "digital":  # F1: only where a provider sells digital vouchers (CSQ)
            return self.till.digital.available
        return True

    def action_digital(self) -> None:
        if not self._idle():
            return
        self.app.push_screen(DigitalVoucherDialog(self.till), lambda outcome: self._after(outcome, select_last="line"))

    def action_top_up(self) -> None:
        if not self._idle():
            return
        self.app.push_screen(TopUpDialog(self.till), lambda outcome: self._after(outcome, select_last="line"))

    def action_balance(self) -> None:
        self.app.push_screen(BalanceScreen(self.till), lambda _: self.refresh_order())

    def action_reports(self) -> None:
        if not self._idle():
            return
        self.app.push_screen(ReportsScreen(self.till), lambda _: self.refresh_order())

    def action_status(self) -> None:
        def back(_: object) -> None:
            self.refresh_bindings()  # keys reloaded (F12 k): F11 top-up may have come or gone
            self.refresh_order()

        self.app.push_screen(StatusScreen(self.till), back)

    def _payable(self) -> bool:
        order = self.till.order
        if not order.active_lines:
            self.say(Notice(_("The order is empty — scan a product first"), Level.WARNING))
            return False
        if order.unresolved_tenders:
            self.say(Notice(_("A voucher payment is not resolved yet — select it and press F8 to check it"),
                            Level.ERROR))
            return False
        if order.is_settled:  # e.g. a payment decided in the background paid it
            self.say(Notice(_("The order is paid — press Enter to close it"), Level.WARNING))
            return False
        return True

    def _pay_dialog(self, title: str, prompt: str, due: Money, info: str,
                    pay: Callable[[Money], Awaitable[Outcome]]) -> None:
        """An amount dialog proposing ``due``; Enter on an emptied field takes ``due`` too."""
        async def submit(text: str) -> str | None:
            try:
                outcome = await pay(due if not text.strip() else self.till.parse_amount(text))
            except CheckoutError as exc:
                return str(exc)
            self._after(outcome, select_last="tender")
            return None

        self.app.push_screen(AmountDialog(title, prompt, typed_form(due), info, submit))

    def action_cash(self) -> None:
        if not self._idle() or not self._payable():
            return
        order = self.till.order
        info = _("Remaining {amount}").format(amount=order.remaining.shown_with_currency())
        if order.cash_due != order.remaining:
            info += "\n" + _("Cash due (rounded to 0.05): {amount}").format(amount=order.cash_due.shown_with_currency())
        self._pay_dialog(_("Cash"), _("Amount given"), order.cash_due,
                         info, self.till.pay_cash)

    def action_card(self) -> None:
        if not self._idle() or not self._payable():
            return
        order = self.till.order
        info = (_("Remaining {amount}").format(amount=order.remaining.shown_with_currency()) + "\n"
                + _("Take the payment on the card terminal, then confirm the amount it accepted."))
        self._pay_dialog(_("Card"), _("Amount taken on the terminal"), order.remaining,
                         info, self.till.pay_card)

    def action_void(self) -> None:
        if self.selected is None:
            self.say(Notice(_("Nothing to void — select a line or payment with ↑/↓"), Level.WARNING))
            return
        kind, ident = self.selected
        if not self._idle():
            return
        if kind == "line":
            self._step(self.till.void_line(ident))
            return
        tender = self.till.order.tender(ident)
        if tender.kind is TenderKind.VOUCHER:
            text = (_("Checking the voucher payment {code} with the provider…") if tender.unresolved
                    else _("Cancelling the voucher payment {code} with the provider…"))
            self.say(Notice(text.format(code=mask_code(tender.code or ""))))
        self._step(self.till.void_tender(ident))

    def _step(self, step: Awaitable[Outcome]) -> None:
        """Start a cashier step that talks to a provider; busy from this moment on, so a
        second key press queued behind this one is refused, not sent twice."""
        self.provider_busy = True
        self.run_provider_step(step)

    @work(group="provider", exit_on_error=False)
    async def run_provider_step(self, step: Awaitable[Outcome]) -> None:
        """A provider call in the background: the screen never freezes while it waits.

        Never cancelled by another step (money may be in flight): callers
        check ``provider_busy`` first.
        """
        self.provider_busy = True
        try:
            outcome = await step
        except CheckoutError as exc:
            self.refresh_order()
            self.say(Notice(str(exc), Level.ERROR))
            self.schedule_reconcile()
            self.app.bell()
            return
        finally:
            self.provider_busy = False
        self._after(outcome)

    def action_cancel(self) -> None:
        if not self._idle():
            return
        if self.till.order.is_empty:
            self._offer_void_last_sale()
            return

        def done(confirmed: bool | None) -> None:
            if not confirmed:
                self.say(Notice(_("Order kept")))
                return
            if not self._idle():
                return
            if any(t.kind is TenderKind.VOUCHER for t in self.till.order.active_tenders):
                self.say(Notice(_("Cancelling the voucher payments with the provider…")))
            self._step(self.till.cancel_order())

        order = self.till.order
        count = len(order.active_lines)
        question = ngettext("Cancel the whole order ({count} line, total {total})?",
                            "Cancel the whole order ({count} lines, total {total})?", count).format(
            count=count, total=order.total.shown_with_currency())
        taken = [t for t in order.active_tenders if t.counts]
        for tender in taken:
            if tender.kind is TenderKind.VOUCHER and tender.state is TenderState.AUTHORIZED and self._holds(tender):
                question += "\n" + _("Voucher {code}: the hold of {amount} is dropped; nothing was charged.").format(
                    code=mask_code(tender.code or ""), amount=tender.amount.shown())
            elif tender.kind is TenderKind.VOUCHER:
                question += "\n" + _("Voucher {code}: {amount} goes back on the voucher.").format(
                    code=mask_code(tender.code or ""), amount=tender.amount.shown())
            elif tender.kind is TenderKind.CASH:
                question += "\n" + _("Give back the cash payment: {amount}.").format(amount=tender.amount.shown())
            else:
                question += "\n" + _("Give back the card payment: {amount}.").format(amount=tender.amount.shown())
        for line in self.till.gifts.live_gift_vouchers(order):
            slot = self.till.providers.get(line.provider or "")
            undone = slot.done_word(OpKind.UNDO) if slot else _("taken back")
            question += "\n" + _("Gift voucher {code} is already active: it is {undone}.").format(
                code=mask_code(line.code or ""), undone=undone)
        self.app.push_screen(ConfirmDialog(_("Cancel order"), question, _("cancel the order"),
                                           _("keep it")), done)

    def _offer_void_last_sale(self) -> None:
        """F9 on an empty order: void ("storno") the last closed sale, after a confirmation."""
        try:
            plan = self.till.storno.plan()
        except CheckoutError as exc:
            self.say(Notice(_("The order is empty — nothing to cancel. {reason}").format(reason=exc), Level.WARNING))
            return

        credit = self.till.digital.credit_offers()[:1] if plan.refund.minor > 0 else []

        def done(confirmed: bool | str | None) -> None:
            if confirmed == "f1" and credit:
                self._offer_store_credit(credit[0])
                return
            if not confirmed:
                self.say(Notice(_("Sale {number} kept").format(number=plan.number)))
                return
            if not self._idle():
                return
            self.say(Notice(_("Voiding sale {number}…").format(number=plan.number)))
            self._step(self.till.storno.run())

        other = ("f1", _("refund as store credit ({name})").format(name=credit[0].offer.name)) if credit else None
        self.app.push_screen(ConfirmDialog(_("Void last sale"), plan.summary(), _("void the sale"), _("keep it"),
                                           other=other), done)

    def _offer_store_credit(self, item: DigitalOffer) -> None:
        """F1 in the void question: the customer's details for the store credit
        voucher (Celbux: the phone), then the void and the voucher's issue."""
        try:
            refund = self.till.check_store_credit(item)
        except CheckoutError as exc:
            self.say(Notice(str(exc), Level.WARNING))
            return

        def done(details: dict[str, str] | None) -> None:
            if details is None:
                self.say(Notice(_("Nothing voided")))
                return
            if not self._idle():
                return
            self.say(Notice(_("Voiding the sale; {name} {amount} as store credit…").format(
                name=item.offer.name, amount=refund.shown_with_currency())))
            self._step(self.till.void_as_store_credit(item, details))

        self.app.push_screen(StoreCreditDialog(self.till, item, refund), done)

    def action_reprint(self) -> None:
        receipts = self.till.receipts_to_reprint()
        if not receipts:
            self.say(Notice(_("No receipt to print yet"), Level.WARNING))
            return
        self.say(Notice(_("Printing…")))
        self.print_receipts([r.id for r in receipts])

    @work(exclusive=False, group="print", exit_on_error=False)
    async def print_receipts(self, receipt_ids: list[int], closing: Notice | None = None,
                             drawer: str | None = None) -> None:
        """Open the drawer for a cash sale, then print, in the background: the next
        customer can be served meanwhile; a failure is said, the sale stays closed."""
        if drawer is not None and self.till.config.drawer.enabled:
            opened = await self.till.open_drawer(f"sale {drawer}")
            if opened.level is Level.ERROR:
                self.say(Notice(f"{closing.text if closing else ''} — {opened.text}", Level.ERROR))
        for receipt_id in receipt_ids:
            result = await self.till.print_receipt(receipt_id)
            self._render_health()
            if not result.ok or result.notice.level is not Level.INFO:
                prefix = f"{closing.text} — " if closing else ""
                self.say(Notice(prefix + result.notice.text, result.notice.level))
                return
        if closing is None:
            count = len(receipt_ids)
            self.say(Notice(ngettext("{count} receipt printed", "{count} receipts printed", count).format(count=count)))
