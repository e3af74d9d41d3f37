"""Input fields that know about keyboard-wedge scanners.

A wedge scanner types into whatever has focus. Every key of these fields
goes through the drivers' ``WedgeDecoder`` first, which tells a scan (a fast
burst ending in the scanner's suffix) from typing:

* ``ScanField`` (checkout, voucher, balance, gift voucher codes) submits a
  scan whole: prefix stripped, a CR+LF suffix taken as one Enter, an AZERTY
  scanner's digits mapped back (with a one-time hint to fix the scanner).
* ``AmountField`` (cash, card, free gift amounts) never takes a scan: a
  burst that ends in the suffix is dropped and reported, so a scanned
  barcode can never become an amount.

A burst that holds a control character (Enter before the configured
suffix, Ctrl+Q) or a key that is no character (F9) is refused whole
(``ScanRejected``); the app decides which keys are inside a burst
(``PosApp.on_event``). GS, the GS1 field separator, is a character of the scan.
"""

from __future__ import annotations

import re

from textual import events, on
from textual.message import Message
from textual.geometry import Size
from textual.timer import Timer
from textual.widgets import Input

from drivers.scanner import LAYOUT_HINT, RejectedScan, Scan, Typed, WedgeDecoder, scan_from_line
from pos_app.config import ScannerConfig
from pos_app.domain.codes import GS


QUANTITY = re.compile(r"\d{1,4}\s*[*xX]")


def make_decoder(settings: ScannerConfig) -> WedgeDecoder:
    return WedgeDecoder(
        suffix=settings.suffix,
        prefix=settings.prefix,
        max_gap_s=settings.max_gap_ms / 1000 if settings.max_gap_ms else None,
        min_length=settings.min_length,
        max_length=settings.max_length,
        detect_azerty=settings.detect_azerty,
    )


def _settings(field: Input) -> ScannerConfig:
    till = getattr(field.app, "till", None)
    return till.config.scanner if till is not None else ScannerConfig()


def key_character(event: events.Key, settings: ScannerConfig) -> str | None:
    """The character a key gives a wedge field; None for keys that are no character
    (F-keys, arrows, Escape, control keys other than GS and the scanner's own)."""
    if event.key == "enter":
        return "\r"
    if event.key == "ctrl+j":  # LF, the second half of a CR+LF suffix
        return "\n"
    if event.key == "tab":
        return "\t"
    if event.character and (event.character == GS
                            or event.character in settings.prefix + settings.suffix):
        return event.character
    return event.character if event.is_printable else None


def scan_character(event: events.Key, settings: ScannerConfig) -> str | None:
    """The character a key stands for inside a scanner's burst; None if a scan never
    holds it there (then the burst is refused): Enter, LF and Tab only as the
    configured suffix (Enter and LF both for a line-end suffix), or prefix."""
    char = key_character(event, settings)
    if char is None or char not in "\r\n\t" or char in settings.prefix + settings.suffix:
        return char
    line_suffix = all(c in "\r\n" for c in settings.suffix)
    return char if line_suffix and char in "\r\n" else None


class _WedgeField(Input):
    """Feeds its keys to a WedgeDecoder; subclasses decide what a scan does."""

    class LayoutHint(Message):
        """The scanner types with the wrong keyboard layout (shown once)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class ScanRejected(Message):
        """A burst that is no readable scan (a control key inside it): nothing else happened."""

        def __init__(self, scan: RejectedScan) -> None:
            super().__init__()
            self.scan = scan

    class ControlInBurst(Message):
        """From the app: ``key`` (no character: F9, Ctrl+Q) came inside the burst. Posted
        to the field, so it comes after the burst's keys before it (a queue)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class KeyIgnored(Message):
        """``key`` came inside a burst with nothing held (the scan before it was taken)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def _watch_value(self, value: str) -> None:
        # Input keeps its virtual width (the text's) in ``virtual_size``, a reactive that
        # lays out the whole screen at every change: a re-layout of the checkout per key.
        # The field's size is fixed by CSS; the virtual width only bounds its scrolling,
        # so it is stored without a layout (Input's own watcher then finds it unchanged).
        self.set_reactive(Input.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)

    def on_mount(self) -> None:
        self._decoder = make_decoder(_settings(self))
        self._flush_timer: Timer | None = None
        self._submit_due = False
        self._line_scan = False

    @property
    def timing(self) -> bool:
        return self._decoder.max_gap_s is not None

    def _char(self, event: events.Key) -> str | None:
        return key_character(event, _settings(self))

    @on(ControlInBurst)
    def _control_in_burst(self, message: ControlInBurst) -> None:
        """The keys held so far are refused as one unreadable scan, never typed."""
        message.stop()
        decisions = self._decoder.refuse(message.key)
        self._arm_flush()
        self._apply(decisions)
        if not decisions:
            self.post_message(self.KeyIgnored(message.key))

    async def _on_key(self, event: events.Key) -> None:
        char = self._char(event)
        if char is None or not self.timing:
            await self._untimed_key(event, char)
            return
        event.stop()
        event.prevent_default()
        self._apply(self._decoder.feed(char, event.time))
        self._arm_flush()
        await self._submit_if_due()

    def _arm_flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if self._decoder.max_gap_s is not None and self._decoder.pending:
            self._flush_timer = self.set_timer(self._decoder.max_gap_s + 0.005, self._flush)

    async def _submit_if_due(self) -> None:
        """Submit within the key's own handling, so the next key (F2 after a
        scan) finds the scan already taken: never a deferred callback."""
        if self._submit_due:
            self._submit_due = False
            await self.action_submit()

    async def _flush(self) -> None:
        self._flush_timer = None
        from time import monotonic

        self._apply(self._decoder.flush(monotonic(), force=True))
        await self._submit_if_due()

    def _apply(self, decisions: list[Scan | Typed]) -> None:
        for decision in decisions:
            if isinstance(decision, Scan):
                self._scanned(decision)
            elif isinstance(decision, RejectedScan):
                self.post_message(self.ScanRejected(decision))
            else:
                self._type(decision.text)

    def _type(self, text: str) -> None:
        """Keys a person typed: insert them as Input would; Enter submits."""
        for char in text:
            if char in "\r\n":
                self._submit_due = True
            elif char == "\t":
                continue
            elif self.selection.is_empty:
                self.insert_text_at_cursor(char)
            else:
                self.replace(char, *self.selection)

    async def _untimed_key(self, event: events.Key, char: str | None) -> None:
        """Without timing (``max_gap_ms = 0``) keys are not held: Input's own handling
        (GS, which Input would drop, is kept for a GS1 code)."""
        if char == GS:
            event.stop()
            event.prevent_default()
            self._type(GS)
            return
        await super()._on_key(event)

    def _scanned(self, scan: Scan) -> None:
        if scan.layout:  # the app shows the hint once
            self.post_message(self.LayoutHint(LAYOUT_HINT))
        self.on_scan(scan)

    def on_scan(self, scan: Scan) -> None:
        """What a scan does in this field; by default it is typed."""
        self._type(scan.raw)


class ScanField(_WedgeField):
    """Takes scans and typing; a scan replaces the field and is submitted at once."""

    def on_scan(self, scan: Scan) -> None:
        # A typed quantity ("3*") stays in front of the scanned code; anything
        # else typed before is replaced by the scan.
        keep = not self._line_scan and QUANTITY.fullmatch(self.value.strip())
        self._line_scan = False
        self.value = (self.value.strip() if keep else "") + scan.normalised
        self.cursor_position = len(self.value)
        self._submit_due = True

    async def _untimed_key(self, event: events.Key, char: str | None) -> None:
        # No timing: the suffix alone ends a scan; the line is cleaned like one.
        if char in ("\r", "\n") and self.value:
            event.stop()
            event.prevent_default()
            settings = _settings(self)
            self._line_scan = True  # the whole field is the scan line: nothing to keep
            self._scanned(scan_from_line(self.value, prefix=settings.prefix,
                                         detect_azerty=settings.detect_azerty))
            await self._submit_if_due()
            return
        await super()._untimed_key(event, char)


class AmountField(_WedgeField):
    """Takes typing only: a scan is dropped and reported, never taken as an amount."""

    class ScanRefused(Message):
        def __init__(self, code: str) -> None:
            super().__init__()
            self.code = code

    def on_scan(self, scan: Scan) -> None:
        self.post_message(self.ScanRefused(scan.normalised))
