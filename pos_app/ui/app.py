"""The Textual application: one checkout screen over a Till."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from pos_app.i18n import _
from pos_app.services.checkout import Level, Notice, Till
from pos_app.services.providers import close_providers
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.errors import explain
from drivers.printer.escpos_tools import preload as preload_printing
from drivers.scanner import LAYOUT_HINT, BurstGuard, InBurst, RejectedScan, ScanResult, SerialScanner, control_name
from pos_app.ui.fields import ScanField, scan_character
from pos_app.ui.fields import _WedgeField as WedgeField

log = logging.getLogger(__name__)


class NoTerminal(Exception):
    """The till was started without a terminal to read keys from and draw on."""


def terminal_problem() -> str | None:
    """Why the till cannot run here (stdin, stdout or stderr is no terminal), or None.

    Textual reads keys from stdin and draws on stderr; without a terminal it
    spins on end-of-file and draws into a file or pipe."""
    streams: list[tuple[str, TextIO | None]] = [
        (_("its input (stdin)"), sys.__stdin__), (_("its output (stdout)"), sys.__stdout__),
        (_("its screen (stderr)"), sys.__stderr__)]
    for name, stream in streams:
        try:
            ok = stream is not None and stream.isatty()
        except (ValueError, OSError):  # closed
            ok = False
        if not ok:
            return _("the till needs a terminal: {stream} is not one (a file, a pipe or /dev/null). "
                     "Start it in a terminal window (the demo: python3 tasks.py demo); without a "
                     "terminal: python3 tasks.py test, or pos keys, journal, simulate and scanner test, "
                     "which need none").format(stream=name)
    return None


def key_label(event: events.Key) -> str:
    """``f9`` -> ``F9``, ``ctrl+q`` -> ``Ctrl+Q``: a key as the cashier knows it."""
    if event.character is not None and len(event.character) == 1 and not event.is_printable:
        return control_name(event.character)
    parts = event.key.split("+")
    return "+".join(p.upper() if len(p) == 1 or (p[0] == "f" and p[1:].isdigit()) else p.capitalize()
                    for p in parts)


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
        # Keys inside a keyboard-wedge scanner's burst are part of the scan (see on_event).
        scanner = till.config.scanner
        timed = scanner.kind == "keyboard" and scanner.max_gap_ms
        self.burst_guard = BurstGuard(scanner.max_gap_ms / 1000 if timed else None)
        self._burst_told = False  # this burst's notice is shown

    def run(self, *args: Any, headless: bool = False, **kwargs: Any) -> Any:
        """Refuses (NoTerminal) before Textual starts when there is no terminal."""
        if not headless:
            problem = terminal_problem()
            if problem is not None:
                raise NoTerminal(problem)
        return super().run(*args, headless=headless, **kwargs)

    async def on_event(self, event: events.Event) -> None:
        # Before any binding runs (Ctrl+Q and the F-keys are priority bindings).
        if isinstance(event, events.Key) and not event.is_forwarded and self._inside_scan(event):
            event.stop()
            event.prevent_default()
            return
        await super().on_event(event)

    def _inside_scan(self, event: events.Key) -> bool:
        """True if the key came inside a wedge scanner's burst and is no action.

        Characters of the burst go to the focused scan field (its decoder
        makes the scan); with no scan field in focus the scan is ignored. A key
        that no scan holds (F9 from ``ESC [20~``, Ctrl+Q from 0x11, Enter
        before the suffix) refuses the whole burst: one notice, nothing else.
        """
        verdict = self.burst_guard.key(event.time, scan_character(event, self.till.config.scanner))
        if verdict is InBurst.NO:
            self._burst_told = False
            return False
        field = self.focused if isinstance(self.focused, WedgeField) else None
        if verdict is InBurst.CHARACTER:
            if field is not None:
                return False
            self._tell_once(_("Scan ignored — finish or close this dialog first"))
        elif verdict is InBurst.CONTROL:
            key = key_label(event)
            if field is not None:  # after the keys it still has to handle: it reports back
                self._burst_told = True
                field.post_message(WedgeField.ControlInBurst(key))
            else:
                self._tell_once(_("Key {key} ignored: it came inside a scan").format(key=key))
        return True

    def _tell_once(self, text: str) -> None:
        if not self._burst_told:
            self._burst_told = True
            self.scan_notice(text)

    def scan_notice(self, text: str) -> None:
        """A scan that was not taken: on the status line, or over a dialog."""
        if self.screen is self.checkout:
            self.checkout.say(Notice(text, Level.WARNING))
        else:
            self.notify(text, title=_("Scanner"), severity="warning", markup=False)
        self.bell()

    @on(WedgeField.ScanRejected)
    def scan_rejected(self, event: WedgeField.ScanRejected) -> None:
        event.stop()
        self.scan_notice(_("Unreadable scan ignored ({reason})").format(reason=event.scan.reason))

    @on(WedgeField.KeyIgnored)
    def key_ignored(self, event: WedgeField.KeyIgnored) -> None:
        event.stop()
        self.scan_notice(_("Key {key} ignored: it came inside a scan").format(key=event.key))

    def get_key_display(self, binding: Binding) -> str:
        display = super().get_key_display(binding)
        return display.upper() if len(display) <= 3 and display[:1] in "fF" else display

    def on_mount(self) -> None:
        self.push_screen(self.checkout)
        settings = self.till.config.scanner
        if settings.kind == "serial":
            assert settings.port is not None
            self.scanner_state = (False, _("scanner on {port}: connecting…").format(port=settings.port))
            self.serial_scanner = SerialScanner(
                settings.port, baudrate=settings.baudrate, bytesize=settings.bytesize,
                parity=settings.parity, stopbits=settings.stopbits, suffix=settings.suffix,
                prefix=settings.prefix, max_length=settings.max_length,
                on_scan=lambda scan: self._from_scanner(self.route_scan, scan),
                on_status=lambda ok, message: self._from_scanner(self.scanner_status, ok, message),
            )
            self.serial_scanner.start()

    # How long after the first paint the background loading starts: a thread that imports
    # holds the GIL most of the time, so it would slow a scan made right at the start;
    # the first receipt is seconds away (a receipt before it imports python-escpos itself).
    PRELOAD_AFTER_S = 1.0

    def on_ready(self) -> None:
        """The checkout is drawn: load what the first sale needs and the checkout did not
        (python-escpos, for the first receipt) in the background, a moment later. A step
        that needs it before it is loaded waits for it; one that fails to load it says so."""
        self.set_timer(self.PRELOAD_AFTER_S, lambda: self.run_worker(
            self._preload, thread=True, group="preload", exit_on_error=False))

    @staticmethod
    def _preload() -> None:
        try:
            preload_printing()
        except ImportError:  # the first receipt reports it, with the printer's words
            log.exception("python-escpos could not be loaded")

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
                    self.notify, _("That scan could not be handled (the log has the details) — "
                                   "scan it again; the scanner keeps working."), title=_("Scanner"),
                    severity="error", markup=False)

    def route_scan(self, scan: ScanResult) -> None:
        """A scan from the serial scanner goes to the flow that expects one."""
        if isinstance(scan, RejectedScan):
            self.scan_notice(_("Unreadable scan ignored ({reason})").format(reason=scan.reason))
            return
        if scan.layout:
            self.layout_hint(ScanField.LayoutHint(LAYOUT_HINT))
        accept = getattr(self.screen, "accept_scan", None)
        if accept is None:
            self.notify(_("Scan {code} ignored — finish or close this dialog first").format(
                code=scan.normalised[:20]), markup=False, severity="warning")
            self.bell()
            return
        accept(scan.normalised)

    def scanner_status(self, connected: bool, message: str) -> None:
        self.scanner_state = (connected, message)
        if not self.checkout.is_mounted:  # connected before the screen was up: it shows the
            return                        # state when it mounts (its health dots)
        self.checkout.refresh_order()
        if not connected:
            self.checkout.say(Notice(_("Scanner disconnected — {reason}; it reconnects by itself").format(
                reason=message), Level.ERROR))
        else:
            self.checkout.say(Notice(_("Scanner connected")))

    @on(ScanField.LayoutHint)
    def layout_hint(self, event: ScanField.LayoutHint) -> None:
        """Once per run: the scanner types with the wrong keyboard layout (we undo it)."""
        event.stop()
        if not self.layout_hint_shown:
            self.layout_hint_shown = True
            self.notify(_(event.text), title=_("Scanner"), severity="warning", timeout=20, markup=False)  # N_ in drivers

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
        self.notify(message, title=_("Error"), severity="error", timeout=15, markup=False)
        self.bell()
        if self.till.recovery.open_ops():  # money may be in flight: settle it
            self.checkout.reconcile()

    async def on_unmount(self) -> None:
        if self.serial_scanner is not None:
            self.serial_scanner.stop()
        await close_providers(self.till.providers)
