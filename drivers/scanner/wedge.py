"""Keyboard-wedge scanners: tell a scan from typing, without any UI.

A wedge scanner types a code as a fast burst of keys ended by a suffix
(Enter by default). Feed the decoder every key with its time stamp
(``time.monotonic()`` or the key event's own time); it answers with
decisions:

- :class:`Scan` when a burst ended with the suffix,
- :class:`Typed` for keys a person typed, to pass on unchanged.

The suffix decides first: nothing is a scan until the suffix arrives.
Timing decides second: every gap between the keys of the burst, suffix
included, must be at most ``max_gap_s``, and the code must have at least
``min_length`` characters. Keys are held while they could still belong to a
scan; call :meth:`WedgeDecoder.flush` at :attr:`WedgeDecoder.deadline` (a
timer) so a person's last key is not held back longer than ``max_gap_s``.

Scanner faults handled: a CR+LF suffix gives one scan (the LF is dropped),
a configured prefix is stripped, and an AZERTY mix-up is undone with a
hint, shown once (:meth:`WedgeDecoder.take_hint`).

A burst is refused (:class:`RejectedScan`) when it holds a control
character before its suffix (Enter before a Tab suffix, say), or a key that
is no character at all (:meth:`WedgeDecoder.refuse`): a terminal turns the
bytes ``ESC [20~`` into F9 and 0x11 into Ctrl+Q, and those must never act.
:class:`BurstGuard` tells which keys arrive inside a burst, whatever has
focus. GS (0x1D), the GS1 field separator, is part of the code.
"""

from __future__ import annotations

import enum

from drivers.scanner.layouts import HINT, undo_layout
from drivers.scanner.scans import RejectedScan, Scan, Typed, normalise
from pos_app.domain.codes import GS
from pos_app.i18n import _

LINE_ENDS = "\r\n"
CONTROL_NAMES = {"\r": "Enter", "\n": "Ctrl+J (LF)", "\t": "Tab", "\x1b": "Escape",
                 "\x08": "Backspace", "\x7f": "Backspace"}

Decision = Scan | Typed | RejectedScan


def control_name(char: str) -> str:
    """``"\\r"`` -> ``"Enter"``, ``"\\x11"`` -> ``"Ctrl+Q"``: a control character as a cashier knows it."""
    if char in CONTROL_NAMES:
        return CONTROL_NAMES[char]
    code = ord(char)
    if code < 0x20 and 0x40 + code <= ord("Z"):
        return f"Ctrl+{chr(0x40 + code)}"
    return f"0x{code:02X}"


class InBurst(enum.Enum):
    """Where a key stands to a scanner's burst (:meth:`BurstGuard.key`)."""

    NO = "no"  # a person's key (or the first of a burst, which cannot be told apart): it acts
    CHARACTER = "character"  # a character of the burst: the scan field takes it, nothing else
    CONTROL = "control"  # the first key in the burst that no scan holds: the burst is refused
    REFUSED = "refused"  # any later key of a refused burst: dropped


class BurstGuard:
    """Which keys arrive inside a keyboard-wedge scanner's burst, for every key of the app.

    The wedge decoder's timing rule: a key comes at most ``max_gap_s`` after
    the key before it. A burst starts with a character (auto-repeat of an
    arrow key held down is as fast, but holds none) and lasts while keys
    keep coming that fast. Feed every key with its time stamp and the
    character it stands for in a scan (None for F-keys, arrows, Escape and
    control keys other than the scanner's own).
    """

    def __init__(self, max_gap_s: float | None) -> None:
        """``max_gap_s=None`` (timing off): no key is ever inside a burst."""
        self.max_gap_s = max_gap_s
        self._last: float | None = None
        self._has_character = False
        self._refused = False

    def key(self, at: float, char: str | None) -> InBurst:
        inside = (self.max_gap_s is not None and self._last is not None
                  and at - self._last <= self.max_gap_s and self._has_character)
        self._last = at
        if not inside:
            self._has_character = char is not None
            self._refused = False
            return InBurst.NO
        if self._refused:
            return InBurst.REFUSED
        if char is not None:
            return InBurst.CHARACTER
        self._refused = True
        return InBurst.CONTROL


class WedgeDecoder:
    def __init__(
        self,
        *,
        suffix: str = "\r",
        prefix: str = "",
        max_gap_s: float | None = 0.05,
        min_length: int = 4,
        max_length: int = 128,
        detect_azerty: bool = True,
    ) -> None:
        """``max_gap_s=None`` turns timing off: whatever ends with the suffix is a scan."""
        if not suffix:
            raise ValueError("a keyboard-wedge scanner needs a suffix (Enter is \"\\r\")")
        if min_length < 1 or max_length < min_length:
            raise ValueError("need 1 <= min_length <= max_length")
        self.suffix = suffix
        self.prefix = prefix
        self.max_gap_s = max_gap_s
        self.min_length = min_length
        self.max_length = max_length
        self.detect_azerty = detect_azerty
        self._line_suffix = all(char in LINE_ENDS for char in suffix)
        self._buffer: list[str] = []
        self._last: float | None = None
        self._scan_ended: float | None = None  # when the last scan's suffix arrived
        self._layout: str | None = None  # the mix-up seen before, if any
        self._hint: str | None = None
        self._hint_given = False

    # -- state ----------------------------------------------------------------
    @property
    def pending(self) -> str:
        """Keys held back while they could still be the start of a scan."""
        return "".join(self._buffer)

    @property
    def deadline(self) -> float | None:
        """When to call :meth:`flush` if no key arrives before; None if nothing is held."""
        if not self._buffer or self._last is None or self.max_gap_s is None:
            return None
        return self._last + self.max_gap_s

    @property
    def hint(self) -> str | None:
        """The layout hint, once a mix-up has been seen (stays set)."""
        return self._hint

    def take_hint(self) -> str | None:
        """The layout hint the first time it is asked for after a mix-up; then None."""
        if self._hint is None or self._hint_given:
            return None
        self._hint_given = True
        return self._hint

    def reset(self) -> None:
        self._buffer.clear()
        self._last = None
        self._scan_ended = None

    def refuse(self, key: str) -> list[Decision]:
        """A key that is no character (``key``, e.g. ``"F9"``) arrived inside the burst:
        the keys held so far are a scan that is refused, never typed. Nothing held
        (the scan before it went through already): nothing to refuse."""
        raw = self.pending
        self._buffer.clear()
        if not raw:
            return []
        return [RejectedScan(f"{raw}<{key}>", _("it holds the control key {key}").format(key=key), "keyboard")]

    # -- decoding -------------------------------------------------------------
    def feed(self, char: str, at: float) -> list[Decision]:
        """One key (a single character) typed at time ``at`` (seconds)."""
        if len(char) != 1:
            raise ValueError(f"feed one character at a time, got {char!r}")
        out: list[Decision] = []
        if self._buffer and self._too_slow(self._last, at):
            out.extend(self._release())
        if self._swallow(char, at):
            return out
        self._scan_ended = None
        self._buffer.append(char)
        self._last = at
        if self._ends_with_suffix(char):
            out.extend(self._finish(at))
        elif len(self._buffer) > self.max_length + len(self.prefix) + len(self.suffix):
            out.extend(self._release())
        return out

    def feed_text(self, text: str, at: float) -> list[Decision]:
        """Several characters that arrived together (all at time ``at``)."""
        out: list[Decision] = []
        for char in text:
            out.extend(self.feed(char, at))
        return out

    def flush(self, now: float, *, force: bool = False) -> list[Decision]:
        """Release held keys as typed once ``max_gap_s`` has passed (or at once with ``force``)."""
        if self._buffer and (force or self._too_slow(self._last, now)):
            return self._release()
        return []

    # -- helpers --------------------------------------------------------------
    def _too_slow(self, before: float | None, at: float) -> bool:
        return self.max_gap_s is not None and before is not None and at - before > self.max_gap_s

    def _swallow(self, char: str, at: float) -> bool:
        """The LF of a CR+LF (or the CR of LF+CR) right after a scan is part of that scan."""
        if self._scan_ended is None or char not in LINE_ENDS or not self._line_suffix:
            return False
        if self._too_slow(self._scan_ended, at):
            return False
        self._scan_ended = None  # one extra line end at most
        return True

    def _ends_with_suffix(self, char: str) -> bool:
        if self._line_suffix:
            return char in LINE_ENDS
        return self.pending.endswith(self.suffix)

    def _release(self) -> list[Decision]:
        text = self.pending
        self._buffer.clear()
        return [Typed(text)] if text else []

    def _finish(self, at: float) -> list[Decision]:
        raw = self.pending
        body = raw[:-1] if self._line_suffix else raw[: -len(self.suffix)]
        has_prefix = bool(self.prefix) and body.startswith(self.prefix)
        if has_prefix:
            body = body[len(self.prefix):]
        if not (len(body) >= self.min_length or (has_prefix and body)):
            return self._release()
        self._buffer.clear()
        self._scan_ended = at
        control = next((char for char in body if _is_control(char)), None)
        if control is not None:
            return [RejectedScan(raw, _("it holds the control character {key}").format(key=control_name(control)),
                                 "keyboard")]
        layout = None
        if self.detect_azerty:
            layout, body = undo_layout(body, prefer=self._layout)
            if layout is not None:
                self._layout = layout
                self._hint = _(HINT)
        return [Scan(raw, normalise(body), "keyboard", layout)]


def _is_control(char: str) -> bool:
    return (char < " " or char == "\x7f") and char != GS


def scan_from_line(line: str, *, prefix: str = "", detect_azerty: bool = True) -> Scan:
    """A whole line that is known to be a scan (line mode, no timing)."""
    body = line.rstrip(LINE_ENDS)
    if prefix and body.startswith(prefix):
        body = body[len(prefix):]
    layout = None
    if detect_azerty:
        layout, body = undo_layout(body)
    return Scan(line, normalise(body), "keyboard", layout)
