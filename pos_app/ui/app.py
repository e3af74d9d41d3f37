"""The Textual application: one checkout screen over a Till."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from pos_app.services.checkout import Till
from pos_app.ui.checkout import CheckoutScreen


class PosApp(App[None]):
    CSS_PATH = "pos.tcss"
    TITLE = "Till"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, till: Till) -> None:
        super().__init__()
        self.till = till
        self.set_keymap(till.config.key_map)

    def get_key_display(self, binding: Binding) -> str:
        display = super().get_key_display(binding)
        return display.upper() if len(display) <= 3 and display[:1] in "fF" else display

    def on_mount(self) -> None:
        self.push_screen(CheckoutScreen(self.till))

    def on_unmount(self) -> None:
        self.till.journal.close()
