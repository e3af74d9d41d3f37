"""The Textual application: one checkout screen over a Till."""

from __future__ import annotations

import logging
import traceback

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from pos_app.services.checkout import Level, Notice, Till
from pos_app.services.providers import close_providers
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.fields import ScanField

log = logging.getLogger(__name__)


class PosApp(App[None]):
    CSS_PATH = "pos.tcss"
    TITLE = "Till"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, till: Till) -> None:
        super().__init__()
        self.till = till
        self.checkout = CheckoutScreen(till)
        self.set_keymap(till.config.key_map)
        self.layout_hint_shown = False

    def get_key_display(self, binding: Binding) -> str:
        display = super().get_key_display(binding)
        return display.upper() if len(display) <= 3 and display[:1] in "fF" else display

    def on_mount(self) -> None:
        self.push_screen(self.checkout)

    @on(ScanField.LayoutHint)
    def layout_hint(self, event: ScanField.LayoutHint) -> None:
        """Once per run: the scanner types with the wrong keyboard layout (we undo it)."""
        event.stop()
        if not self.layout_hint_shown:
            self.layout_hint_shown = True
            self.notify(event.text, title="Scanner", severity="warning", timeout=20)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where an unexpected failure in the background is reported.

        Expected failures (provider refusals, printer off) are handled where
        they happen; this catches bugs, so the till tells the cashier instead
        of dying, and the journal (written before every step) stays the truth.
        """
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        assert error is not None
        log.error("worker %s failed:\n%s", event.worker.name,
                  "".join(traceback.format_exception(error)))
        self.till.reload()
        self.checkout.refresh_order()
        self.checkout.say(Notice(
            f"Unexpected error ({type(error).__name__}) — nothing is lost: the journal has every step. "
            "Check the order; if it repeats, restart the till.", Level.ERROR))
        self.bell()

    async def on_unmount(self) -> None:
        await close_providers(self.till.providers)
