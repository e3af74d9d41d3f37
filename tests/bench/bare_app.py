"""The yardstick: a bare Textual app doing the checkout's visible work, nothing else.

A title line, an order table and a tenders table, a totals and a status line,
a scan field and a Footer with the till's ten F-keys. Enter in the scan field
adds a row for a known barcode; F3 opens a modal with an amount field; Enter
there closes the "sale" (the tables are cleared, the change is shown). No
journal, no providers, no receipts.

``python bare_app.py`` runs it in the terminal (the start-up benchmark starts
it in a pty, as it starts the real ``pos``); the memory benchmark drives it
headless with the same key events as the till. Imports only Textual.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

PRODUCTS = {
    "7610000000011": ("Espresso beans 500 g", 1490),
    "7610000000028": ("Croissant", 250),
    "7610000000035": ("Merlot 75 cl", 3800),
    "7610000000042": ("Chocolate bar 100 g", 395),
}

CSS = """
#main { height: 1fr; }
#lines { width: 2fr; }
#pay { width: 1fr; }
#tenders { height: auto; }
AmountModal { align: center middle; }
AmountModal > Vertical { width: 50; height: auto; border: round $accent; }
"""


def amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


class AmountModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Cash\nAmount given")
            yield Input(value=self.default, id="amount")

    def on_mount(self) -> None:
        field = self.query_one("#amount", Input)
        field.focus()
        field.action_select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class BareApp(App[None]):
    CSS = CSS
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding(key, action, label, priority=True) for key, action, label in (
        ("f2", "noop", "Voucher"), ("f3", "cash", "Cash"), ("f4", "noop", "Card"),
        ("f5", "noop", "Sell"), ("f6", "noop", "Balance"), ("f7", "noop", "Reprint"),
        ("f8", "noop", "Void"), ("f9", "noop", "Cancel"), ("f10", "noop", "Reports"),
        ("f12", "noop", "Status"))]

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.lines = 0
        self.sales = 0

    def compose(self) -> ComposeResult:
        yield Static("Bare · Till 1", id="title")
        with Horizontal(id="main"):
            yield DataTable(id="lines", cursor_type="row")
            with Vertical(id="pay"):
                yield Static("", id="totals")
                yield DataTable(id="tenders", show_header=False)
                yield Static("", id="balance")
        yield Input(placeholder="Scan or type a barcode", id="scan")
        yield Static("", id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        lines = self.query_one("#lines", DataTable)
        for name, width in (("Qty", 4), ("Item", 24), ("Price", 8), ("Total", 9), ("VAT", 5)):
            lines.add_column(name, width=width)
        tenders = self.query_one("#tenders", DataTable)
        tenders.add_column("Tender", width=17)
        tenders.add_column("Amount", width=9)
        self.query_one("#scan", Input).focus()
        self.query_one("#status", Static).update("Ready — scan a product")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.clear()
        product = PRODUCTS.get(event.value.strip())
        if product is None:
            self.query_one("#status", Static).update(f"Unknown barcode {event.value!r}")
            return
        name, price = product
        self.lines += 1
        self.total += price
        self.query_one("#lines", DataTable).add_row("1", name, amount(price), amount(price), "2.6%",
                                                    key=f"line-{self.sales}-{self.lines}")
        self.query_one("#totals", Static).update(f"{'Total':<18}{amount(self.total):>10}")
        self.query_one("#balance", Static).update(f"{'Remaining':<18}{amount(self.total):>10}")
        self.query_one("#status", Static).update(f"Added {name}  {amount(price)}")

    def action_noop(self) -> None:
        pass

    def action_cash(self) -> None:
        if self.lines:
            self.push_screen(AmountModal(amount(self.total)), self.paid)

    def paid(self, given: str | None) -> None:
        if given is None:
            return
        tenders = self.query_one("#tenders", DataTable)
        tenders.add_row("Cash given", f"-{given}")
        self.sales += 1
        self.query_one("#lines", DataTable).clear()
        tenders.clear()
        self.query_one("#totals", Static).update(f"{'Total':<18}{'0.00':>10}")
        self.query_one("#balance", Static).update(f"Order {self.sales} paid\nCHANGE 0.00")
        self.query_one("#status", Static).update(f"Order {self.sales} closed")
        self.total = self.lines = 0


if __name__ == "__main__":
    BareApp().run()
