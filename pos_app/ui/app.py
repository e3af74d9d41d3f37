"""The Textual application: one checkout screen over a Till."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from pos_app.services.checkout import Level, Notice, Till
from pos_app.services.providers import close_providers
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.errors import explain
from drivers.scanner import LAYOUT_HINT, RejectedScan, ScanResult, SerialScanner
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
        self.serial_scanner: SerialScanner | None = None
        # (connected?, message) of a serial scanner; None for a keyboard-wedge one
        self.scanner_state: tuple[bool, str] | None = None

    def get_key_display(self, binding: Binding) -> str:
        display = super().get_key_display(binding)
        return display.upper() if len(display) <= 3 and display[:1] in "fF" else display

    def on_mount(self) -> None:
        self.push_screen(self.checkout)
        settings = self.till.config.scanner
        if settings.kind == "serial":
            assert settings.port is not None
            self.scanner_state = (False, f"scanner on {settings.port}: connecting…")
            self.serial_scanner = SerialScanner(
                settings.port, baudrate=settings.baudrate, bytesize=settings.bytesize,
                parity=settings.parity, stopbits=settings.stopbits, suffix=settings.suffix,
                prefix=settings.prefix, max_length=settings.max_length,
                on_scan=lambda scan: self._from_scanner(self.route_scan, scan),
                on_status=lambda ok, message: self._from_scanner(self.scanner_status, ok, message),
            )
            self.serial_scanner.start()

    def _from_scanner(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the app's loop for the scanner thread.

        The one deliberate catch-all of the app: whatever a UI bug raises here would
        otherwise end the reader thread and with it every later scan. It is logged
        with its traceback, and the cashier is told to scan again.
        """
        try:
            self.call_from_thread(callback, *args)
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("scanner callback %s failed", getattr(callback, "__name__", callback))
            with contextlib.suppress(RuntimeError):  # the app is closing: nobody to tell
                self.call_from_thread(
                    self.notify, "That scan could not be handled (the log has the details) — "
                    "scan it again; the scanner keeps working.", title="Scanner", severity="error")

    def route_scan(self, scan: ScanResult) -> None:
        """A scan from the serial scanner goes to the flow that expects one."""
        if isinstance(scan, RejectedScan):
            self.checkout.say(Notice(f"Unreadable scan ignored ({scan.reason})", Level.WARNING))
            self.bell()
            return
        if scan.layout:
            self.layout_hint(ScanField.LayoutHint(LAYOUT_HINT))
        accept = getattr(self.screen, "accept_scan", None)
        if accept is None:
            self.notify(f"Scan {scan.normalised[:20]} ignored — finish or close this dialog first", markup=False,
                        severity="warning")
            self.bell()
            return
        accept(scan.normalised)

    def scanner_status(self, connected: bool, message: str) -> None:
        self.scanner_state = (connected, message)
        if not self.checkout.is_mounted:  # connected before the screen was up: it shows the
            return                        # state when it mounts (its health dots)
        self.checkout.refresh_order()
        if not connected:
            self.checkout.say(Notice(f"Scanner disconnected — {message}; it reconnects by itself",
                                     Level.ERROR))
        else:
            self.checkout.say(Notice("Scanner connected"))

    @on(ScanField.LayoutHint)
    def layout_hint(self, event: ScanField.LayoutHint) -> None:
        """Once per run: the scanner types with the wrong keyboard layout (we undo it)."""
        event.stop()
        if not self.layout_hint_shown:
            self.layout_hint_shown = True
            self.notify(event.text, title="Scanner", severity="warning", timeout=20, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers; the screens' come through ``ReportsWorkerErrors``."""
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker, None)

    def worker_failed(self, worker: Worker[Any], screen: Any) -> None:
        """The one place where a failure in the background is reported.

        Expected failures (provider refusals, printer off) are handled where
        they happen; this catches the rest (a bug, a journal that cannot be
        written), so the till tells the cashier instead of hanging or dying:
        the screen that ran the worker is freed, the order is read back from
        the journal (written before every step), and reconciliation settles
        any provider operation that was in flight.
        """
        error = worker.error
        assert error is not None
        log.error("worker %s failed:\n%s", worker.name, "".join(traceback.format_exception(error)))
        message = explain(error)
        if screen is not None:
            try:
                screen.worker_error(error)
            except Exception:  # noqa: BLE001 - the report below must still be made
                log.exception("freeing %s after a worker failure failed", type(screen).__name__)
        try:
            self.till.reload()
            self.checkout.refresh_order()
        except Exception:  # noqa: BLE001 - the journal may be what failed; say so below
            log.exception("reading the order back after a worker failure failed")
        self.checkout.say(Notice(message, Level.ERROR))
        self.notify(message, title="Error", severity="error", timeout=15, markup=False)
        self.bell()
        if self.till.recovery.open_ops():  # money may be in flight: settle it
            self.checkout.reconcile()

    async def on_unmount(self) -> None:
        if self.serial_scanner is not None:
            self.serial_scanner.stop()
        await close_providers(self.till.providers)
